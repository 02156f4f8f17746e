"""Tests of get_bert_encoding and the probing helpers."""
import numpy as np
import pytest

from sandbox import data, probe
from sandbox.config import MODEL_PRESETS, TrainConfig
from sandbox.pretrain import build_model


@pytest.fixture(scope='module')
def model(synthetic_dir):
    """An untrained tiny model with dropout on, and its vocabulary."""
    _, vocab = data.load_corpus(synthetic_dir, verify=False)
    config = MODEL_PRESETS['tiny'].replace(dropout=0.5,
                                           attention_dropout=0.5)
    return build_model(config, len(vocab), TrainConfig()), vocab


def test_encoding_shape_and_determinism(model):
    net, vocab = model
    a = probe.get_bert_encoding(net, vocab, ['w1', 'w2'], ['w3'])
    assert a.shape == (1, 6, 8)
    b = probe.get_bert_encoding(net, vocab, ['w1', 'w2'], ['w3'])
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_batched_encodings_match_single(model):
    net, vocab = model
    pairs = [(['w1'], None), (['w2', 'w3', 'w4'], ['w5'])]
    X, valid_lens = probe.get_bert_encodings(net, vocab, pairs)
    assert X.shape == (2, 7, 8) and valid_lens.numpy().tolist() == [3, 7]
    for i, (a, b) in enumerate(pairs):
        single = probe.get_bert_encoding(net, vocab, a, b)[0]
        n = single.shape[0]
        np.testing.assert_allclose(X[i, :n], single, atol=1e-5)


def test_per_layer_states_and_attention(model):
    net, vocab = model
    _, _, states, weights = probe.get_bert_encodings(
        net, vocab, [(['w1', 'w2'], None)], return_all=True)
    assert len(states) == 2 and len(weights) == 1
    assert weights[0].shape == (1, 2, 4, 4)
    np.testing.assert_allclose(np.sum(weights[0], -1), 1.0, atol=1e-5)


def test_unknown_words_warn(model):
    net, vocab = model
    with pytest.warns(UserWarning, match=r"read as <unk>: \['a', 'came', "
                      "'crane', 'driver', 'flying', 'he', 'is', 'just', "
                      "'left'\]"):
        probe.crane_probe(net, vocab)


def test_cosine_exact():
    assert probe.cosine([1, 2], [2, 4]) == pytest.approx(1.0)
    assert probe.cosine([1, 0], [0, 3]) == 0.0
    assert probe.cosine([1, 0], [-1, 0]) == -1.0
    assert probe.cosine([0, 0], [1, 0]) == 0.0


def test_fill_mask(model):
    net, vocab = model
    top = probe.fill_mask(net, vocab, ['w1', '<mask>', 'w2', '<mask>'], k=4)
    assert len(top) == 2 and all(len(row) == 4 for row in top)
    for row in top:
        probs = [p for _, p in row]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1
    with pytest.raises(ValueError, match='no <mask>'):
        probe.fill_mask(net, vocab, ['w1'])


def test_word_must_be_in_context(model):
    net, vocab = model
    with pytest.raises(ValueError, match="word 'w9' is not in context 0"):
        probe.word_in_contexts(net, vocab, 'w9', [(['w1'], None)])
