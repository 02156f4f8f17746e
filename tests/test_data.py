"""Tests of sentence pairs, MLM masking and the tf.data pipeline."""
import dataclasses
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from sandbox import corpus, data
from sandbox.config import DataConfig
from sandbox.pairs import make_sentence_pairs
from tests import d2l_reference


@pytest.fixture(scope='module')
def wiki(wikitext_dir):
    """WikiText-2 train: encoded corpus, vocab and d2l-config examples."""
    enc, vocab = data.load_corpus(wikitext_dir)
    pairs = make_sentence_pairs(enc, vocab, 64,
                                np.random.default_rng(0))
    return enc, vocab, pairs


def _mask(pairs, vocab, seed=0, **kwargs):
    """Mask `pairs` and return numpy arrays."""
    out = data.mask_tokens(pairs.tokens, pairs.valid_lens,
                           tf.constant([seed, 0]), vocab, **kwargs)
    return [t.numpy() for t in out]


def check_pairs(pairs, enc, vocab, max_len):
    """Assert every invariant of unmasked sentence pairs."""
    cls, sep, pad = vocab['<cls>'], vocab['<sep>'], vocab['<pad>']
    n = len(pairs.tokens)
    assert pairs.tokens.shape == pairs.segments.shape == (n, max_len)
    assert pairs.tokens.dtype == pairs.segments.dtype == np.int32
    assert pairs.valid_lens.dtype == pairs.nsp_y.dtype == np.int32
    assert set(np.unique(pairs.nsp_y)) <= {0, 1}
    sentences = {tuple(enc.ids[s:s + n]) for s, n in
                 zip(enc.sentence_starts, enc.sentence_lens)}
    for tokens, segments, valid_len in zip(pairs.tokens, pairs.segments,
                                           pairs.valid_lens):
        len_a = int(np.argmax(segments == 1)) - 2
        assert 3 <= valid_len <= max_len
        assert tokens[0] == cls
        assert tokens[len_a + 1] == sep and tokens[valid_len - 1] == sep
        assert np.count_nonzero(tokens[:valid_len] == sep) == 2
        assert np.count_nonzero(tokens[:valid_len] == cls) == 1
        assert (tokens[valid_len:] == pad).all()
        assert (tokens[:valid_len] != pad).all()
        expected_segments = np.r_[np.zeros(len_a + 2),
                                  np.ones(valid_len - len_a - 2),
                                  np.zeros(max_len - valid_len)]
        np.testing.assert_array_equal(segments, expected_segments)
        assert tuple(tokens[1:len_a + 1]) in sentences
        assert tuple(tokens[len_a + 2:valid_len - 1]) in sentences


def check_masked(pairs, masked, vocab, mask_rate, num_slots):
    """Assert every invariant of MLM masking against the unmasked pairs."""
    tokens, positions, weights, labels = masked
    n = len(pairs.tokens)
    assert positions.shape == weights.shape == labels.shape == (n, num_slots)
    assert tokens.dtype == positions.dtype == labels.dtype == np.int32
    assert weights.dtype == np.float32
    specials = [vocab[t] for t in data.RESERVED_TOKENS]
    for i in range(n):
        original, valid_len = pairs.tokens[i], pairs.valid_lens[i]
        candidates = np.flatnonzero(
            ~np.isin(original[:valid_len], [vocab['<cls>'], vocab['<sep>']]))
        k = int(weights[i].sum())
        expected_k = min(max(1, round(mask_rate * valid_len))
                         if mask_rate > 0 else 0, len(candidates), num_slots)
        assert k == expected_k
        np.testing.assert_array_equal(weights[i], np.arange(num_slots) < k)
        real = positions[i, :k]
        assert (np.diff(real) > 0).all()
        assert np.isin(real, candidates).all()
        assert (positions[i, k:] == 0).all() and (labels[i, k:] == 0).all()
        np.testing.assert_array_equal(labels[i, :k], original[real])
        # Only predicted positions change, each to <mask>, itself or a word
        unchanged = np.setdiff1d(np.arange(len(original)), real)
        np.testing.assert_array_equal(tokens[i, unchanged],
                                      original[unchanged])
        new = tokens[i, real]
        random_ = (new != vocab['<mask>']) & (new != original[real])
        assert not np.isin(new[random_], specials).any()


