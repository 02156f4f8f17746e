"""Tests for sandbox.probe.slots: validation MLM by slot kind."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from sandbox import data
from sandbox.config import ModelConfig
from sandbox.model import bert_from_config
from sandbox.probe.slots import SLOT_KINDS, slot_kinds, validation_by_slot
from sandbox.train import evaluate


def small_net(vocab_size):
    """A seeded, untrained BERT of one block of width 8."""
    keras.utils.set_random_seed(0)
    net = bert_from_config(ModelConfig(num_hiddens=8, ffn_num_hiddens=16,
                                       num_heads=2, num_blks=1, max_len=64),
                           vocab_size)
    net.build()
    return net


def uneven_batches(synthetic_dir):
    """Three validation batches of the synthetic corpus with uneven MLM
    weights, the vocabulary, and validation's own scores of them (the
    fused, unpadded evaluate)."""
    val, vocab = data.load_data_wiki(
        16, 32, synthetic_dir, split='valid', verify=False, shuffle=False,
        min_freq=1, config=data.VALIDATION)
    rng = np.random.default_rng(0)
    batches = [b._replace(mlm_weights=b.mlm_weights * tf.constant(
        rng.uniform(0.5, 2.0, b.mlm_weights.shape), tf.float32))
        for b in val.take(3)]
    net = small_net(len(vocab))
    whole = evaluate(net, tf.data.Dataset.from_tensor_slices(
        tf.nest.map_structure(lambda *t: tf.concat(t, 0), *batches)).batch(
        48))
    return batches, vocab, net, whole


def test_a_slots_kind_is_what_its_input_shows():
    M = 1  # the <mask> id
    tokens = np.array([[2, M, 5, 6, 3, 0]])
    positions = np.array([[1, 2, 3, 0]])
    labels = np.array([[9, 5, 7, 0]])
    # <mask>; the label shown (kept); another word (random); a padding
    # slot reads the token at position 0 against label 0 (weight 0)
    assert SLOT_KINDS[0] == 'mask'
    np.testing.assert_array_equal(
        slot_kinds(tokens, positions, labels, M), [[0, 2, 1, 1]])


def test_the_kinds_partition_validation(synthetic_dir):
    """Weighted over the kinds, the scores are validation's own (the
    fused, unpadded evaluate), with uneven weights too."""
    batches, vocab, net, whole = uneven_batches(synthetic_dir)
    slots = validation_by_slot(net, batches, vocab['<mask>'])
    scored = [s for s in slots.values() if s is not None]
    assert len(scored) >= 2  # <mask> and at least one other kind
    n = sum(s['n'] for s in scored)
    assert n == pytest.approx(sum(float(tf.reduce_sum(b.mlm_weights))
                                  for b in batches))
    assert sum(s['n'] * s['l'] for s in scored) / n == pytest.approx(
        whole['val_mlm_l'], abs=1e-5)
    assert sum(s['n'] * s['acc'] for s in scored) / n == pytest.approx(
        whole['val_mlm_acc'], abs=1e-6)


def test_real_validation_is_80_10_10(wikitext_dir):
    vocab = data.load_data_wiki(128, 64, wikitext_dir)[1]
    val = data.load_validation(vocab, wikitext_dir, batch_size=256)
    slots = validation_by_slot(small_net(len(vocab)), val, vocab['<mask>'])
    n = {kind: s['n'] for kind, s in slots.items()}
    total = sum(n.values())
    assert n['mask'] / total == pytest.approx(0.8, abs=0.01)
    # (a random draw of the slot's own word, about 1 in 20,000, is kept)
    assert n['random'] / total == pytest.approx(0.1, abs=0.01)
    assert n['kept'] / total == pytest.approx(0.1, abs=0.01)
