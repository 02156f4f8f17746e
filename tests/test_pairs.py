"""Tests of NSP pairs drawn in TensorFlow, afresh every epoch."""
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from sandbox import data
from sandbox.config import ConfigError, DataConfig
from sandbox.pairs import SentencePairs, make_sentence_pairs, pair_drawer
from tests.test_data import _epochs, _load, check_pairs


def _drawn(draw, seed):
    """draw(seed) as numpy SentencePairs."""
    return SentencePairs(*(t.numpy() for t in draw(tf.constant([seed, 7]))))


def _adjacent(enc):
    """Every (A, B) of the corpus where B follows A in its paragraph."""
    sentences = [tuple(enc.ids[s:s + n]) for s, n in
                 zip(enc.sentence_starts, enc.sentence_lens)]
    last = set(enc.paragraph_starts + enc.paragraph_lens - 1)
    return {(sentences[i], sentences[i + 1])
            for i in range(len(sentences) - 1) if i not in last}


@settings(max_examples=20, deadline=None)
@given(max_len=st.integers(12, 48), nsp_rate=st.floats(0, 1),
       seed=st.integers(0, 2**31 - 1))
def test_drawn_pairs_are_pairs(synthetic, max_len, nsp_rate, seed):
    enc, vocab = synthetic
    pairs = _drawn(pair_drawer(enc, vocab, max_len, nsp_rate), seed)
    check_pairs(pairs, enc, vocab, max_len)
    adjacent = _adjacent(enc)
    for tokens, segments, valid_len, is_next in zip(*pairs):
        len_a = int(np.argmax(segments == 1)) - 2
        pair = (tuple(tokens[1:len_a + 1]),
                tuple(tokens[len_a + 2:valid_len - 1]))
        if is_next:  # a random B may follow A by chance, as in d2l
            assert pair in adjacent


@pytest.mark.parametrize('seed', [0, 5])
def test_drawn_true_pairs_are_d2ls(synthetic, seed):
    # With no random B, the draw is d2l's pairs exactly, in order
    enc, vocab = synthetic
    drawn = _drawn(pair_drawer(enc, vocab, 20, nsp_rate=0.0), seed)
    d2l_pairs = make_sentence_pairs(enc, vocab, 20,
                                    np.random.default_rng(0), nsp=False)
    for got, want in zip(drawn, d2l_pairs):
        np.testing.assert_array_equal(got, want)


def test_drawn_pairs_follow_d2ls_proportions(wikitext_dir):
    # d2l's draw (numpy) and the TensorFlow draw, 3 seeds each: the same
    # distribution of pair counts, labels and lengths, within their noise
    # (binomial sd of the label share about 0.0024, of the count 0.25%)
    enc, vocab = data.load_corpus(wikitext_dir)
    draw = pair_drawer(enc, vocab, 64)
    for seed in range(3):
        ref = make_sentence_pairs(enc, vocab, 64,
                                  np.random.default_rng(seed))
        got = _drawn(draw, seed)
        assert abs(len(got.nsp_y) / len(ref.nsp_y) - 1) < 0.01
        assert abs(got.nsp_y.mean() - ref.nsp_y.mean()) < 0.01
        assert abs(got.valid_lens.mean() - ref.valid_lens.mean()) < 0.3
        ref_b = ref.valid_lens - np.argmax(ref.segments == 1, 1)
        got_b = got.valid_lens - np.argmax(got.segments == 1, 1)
        assert abs(got_b[got.nsp_y == 0].mean()
                   - ref_b[ref.nsp_y == 0].mean()) < 0.3


def _same_pairs(a, b):
    """Whether two epochs hold the same pairs (lengths, labels) in order."""
    return len(a) == len(b) and all(
        np.array_equal(x.valid_lens, y.valid_lens)
        and np.array_equal(x.nsp_y, y.nsp_y) for x, y in zip(a, b))


def test_dynamic_pairing_draws_every_epoch_afresh(synthetic_dir):
    fixed = _epochs(_load(synthetic_dir, shuffle=False,
                          masking='dynamic')[0])
    assert _same_pairs(*fixed)
    ds, _ = _load(synthetic_dir, shuffle=False, masking='dynamic',
                  pairing='dynamic')
    first, second = _epochs(ds)
    assert not _same_pairs(first, second)
    # every full batch holds 64 pairs of 24 tokens, each with predictions
    for batch in first[:-1] + second[:-1]:
        assert batch.tokens.shape == (64, 24)
        assert (batch.mlm_weights.sum(1) >= 1).all()


@pytest.mark.parametrize('pairing', ['static', 'dynamic'])
def test_steps_per_epoch(synthetic_dir, pairing):
    config = DataConfig(batch_size=16, max_len=24, masking='dynamic',
                        pairing=pairing, seed=2)
    ds, _ = data.load_data_wiki(16, 24, synthetic_dir, config=config,
                                verify=False, drop_remainder=True)
    steps = data.steps_per_epoch(config, synthetic_dir, verify=False)
    counted = [len(epoch) for epoch in _epochs(ds, 3)]
    if pairing == 'static':
        assert counted == [steps] * 3 == [int(ds.cardinality())] * 3
    else:  # each epoch's draw keeps a few pairs more or fewer
        assert all(abs(n - steps) <= 2 for n in counted)


def test_dynamic_pairing_needs_dynamic_masking():
    with pytest.raises(ConfigError, match="pairing='dynamic' needs "
                       "masking='dynamic'"):
        DataConfig(pairing='dynamic')
    with pytest.raises(ConfigError, match='pairing must be one of'):
        DataConfig(pairing='sometimes', masking='dynamic')
