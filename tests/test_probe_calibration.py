"""Tests for sandbox.probe.calibration: loss by word frequency, by T."""
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.probe.calibration import (calibration, format_calibration,
                                       frequency_ranks, scaled_cross_entropy)
from tests.test_probe_slots import uneven_batches


def test_ranks_put_the_most_frequent_first_and_ties_by_id():
    np.testing.assert_array_equal(frequency_ranks([5, 9, 1, 9]),
                                  [2, 0, 3, 1])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.floats(0.25, 4.0))
def test_scaled_cross_entropy_is_softmax_cross_entropy_of_logits_over_t(
        seed, temperature):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 5, (6, 11))
    labels = rng.integers(0, 11, 6)
    expected = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels, tf.constant(logits / temperature, tf.float64))
    np.testing.assert_allclose(
        scaled_cross_entropy(logits, labels, temperature), expected,
        rtol=1e-12, atol=1e-12)


@pytest.fixture(scope='module')
def scored(synthetic_dir):
    """Batches with uneven weights, a net, the vocabulary's size and
    validation's own scores (test_probe_slots.uneven_batches)."""
    batches, vocab, net, whole = uneven_batches(synthetic_dir)
    return batches, net, len(vocab), whole


def test_bands_partition_validation(scored):
    """Weighted over the bands, the scores are validation's own (the
    fused evaluate); each band holds the weight of its labels."""
    batches, net, V, whole = scored
    counts = np.arange(V)[::-1]  # rank = id
    report = calibration(net, batches, counts, edges=(0, 8, 20))
    assert report['l'] == pytest.approx(whole['val_mlm_l'], abs=1e-5)
    assert report['acc'] == pytest.approx(whole['val_mlm_acc'], abs=1e-6)
    bands = report['bands']
    assert [b['ranks'] for b in bands] == [(0, 8), (8, 20), (20, None)]
    w = np.concatenate([np.ravel(b.mlm_weights) for b in batches])
    y = np.concatenate([np.ravel(b.mlm_Y) for b in batches])
    for band, low, high in zip(bands, (0, 8, 20), (8, 20, V)):
        inside = (w != 0) & (y >= low) & (y < high)
        assert band['share'] == pytest.approx(w[inside].sum() / w.sum())
    assert sum(b['share'] * b['l'] for b in bands) == pytest.approx(
        report['l'], abs=1e-6)
    assert report['temperatures'][1.0] == pytest.approx(report['l'],
                                                        abs=1e-5)
    best = min(report['temperatures'], key=report['temperatures'].get)
    assert report['best_t'] == best


def test_logits_twice_as_large_want_twice_the_temperature(scored):
    batches, net, V, _ = scored
    counts = np.ones(V)
    before = calibration(net, batches, counts, temperatures=(1.0, 2.0))
    decoder = net.mlm.decoder
    kernel, bias = decoder.kernel.numpy(), decoder.bias.numpy()
    decoder.kernel.assign(2 * kernel)
    decoder.bias.assign(2 * bias)
    try:
        after = calibration(net, batches, counts, temperatures=(1.0, 2.0))
    finally:
        decoder.kernel.assign(kernel)
        decoder.bias.assign(bias)
    assert after['temperatures'][2.0] == pytest.approx(
        before['temperatures'][1.0], abs=1e-5)
    assert after['acc'] == before['acc']
    lines = format_calibration(after)
    assert lines[0].startswith(f'validation MLM loss {after["l"]:.3f}')
    assert lines[-1].startswith('post-hoc temperature')
