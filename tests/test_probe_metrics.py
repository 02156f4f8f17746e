"""Tests for sandbox.probe.metrics: each metric with known answers."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sandbox.probe import metrics as P

E = np.eye(4)  # four orthonormal vectors


def brute_force(X, groups=None):
    """Mean cosine over ordered pairs i != j (from different groups)."""
    U = P.unit_rows(X)
    C = U @ U.T
    n = len(X)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j and (
        groups is None or groups[i] != groups[j])]
    return np.mean([C[i, j] for i, j in pairs]) if pairs else np.nan


# ---------------------------------------------------- mean pairwise cosine

def test_identical_vectors_have_similarity_one():
    X = np.tile([[0.3, -1.0, 2.0]], (5, 1))
    assert P.mean_pairwise_cosine(X) == pytest.approx(1)
    assert P.mean_pairwise_cosine(X, [0, 0, 1, 1, 2]) == pytest.approx(1)


def test_orthogonal_vectors_have_similarity_zero():
    assert P.mean_pairwise_cosine(E) == pytest.approx(0, abs=1e-12)
    assert P.mean_pairwise_cosine(3 * E, [0, 1, 0, 1]) == \
        pytest.approx(0, abs=1e-12)


def test_opposite_vectors_have_similarity_minus_one():
    assert P.mean_pairwise_cosine([[1.0, 2.0], [-2.0, -4.0]]) == \
        pytest.approx(-1)


def test_groups_leave_out_pairs_within_a_group():
    # rows 0 and 1 are equal (one group); row 2 is orthogonal to both
    X = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    assert P.mean_pairwise_cosine(X) == pytest.approx(1 / 3)
    assert P.mean_pairwise_cosine(X, ['a', 'a', 'b']) == \
        pytest.approx(0, abs=1e-12)
    assert math.isnan(P.mean_pairwise_cosine(X, [7, 7, 7]))
    assert math.isnan(P.mean_pairwise_cosine([[1.0, 0.0]]))


def test_zero_vectors_count_as_cosine_zero():
    assert P.mean_pairwise_cosine([[0.0, 0.0], [1.0, 0.0]]) == 0.0
    np.testing.assert_array_equal(P.unit_rows([[0.0, 0.0]]), [[0.0, 0.0]])


@pytest.mark.parametrize('size', [2.65e-163, 1e-300, 1e200])
def test_tiny_and_huge_vectors_keep_their_direction(size):
    # their squares underflow or overflow; hypothesis found 2.65e-163
    X = np.full((6, 3), size)
    assert P.mean_pairwise_cosine(X) == pytest.approx(1, abs=1e-12)
    assert P.cosine(X[0], -X[1]) == pytest.approx(-1, abs=1e-12)
    np.testing.assert_allclose(P.unit_rows(X), np.full((6, 3), 3 ** -0.5))


@settings(max_examples=60)
@given(hnp.arrays(np.float64, st.tuples(st.integers(2, 9), st.integers(1, 5)),
                  elements=st.floats(-10, 10, allow_subnormal=False)),
       st.data())
def test_mean_pairwise_cosine_matches_brute_force(X, draw):
    groups = draw.draw(st.none() | st.lists(
        st.integers(0, 3), min_size=len(X), max_size=len(X)))
    expected = brute_force(X, groups)
    got = P.mean_pairwise_cosine(X, groups)
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected, abs=1e-9)
        assert -1 - 1e-9 <= got <= 1 + 1e-9


@settings(max_examples=40)
@given(hnp.arrays(np.float64, (6, 3), elements=st.floats(-5, 5)),
       hnp.arrays(np.float64, (6, 1), elements=st.floats(0.01, 100)))
def test_similarities_ignore_each_vector_s_length(X, scale):
    words, sentences = [1, 1, 2, 2, 1, 2], [0, 1, 0, 1, 2, 2]
    for f in (P.mean_pairwise_cosine,
              lambda X: P.anisotropy(X, sentences),
              lambda X: P.self_similarity(X, words, sentences, 2)):
        assert f(X * scale) == pytest.approx(f(X), abs=1e-9)


# ------------------------------------------------ Ethayarajh's measures

def test_self_similarity_averages_over_words():
    # word 5: the same vector in three sentences (1); word 6: orthogonal
    # vectors in three sentences (0); word 7: only two sentences, left out
    X = np.array([[1, 0, 0, 0]] * 3 + list(E[:3]) + [[0, 0, 0, 1]] * 2,
                 np.float64)
    words = [5, 5, 5, 6, 6, 6, 7, 7]
    sentences = [0, 1, 2, 0, 1, 2, 0, 1]
    assert P.self_similarity(X, words, sentences, 3) == pytest.approx(0.5)
    assert P.self_similarity(X, words, sentences, 2) == \
        pytest.approx((1 + 0 + 1) / 3)
    assert math.isnan(P.self_similarity(X, words, sentences, 4))


def test_self_similarity_takes_one_occurrence_a_sentence():
    # word 5 twice in sentence 0 (first: e0, then e1), once in sentence 1
    X = np.array([E[0], E[1], E[0]])
    assert P.self_similarity(X, [5, 5, 5], [0, 0, 1], 2) == pytest.approx(1)
    np.testing.assert_array_equal(P.first_occurrences([5, 5, 5], [0, 0, 1]),
                                  [0, 2])


def test_intra_sentence_similarity():
    # one sentence of e0, e1: each has cosine 1/sqrt(2) with their mean;
    # another of two equal vectors: 1; a one-word sentence is left out
    X = np.array([E[0], E[1], E[2], 2 * E[2], E[3]])
    sentences = [0, 0, 1, 1, 2]
    assert P.intra_sentence_similarity(X, sentences) == \
        pytest.approx((1 / math.sqrt(2) + 1) / 2)
    assert math.isnan(P.intra_sentence_similarity(E[:1], [0]))


def test_anisotropy_uses_pairs_from_different_sentences():
    X = np.array([E[0], E[0], E[1], E[1]])
    assert P.anisotropy(X, [0, 1, 0, 1]) == pytest.approx(1 / 2)
    assert P.anisotropy(X, [0, 0, 1, 1]) == pytest.approx(0, abs=1e-12)
    assert P.token_similarity(X, [3, 3, 4, 4]) == pytest.approx(0, abs=1e-12)


def test_max_explainable_variance():
    assert P.explained_variance_ratio([[1.0, 2.0], [-3.0, -6.0]]) == \
        pytest.approx(1)
    assert P.explained_variance_ratio(E[:3]) == pytest.approx(1 / 3)
    # squares of 1e-170 underflow: the share is taken on rescaled rows
    assert P.explained_variance_ratio(1e-170 * E[:3]) == pytest.approx(1 / 3)
    X = np.array([E[0], 2 * E[0], E[0], E[1], E[2]])
    words, sentences = [1, 1, 1, 2, 2], [0, 1, 2, 0, 1]
    assert P.max_explainable_variance(X, words, sentences, 2) == \
        pytest.approx((1 + 0.5) / 2)


def test_layer_metrics_adjust_by_anisotropy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    words = rng.integers(0, 5, 40)
    sentences = np.arange(40) // 5
    m = P.layer_metrics(X, words, sentences, 2)
    assert set(m) == set(P.LAYER_METRICS)
    assert m['self_sim_adj'] == pytest.approx(m['self_sim'] - m['anisotropy'])
    assert m['intra_sim_adj'] == \
        pytest.approx(m['intra_sim'] - m['anisotropy'])


# ------------------------------------------------- collapse and accuracy

def test_check_collapse_reads_the_predictions():
    with pytest.warns(P.CollapseWarning, match='0.050 nats'):
        assert P.check_collapse(0.05, 0.1)      # one distribution for all
    with pytest.warns(P.CollapseWarning, match='80%'):
        assert P.check_collapse(2.0, 0.8)       # one word nearly always
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert not P.check_collapse(2.0, 0.1)   # contextual predictions
        assert not P.check_collapse(0.3, 0.2, min_mi=0.25, max_share=0.3)


def spread(probs, counts):
    """prediction_spread of the rows of `probs`."""
    probs = np.asarray(probs, np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        plogp = np.where(probs > 0, probs * np.log(probs), 0.0).sum()
    return P.prediction_spread(probs.sum(0), plogp, len(probs), counts)


def test_prediction_spread_on_known_distributions():
    counts = np.array([0, 3, 1, 4])
    u = (counts + 1) / (counts + 1).sum()
    same = spread(np.tile(u, (5, 1)), counts)  # the unigram everywhere
    assert same['pred_mi'] == pytest.approx(0, abs=1e-12)
    assert same['pred_kl'] == pytest.approx(0, abs=1e-12)
    # one-hot on two words, half the time each: log 2 nats of context
    two = spread(np.eye(4)[[1, 3, 1, 3]], counts)
    assert two['pred_mi'] == pytest.approx(math.log(2))
    assert two['pred_kl'] == pytest.approx(
        0.5 * math.log(0.5 / u[1]) + 0.5 * math.log(0.5 / u[3]))


def test_centred_similarity_removes_a_shared_offset():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 16))
    shifted = X + 50.0  # one rogue direction dominates the raw cosine
    words = np.arange(200)
    assert P.token_similarity(shifted, words) > 0.99
    assert P.centred_token_similarity(shifted, words) == pytest.approx(
        P.centred_token_similarity(X, words))
    assert abs(P.centred_token_similarity(shifted, words)) < 0.05


def test_effective_rank():
    # four orthogonal vectors: centred, they span 3 equal directions
    assert P.effective_rank(np.repeat(np.eye(4), 10, 0)) == \
        pytest.approx(3, rel=1e-9)
    line = np.outer(np.arange(10.0), [1.0, 2.0, 3.0])
    assert P.effective_rank(line) == pytest.approx(1)


def test_topk_accuracy():
    logits = np.array([[0.1, 0.5, 0.2],   # label 2 ranks 2nd
                       [3.0, 2.0, 1.0],   # label 2 ranks 3rd
                       [0.0, 9.0, 0.0]])  # label 1 ranks 1st
    labels = [2, 2, 1]
    assert P.topk_accuracy(logits, labels, ks=(1, 2, 3)) == \
        {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3), 3: 1.0}
    # weight 0 leaves the 3rd out
    assert P.topk_accuracy(logits, labels, [1, 1, 0], ks=(1, 2)) == \
        {1: 0.0, 2: 0.5}
    # (batch, slots, V) logits work too
    assert P.topk_accuracy(logits[None], [labels], ks=(1,))[1] == \
        pytest.approx(1 / 3)


@settings(max_examples=40)
@given(hnp.arrays(np.float64, (5, 7), elements=st.floats(-3, 3)),
       st.lists(st.integers(0, 6), min_size=5, max_size=5))
def test_topk_accuracy_grows_with_k_to_one(logits, labels):
    acc = P.topk_accuracy(logits, labels, ks=range(1, 8))
    values = [acc[k] for k in range(1, 8)]
    assert values == sorted(values) and values[-1] == 1.0
