"""Tests for sandbox.baseline: the unigram and chance on constructed counts."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox import data
from sandbox.baseline import (NSP_CHANCE, baselines, format_baselines,
                              unigram_baseline)


def test_unigram_on_constructed_counts():
    counts = np.array([0, 6, 3, 1])  # p = 0, 0.6, 0.3, 0.1
    mlm_Y = np.array([[1, 2, 0], [3, 1, 0]])
    weights = np.array([[1, 1, 0], [1, 1, 0]])  # the 0 labels are padding
    b = unigram_baseline(counts, mlm_Y, weights)
    expected = -(2 * math.log(0.6) + math.log(0.3) + math.log(0.1)) / 4
    assert b['mlm_l'] == pytest.approx(expected, rel=1e-12)
    assert b['mlm_acc'] == 0.5  # id 1, the most frequent, is 2 of 4 labels


def test_weights_count_each_prediction():
    counts = np.array([1, 3])
    b = unigram_baseline(counts, [[0, 1]], [[3.0, 1.0]])
    assert b['mlm_l'] == pytest.approx(
        -(3 * math.log(0.25) + math.log(0.75)) / 4)
    assert b['mlm_acc'] == pytest.approx(0.25)


@given(st.lists(st.integers(1, 50), min_size=2, max_size=8))
def test_labels_drawn_at_the_frequencies_give_the_entropy(counts):
    # with every id a label as often as its count, the loss is the entropy
    counts = np.array(counts)
    labels = np.repeat(np.arange(len(counts)), counts)
    b = unigram_baseline(counts, labels, np.ones_like(labels))
    p = counts / counts.sum()
    assert b['mlm_l'] == pytest.approx(-(p * np.log(p)).sum(), rel=1e-9)
    assert b['mlm_acc'] == pytest.approx(counts[np.argmax(counts)] /
                                         counts.sum())


def test_nsp_chance_and_the_printed_line():
    b = baselines([1, 1], [[0]], [[1]])
    assert b['nsp_l'] == math.log(2) and b['nsp_acc'] == 0.5
    assert NSP_CHANCE == {'nsp_l': math.log(2), 'nsp_acc': 0.5}
    assert format_baselines(b) == ('unigram baseline: MLM loss 0.693, MLM '
                                   'accuracy 1.000; NSP chance: loss '
                                   '0.693, accuracy 0.500')


@pytest.mark.parametrize('counts, mlm_Y, weights, message', [
    ([0, 0], [[0]], [[1]], 'positive sum'),
    ([1, 2], [[0, 1]], [[1]], 'differ in shape'),
    ([1, 2], [[0]], [[0]], 'no real prediction'),
    ([1, 2], [[5]], [[1]], r'labels must lie in \[0, 1\]'),
])
def test_bad_input_is_named(counts, mlm_Y, weights, message):
    with pytest.raises(ValueError, match=message):
        unigram_baseline(counts, mlm_Y, weights)


def test_counts_are_the_training_words(synthetic_dir):
    enc, vocab = data.load_corpus(synthetic_dir, 'train', verify=False)
    counts = data.unigram_counts(vocab, synthetic_dir, verify=False)
    assert counts.sum() == len(enc.ids)
    for token, freq in vocab.token_freqs[:5]:  # the most frequent words
        if vocab[token] != vocab.unk:
            assert counts[vocab[token]] == freq


def test_wikitext_baseline(wikitext_dir):
    # The figures on d2l-made validation pairs: 0.075 and 6.73
    from sandbox.pretrain import validation_baselines
    _, vocab = data.load_corpus(wikitext_dir, 'train')
    val_iter = data.load_validation(vocab, wikitext_dir)
    b = validation_baselines(data.unigram_counts(vocab, wikitext_dir),
                             val_iter)
    assert b['mlm_l'] == pytest.approx(6.70, abs=0.05)
    assert b['mlm_acc'] == pytest.approx(0.074, abs=0.005)
