"""Tests for sandbox.loss: values by hand, padding, weighting, gradients."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import loss as L
from sandbox import model as M

V, B, P = 7, 3, 4


def random_case(seed=0, vocab=V):
    """Logits, labels and 0/1 weights with at least one real slot."""
    rng = np.random.default_rng(seed)
    mlm_Y_hat = rng.normal(0, 2, (B, P, vocab)).astype('float32')
    nsp_Y_hat = rng.normal(0, 2, (B, 2)).astype('float32')
    mlm_Y = rng.integers(0, vocab, (B, P)).astype('int32')
    mlm_weights = (rng.random((B, P)) < 0.6).astype('float32')
    mlm_weights[0, 0] = 1
    nsp_y = rng.integers(0, 2, (B,)).astype('int32')
    return mlm_Y_hat, nsp_Y_hat, mlm_Y, mlm_weights, nsp_y


def np_ce(logits, labels):
    """Cross-entropy per row, float64."""
    logits = logits.astype('float64')
    m = logits.max(-1, keepdims=True)
    lse = np.log(np.exp(logits - m).sum(-1)) + m[..., 0]
    return lse - np.take_along_axis(logits, labels[..., None], -1)[..., 0]


def test_uniform_logits_give_log_vocab():
    out = L.bert_loss(tf.zeros((B, P, V)), tf.zeros((B, 2)),
                      tf.zeros((B, P), tf.int32), tf.ones((B, P)),
                      tf.ones((B,), tf.int32))
    assert out.mlm_l.numpy() == pytest.approx(math.log(V), rel=1e-7)
    assert out.nsp_l.numpy() == pytest.approx(math.log(2), rel=1e-7)
    assert out.l.numpy() == pytest.approx(math.log(V) + math.log(2),
                                          rel=1e-7)


def test_values_and_accuracies_by_hand():
    mlm_Y_hat = np.zeros((1, 3, 4), 'float32')
    mlm_Y_hat[0, 0, 2] = 5.  # right
    mlm_Y_hat[0, 1, 1] = 5.  # wrong (label 0)
    mlm_Y_hat[0, 2, 3] = 5.  # padding slot: ignored
    mlm_Y = np.array([[2, 0, 0]], 'int32')
    mlm_weights = np.array([[1., 1., 0.]], 'float32')
    nsp_Y_hat = np.array([[0., 1.], [3., 0.]], 'float32')
    nsp_y = np.array([1, 1], 'int32')
    out = L.bert_loss(mlm_Y_hat, nsp_Y_hat, mlm_Y, mlm_weights, nsp_y)
    lse = math.log(math.exp(5) + 3)
    assert out.mlm_l.numpy() == pytest.approx(((lse - 5) + lse) / 2,
                                              rel=1e-6)
    nsp = [math.log(1 + math.e) - 1, math.log(1 + math.exp(3))]
    assert out.nsp_l.numpy() == pytest.approx(sum(nsp) / 2, rel=1e-6)
    assert out.mlm_acc.numpy() == 0.5 and out.nsp_acc.numpy() == 0.5
    mlm_l, nsp_l, l = out[:3]  # unpacks like d2l's triple
    assert l.numpy() == pytest.approx(mlm_l.numpy() + nsp_l.numpy())


def test_fractional_weights_match_numpy():
    mlm_Y_hat, nsp_Y_hat, mlm_Y, _, nsp_y = random_case(1)
    w = np.random.default_rng(2).random((B, P)).astype('float32')
    out = L.bert_loss(mlm_Y_hat, nsp_Y_hat, mlm_Y, w, nsp_y)
    want = (np_ce(mlm_Y_hat, mlm_Y) * w).sum() / w.sum()
    assert out.mlm_l.numpy() == pytest.approx(want, rel=1e-5)
    assert out.nsp_l.numpy() == pytest.approx(
        np_ce(nsp_Y_hat, nsp_y).mean(), rel=1e-5)
    hits = (mlm_Y_hat.argmax(-1) == mlm_Y)
    assert out.mlm_acc.numpy() == pytest.approx((hits * w).sum() / w.sum(),
                                                rel=1e-6)


def loss_and_grads(mlm_Y_hat, nsp_Y_hat, *rest, **kwargs):
    """bert_loss and the gradients of its total w.r.t. both logits."""
    mlm_Y_hat, nsp_Y_hat = tf.constant(mlm_Y_hat), tf.constant(nsp_Y_hat)
    with tf.GradientTape() as tape:
        tape.watch([mlm_Y_hat, nsp_Y_hat])
        out = L.bert_loss(mlm_Y_hat, nsp_Y_hat, *rest, **kwargs)
    return out, tape.gradient(out.l, [mlm_Y_hat, nsp_Y_hat])


@settings(max_examples=30)
@given(seed=st.integers(0, 2**16),
       junk=st.sampled_from([-3, 0, V - 1, V, 10**6]),
       junk_logit=st.sampled_from([0., 1e30, np.inf, -np.inf, np.nan]))
def test_padding_slots_contribute_exactly_nothing(seed, junk, junk_logit):
    mlm_Y_hat, nsp_Y_hat, mlm_Y, w, nsp_y = random_case(seed)
    pad = w == 0
    out1, g1 = loss_and_grads(mlm_Y_hat, nsp_Y_hat, mlm_Y, w, nsp_y)
    mlm_Y2 = np.where(pad, junk, mlm_Y).astype('int32')
    mlm_Y_hat2 = np.where(pad[..., None], np.float32(junk_logit),
                          mlm_Y_hat).astype('float32')
    out2, g2 = loss_and_grads(mlm_Y_hat2, nsp_Y_hat, mlm_Y2, w, nsp_y)
    for a, b in zip(out1, out2):
        assert a.numpy() == b.numpy()
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a, b)
    assert np.all(g2[0].numpy()[pad] == 0)


def test_all_padding_gives_zero_mlm_loss_not_nan():
    mlm_Y_hat, nsp_Y_hat, mlm_Y, w, nsp_y = random_case()
    out, grads = loss_and_grads(mlm_Y_hat, nsp_Y_hat, mlm_Y,
                                np.zeros_like(w), nsp_y)
    assert out.mlm_l.numpy() == 0 and out.mlm_acc.numpy() == 0
    assert np.isfinite(out.l.numpy()) and out.l.numpy() == out.nsp_l.numpy()
    assert np.all(grads[0].numpy() == 0)


@pytest.mark.parametrize('a,b', [(1., 1.), (2., 0.5), (0., 3.), (0.25, 0.)])
def test_task_weights_combine_linearly(a, b):
    case = random_case(3)
    base = L.bert_loss(*case)
    out = L.bert_loss(*case, mlm_weight=a, nsp_weight=b)
    assert out.mlm_l.numpy() == base.mlm_l.numpy()
    assert out.nsp_l.numpy() == base.nsp_l.numpy()
    assert out.l.numpy() == (a * base.mlm_l + b * base.nsp_l).numpy()


def test_bfloat16_logits_are_computed_in_float32():
    mlm_Y_hat, nsp_Y_hat, *rest = random_case()
    out = L.bert_loss(tf.cast(mlm_Y_hat, tf.bfloat16),
                      tf.cast(nsp_Y_hat, tf.bfloat16), *rest)
    assert all(t.dtype == tf.float32 for t in out)
    ref = L.bert_loss(tf.cast(tf.cast(mlm_Y_hat, tf.bfloat16), tf.float32),
                      tf.cast(tf.cast(nsp_Y_hat, tf.bfloat16), tf.float32),
                      *rest)
    for a, b in zip(out, ref):
        assert a.numpy() == b.numpy()


def make_batch(seed=0, T=8, vocab=20):
    """A d2l-order batch of random int32 inputs and labels."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, (B, T)).astype('int32')
    segments = rng.integers(0, 2, (B, T)).astype('int32')
    valid_lens = np.array([T, 5, 3], 'int32')
    pred_positions = rng.integers(0, 3, (B, P)).astype('int32')
    mlm_weights = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]],
                           'float32')
    mlm_Y = rng.integers(0, vocab, (B, P)).astype('int32')
    nsp_y = rng.integers(0, 2, (B,)).astype('int32')
    return (tokens, segments, valid_lens, pred_positions, mlm_weights,
            mlm_Y, nsp_y)