@settings(max_examples=25)
@given(max_len=st.integers(12, 48), mask_rate=st.floats(0, 1),
       split=st.tuples(*[st.integers(0, 10)] * 3).filter(any),
       nsp=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_batch_invariants(synthetic, max_len, mask_rate, split, nsp, seed):
    enc, vocab = synthetic
    split = tuple(np.array(split) / sum(split))
    pairs = make_sentence_pairs(
        enc, vocab, max_len, np.random.default_rng(seed), nsp=nsp)
    check_pairs(pairs, enc, vocab, max_len)
    if not nsp:
        assert (pairs.nsp_y == 1).all()
    num_slots = DataConfig(max_len=max_len, mask_rate=mask_rate).num_pred_slots
    masked = _mask(pairs, vocab, seed, mask_rate=mask_rate, mask_split=split,
                   num_slots=num_slots)
    check_masked(pairs, masked, vocab, mask_rate, num_slots)


def test_true_pairs_follow_d2l(synthetic_dir, synthetic):
    # With NSP off, d2l's _get_nsp_data_from_paragraph keeps each adjacent
    # pair that fits, in order
    enc, vocab = synthetic
    max_len = 20
    pairs = make_sentence_pairs(enc, vocab, max_len,
                                np.random.default_rng(0), nsp=False)
    expected = []
    for paragraph in d2l_reference.read_wiki(
            synthetic_dir / 'wiki.train.tokens'):
        for a, b in zip(paragraph, paragraph[1:]):
            if len(a) + len(b) + 3 <= max_len:
                tokens, segments = data.get_tokens_and_segments(a, b)
                pad = max_len - len(tokens)
                expected.append((vocab[tokens + ['<pad>'] * pad],
                                 segments + [0] * pad, len(tokens)))
    tokens, segments, valid_lens = zip(*expected)
    np.testing.assert_array_equal(pairs.tokens, tokens)
    np.testing.assert_array_equal(pairs.segments, segments)
    np.testing.assert_array_equal(pairs.valid_lens, valid_lens)
    assert (pairs.nsp_y == 1).all()


def test_rate_zero_changes_nothing(synthetic):
    enc, vocab = synthetic
    pairs = make_sentence_pairs(enc, vocab, 32, np.random.default_rng(1))
    tokens, positions, weights, labels = _mask(pairs, vocab, mask_rate=0.0,
                                               num_slots=1)
    np.testing.assert_array_equal(tokens, pairs.tokens)
    assert not positions.any() and not weights.any() and not labels.any()


@pytest.mark.parametrize('split', [(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)])
def test_rate_one_predicts_every_word(synthetic, split):
    enc, vocab = synthetic
    max_len = 32
    pairs = make_sentence_pairs(enc, vocab, max_len,
                                np.random.default_rng(2))
    tokens, positions, weights, labels = _mask(
        pairs, vocab, mask_rate=1.0, mask_split=split, num_slots=max_len)
    is_word = ~np.isin(pairs.tokens, [vocab[t] for t in data.RESERVED_TOKENS])
    np.testing.assert_array_equal(weights.sum(1), is_word.sum(1))
    for i in range(len(tokens)):
        k = int(weights[i].sum())
        np.testing.assert_array_equal(positions[i, :k],
                                      np.flatnonzero(is_word[i]))
        np.testing.assert_array_equal(labels[i, :k], pairs.tokens[i][is_word[i]])
    expected = np.where(is_word, vocab['<mask>'], pairs.tokens) \
        if split[0] == 1 else pairs.tokens
    np.testing.assert_array_equal(tokens, expected)


@settings(max_examples=20)
@given(mask_rate=st.floats(0.05, 1), corrupt_rate=st.floats(0, 1),
       seed=st.integers(0, 2**31 - 1))
def test_corruption_apart_from_prediction(synthetic, mask_rate,
                                          corrupt_rate, seed):
    # Wettig et al.'s m_corr and m_pred: all-<mask> corruption makes the
    # corrupted positions visible, so their count and their overlap with
    # the predictions can be checked exactly
    enc, vocab = synthetic
    max_len = 32
    pairs = make_sentence_pairs(enc, vocab, max_len,
                                np.random.default_rng(seed))
    kwargs = dict(mask_rate=mask_rate, mask_split=(1.0, 0.0, 0.0),
                  num_slots=max_len)
    tokens, positions, weights, labels = _mask(
        pairs, vocab, seed, corrupt_rate=corrupt_rate, **kwargs)
    plain = _mask(pairs, vocab, seed, **kwargs)
    # The predictions do not depend on the corruption rate
    for got, want in zip((positions, weights, labels), plain[1:]):
        np.testing.assert_array_equal(got, want)
    is_word = ~np.isin(pairs.tokens, [vocab[t] for t in data.RESERVED_TOKENS])
    num_corrupt = np.minimum(np.round(corrupt_rate * pairs.valid_lens),
                             is_word.sum(1))
    if corrupt_rate > 0:
        num_corrupt = np.maximum(num_corrupt, 1)
    corrupted = tokens == vocab['<mask>']
    np.testing.assert_array_equal(corrupted.sum(1), num_corrupt)
    assert not (corrupted & ~is_word).any()
    np.testing.assert_array_equal(tokens[~corrupted], pairs.tokens[~corrupted])
    for i in range(len(tokens)):
        predicted = np.zeros(max_len, bool)
        predicted[positions[i, :int(weights[i].sum())]] = True
        inner, outer = sorted([corrupted[i], predicted],
                              key=lambda m: m.sum())
        assert not (inner & ~outer).any()  # one set holds the other


def test_corrupt_rate_equal_to_mask_rate_is_bert(synthetic):
    enc, vocab = synthetic
    pairs = make_sentence_pairs(enc, vocab, 32, np.random.default_rng(3))
    for got, want in zip(_mask(pairs, vocab, corrupt_rate=0.15),
                         _mask(pairs, vocab)):
        np.testing.assert_array_equal(got, want)


def test_one_word_vocabulary(synthetic_dir):
    # min_freq above every count leaves <unk> as the only word
    enc, vocab = data.load_corpus(synthetic_dir, min_freq=10**9, verify=False)
    assert vocab.idx_to_token == sorted(['<unk>'] + data.RESERVED_TOKENS)
    assert (enc.ids == vocab.unk).all()
    pairs = make_sentence_pairs(enc, vocab, 32, np.random.default_rng(0))
    tokens, positions, weights, labels = _mask(
        pairs, vocab, mask_rate=1.0, mask_split=(0.0, 1.0, 0.0), num_slots=32)
    np.testing.assert_array_equal(tokens, pairs.tokens)
    assert (labels[weights == 1] == vocab.unk).all()


def test_wikitext_examples_match_d2l(wiki):
    enc, vocab, pairs = wiki
    check_pairs(pairs._replace(**{f: v[:300] for f, v in
                                  pairs._asdict().items()}), enc, vocab, 64)
    # d2l keeps ~43.6k pairs at max_len 64 (43,639 in one run)
    assert 43_000 < len(pairs.tokens) < 44_200
    masked = _mask(pairs, vocab, num_slots=10)
    expected = np.maximum(1, np.round(0.15 * pairs.valid_lens))
    np.testing.assert_array_equal(masked[2].sum(1), expected)


def test_wikitext_proportions(wiki):
    enc, vocab, pairs = wiki
    # NSP labels: a fair coin, thinned a little by the length filter
    assert abs(pairs.nsp_y.mean() - 0.5) < 0.02
    tokens, positions, weights, labels = _mask(pairs, vocab, num_slots=10)
    real = weights == 1
    new = np.take_along_axis(tokens, positions, 1)[real]
    old = labels[real]
    n = real.sum()
    assert n > 250_000
    mask = new == vocab['<mask>']
    same = new == old
    # Binomial standard errors are below 0.001 here: bounds of 0.005
    assert abs(mask.mean() - 0.8) < 0.005
    assert abs(same.mean() - 0.1) < 0.005
    assert abs((~mask & ~same).mean() - 0.1) < 0.005


def _epochs(ds, n=2):
    """Return `n` epochs of a dataset as lists of numpy batches."""
    return [[tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds]
            for _ in range(n)]


def _load(synthetic_dir, **kwargs):
    """load_data_wiki on the synthetic corpus."""
    return data.load_data_wiki(64, 24, synthetic_dir, verify=False, **kwargs)


def _same(a, b):
    """Whether two lists of batches are identical."""
    return len(a) == len(b) and all(
        all(np.array_equal(x, y) for x, y in zip(p, q)) for p, q in zip(a, b))


def test_dataset_yields_named_batches(synthetic_dir):
    ds, vocab = _load(synthetic_dir)
    batch = next(iter(ds))
    assert isinstance(batch, data.BERTBatch)
    tokens, segments, valid_lens, positions, weights, mlm_Y, nsp_y = batch
    assert tokens.shape == (64, 24) and positions.shape == (64, 4)
    assert weights.dtype == tf.float32 and nsp_y.shape == (64,)
    pairs_seen = sum(int(b.tokens.shape[0]) for b in ds)
    assert pairs_seen == sum(1 for _ in ds.unbatch())


def test_static_masks_repeat_dynamic_do_not(synthetic_dir):
    static, _ = _load(synthetic_dir, shuffle=False)
    a, b = _epochs(static)
    assert _same(a, b)
    dynamic, _ = _load(synthetic_dir, shuffle=False, masking='dynamic')
    c, d = _epochs(dynamic)
    assert not _same(c, d)
    # Same pairs, same number of predictions: only the draw differs
    for x, y in zip(c, d):
        np.testing.assert_array_equal(x.valid_lens, y.valid_lens)
        np.testing.assert_array_equal(x.mlm_weights, y.mlm_weights)


@pytest.mark.parametrize('masking', ['static', 'dynamic'])
def test_the_batches_carry_the_mask_split(synthetic_dir, masking):
    # plots/masking's all-<mask> arm stays at the unigram: its batches
    # hold <mask> at every real slot and the original words as labels
    ds, vocab = _load(synthetic_dir, masking=masking, mask_split=(1, 0, 0),
                      seed=2)
    plain, _ = _load(synthetic_dir, masking=masking, seed=2)
    for batch, ref in zip(ds, plain):
        real = batch.mlm_weights.numpy() > 0
        at = np.take_along_axis(batch.tokens.numpy(),
                                batch.pred_positions.numpy(), 1)
        assert (at[real] == vocab['<mask>']).all()
        assert (batch.mlm_Y.numpy()[real] != vocab['<mask>']).all()
        # the same pairs and slots as 80/10/10 draws: only the corruption
        np.testing.assert_array_equal(batch.valid_lens, ref.valid_lens)
        np.testing.assert_array_equal(batch.mlm_weights, ref.mlm_weights)
        # no <mask> outside the prediction slots
        assert (batch.tokens.numpy() == vocab['<mask>']).sum() == real.sum()


# Both maskings; and pairs drawn every epoch (tests/test_pairs.py)
PIPELINES = [dict(masking='static'), dict(masking='dynamic'),
             dict(masking='dynamic', pairing='dynamic')]


@pytest.mark.parametrize('pipeline', PIPELINES)
def test_same_seed_same_batches(synthetic_dir, pipeline):
    first = _epochs(_load(synthetic_dir, **pipeline, seed=5)[0])
    again = _epochs(_load(synthetic_dir, **pipeline, seed=5)[0])
    other = _epochs(_load(synthetic_dir, **pipeline, seed=6)[0])
    assert _same(first[0] + first[1], again[0] + again[1])
    assert not _same(first[0], other[0])
    assert not _same(first[0], first[1])  # reshuffled every epoch


@pytest.mark.parametrize('pipeline', PIPELINES)
def test_data_order_reads_data_seed_alone(synthetic_dir, pipeline):
    # keras.utils.set_random_seed(train.seed) sets TensorFlow's global
    # seed, which tf.data would otherwise mix into shuffles and masks
    batches = []
    for global_seed in (1, 2):
        tf.keras.utils.set_random_seed(global_seed)
        batches.append(_epochs(_load(synthetic_dir, **pipeline,
                                     seed=3)[0]))
    assert _same(batches[0][0] + batches[0][1],
                 batches[1][0] + batches[1][1])


def test_loading_data_leaves_the_global_seed_alone(synthetic_dir):
    from tensorflow.python.eager import context
    tf.random.set_seed(11)
    _load(synthetic_dir, masking='dynamic')
    assert context.global_seed() == 11


def test_validation_set_is_fixed(synthetic_dir):
    # The same pairs and masks whatever the training run's data settings
    _, vocab = _load(synthetic_dir)
    first = _epochs(data.load_validation(vocab, synthetic_dir, False), 1)
    for seed, nsp in ((0, True), (7, False)):
        train_iter, _ = _load(synthetic_dir, seed=seed, nsp=nsp,
                              masking='dynamic')
        next(iter(train_iter))
        tf.keras.utils.set_random_seed(seed)
        again = _epochs(data.load_validation(vocab, synthetic_dir, False),
                        1)
        assert _same(first[0], again[0])
    batch = first[0][0]
    assert batch.tokens.shape[1] == data.VALIDATION.max_len == 64
    # d2l's settings: 15% of each pair predicted, half the B sentences random
    n = np.concatenate([b.mlm_weights.sum(1) for b in first[0]])
    lens = np.concatenate([b.valid_lens for b in first[0]])
    np.testing.assert_array_equal(n, np.maximum(1, np.round(0.15 * lens)))
    assert data.VALIDATION.nsp and data.VALIDATION.nsp_rate == 0.5


def test_validation_split_uses_train_vocab(synthetic_dir):
    _, vocab = _load(synthetic_dir)
    ds, same = _load(synthetic_dir, split='valid', vocab=vocab)
    assert same is vocab and sum(1 for _ in ds.unbatch()) > 0


@pytest.mark.parametrize('field, value, message', [
    ('mask_rate', 1.5, r'mask_rate must be in \[0, 1\]'),
    ('mask_rate', -0.1, r'mask_rate must be in \[0, 1\]'),
    ('nsp_rate', 2.0, r'nsp_rate must be in \[0, 1\]'),
    ('mask_split', (0.5, 0.5, 0.5), 'mask_split must sum to 1'),
    ('mask_split', (1.0, 0.0), 'mask_split must have 3 parts'),
    ('mask_split', (1.5, -0.5, 0.0), r'mask_split must be in \[0, 1\]'),
    ('max_len', 3, r'max_len must be in \[4, inf\]'),
    ('batch_size', 0, r'batch_size must be in \[1, inf\]'),
    ('max_preds', 100, r'max_preds must be in \[1, 64\]'),
    ('masking', 'sometimes', 'masking must be one of'),
    ('seed', -1, r'seed must be in \[0, inf\]'),
    ('mask_rate', float('nan'), 'mask_rate must be finite'),
    ('batch_size', 2.5, 'batch_size must be an integer'),
    ('nsp', 'yes', 'nsp must be a bool'),
    ('corrupt_rate', 1.5, r'corrupt_rate must be in \[0, 1\]'),
])
def test_bad_config_names_field(field, value, message):
    with pytest.raises((ValueError, TypeError), match=message):
        DataConfig(**{field: value})


def test_unknown_field_is_rejected(synthetic_dir):
    with pytest.raises(ValueError, match="unknown DataConfig field.*mask_ratio"):
        _load(synthetic_dir, mask_ratio=0.2)


def test_max_len_too_small_for_corpus(synthetic_dir):
    with pytest.raises(ValueError, match='max_len=6 is too small'):
        data.load_data_wiki(8, 6, synthetic_dir, verify=False)


def test_get_tokens_and_segments():
    assert data.get_tokens_and_segments(['a', 'b'], ['c']) == (
        ['<cls>', 'a', 'b', '<sep>', 'c', '<sep>'], [0, 0, 0, 0, 1, 1])
    assert data.get_tokens_and_segments(['a']) == (
        ['<cls>', 'a', '<sep>'], [0, 0, 0])


def test_config_round_trip():
    config = DataConfig(mask_rate=0.4, mask_split=(1.0, 0.0, 0.0))
    assert DataConfig.from_dict(config.to_dict()) == config
    assert dataclasses.asdict(config)['mask_split'] == (1.0, 0.0, 0.0)


def test_a_split_is_read_once_per_file_and_vocabulary(tmp_path):
    root = corpus.write_synthetic_corpus(tmp_path, num_paragraphs=20, seed=1)
    enc, vocab = data.load_corpus(root, verify=False)
    again, same_vocab = data.load_corpus(root, verify=False)
    assert again is enc and same_vocab is vocab
    # the vocabulary built from the split finds the same read
    assert data.load_corpus(root, vocab=vocab, verify=False)[0] is enc
    with pytest.raises(ValueError, match='read-only'):
        enc.ids[0] = 1
    # a rewritten file is read again
    train = pathlib.Path(root) / corpus.FILES['train']
    train.write_text(train.read_text() + ' a b . c d \n')
    changed, _ = data.load_corpus(root, verify=False)
    assert changed is not enc
    assert len(changed.ids) == len(enc.ids) + 4