@pytest.fixture(scope='module')
def net():
    net = M.BERTModel(20, 8, 16, 2, 1, 0.0, max_len=16)
    net.build()
    return net


def model_grads(net, batch, **kwargs):
    """get_batch_loss_bert and gradients w.r.t. all trainable weights."""
    with tf.GradientTape() as tape:
        out = L.get_batch_loss_bert(net, batch, **kwargs)
    grads = tape.gradient(out.l, net.trainable_weights)
    return out, {w.path: None if g is None else tf.convert_to_tensor(g)
                 for w, g in zip(net.trainable_weights, grads)}


def test_get_batch_loss_bert_matches_bert_loss(net):
    batch = make_batch()
    out = L.get_batch_loss_bert(net, batch, training=False)
    _, mlm_Y_hat, nsp_Y_hat = net(*batch[:4])
    mlm_weights, mlm_Y, nsp_y = batch[4:]  # d2l's batch order
    ref = L.bert_loss(mlm_Y_hat, nsp_Y_hat, mlm_Y, mlm_weights, nsp_y)
    for a, b in zip(out, ref):
        assert a.numpy() == b.numpy()


def test_padding_labels_leave_model_gradients_unchanged(net):
    batch = make_batch()
    pad = batch[4] == 0
    junk = list(batch)
    junk[5] = np.where(pad, 999, batch[5]).astype('int32')
    out1, g1 = model_grads(net, batch)
    out2, g2 = model_grads(net, tuple(junk))
    assert out1.l.numpy() == out2.l.numpy()
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k], err_msg=k)


def test_zero_task_weight_gives_zero_head_gradient(net):
    _, g = model_grads(net, make_batch(), nsp_weight=0.)
    nsp = [k for k in g if '/nsp/' in k]
    assert len(nsp) == 2
    assert all(np.all(g[k].numpy() == 0) for k in nsp)
    _, g = model_grads(net, make_batch(), mlm_weight=0.)
    mlm = [k for k in g if '/mlm/' in k]
    assert len(mlm) == 6
    assert all(g[k] is None or np.all(g[k].numpy() == 0) for k in mlm)


@pytest.mark.parametrize('tie_weights', [False, True])
def test_train_step_mirrored_bfloat16_tf_function(tie_weights):
    strategy = tf.distribute.MirroredStrategy(['/cpu:0'])
    with strategy.scope():
        net = M.BERTModel(20, 8, 16, 2, 1, 0.1, max_len=16,
                          tie_weights=tie_weights, dtype='mixed_bfloat16')
        net.build()
        optimizer = keras.optimizers.Adam(0.01)

    @tf.function
    def step(batch):
        def replica_step(batch):
            with tf.GradientTape() as tape:
                out = L.get_batch_loss_bert(net, batch)
            grads = tape.gradient(out.l, net.trainable_variables)
            optimizer.apply_gradients(zip(grads, net.trainable_variables))
            return out
        return strategy.run(replica_step, (batch,))

    batch = tuple(tf.constant(x) for x in make_batch())
    losses = [float(step(batch).l) for _ in range(5)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
