"""The optimised train step computes what the unoptimised one does.

The train step uses the fused MLM loss (logits at real slots only,
loss.linear_cross_entropy), a cheaper Dropout and densified embedding
gradients; here it is run side by side with train.make_reference_step
(get_batch_loss_bert(fused=False): d2l-style loss on all (B, P, V)
logits) from the same weights. No timing here: speed is
benchmarks/train_step.py's business, which times the same two steps.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from sandbox import loss as L
from sandbox import layers, model as M
from sandbox.config import TrainConfig
from sandbox.data import BERTBatch
from sandbox.optim import make_optimizer
from sandbox.train import (make_eval_step, make_reference_step,
                           make_train_step)

V, H, FFN, HEADS, BLKS, MAX_LEN = 50, 8, 16, 2, 2, 16
B, T, P = 6, 12, 4


def make_batch(seed):
    """A BERTBatch with padding tokens and padding MLM slots."""
    rng = np.random.default_rng(seed)
    valid_lens = rng.integers(4, T + 1, B)
    num_preds = rng.integers(0, P + 1, B)
    num_preds[0] = P  # at least one real slot
    weights = (np.arange(P)[None] < num_preds[:, None]).astype('float32')
    positions = rng.integers(1, 4, (B, P)) * weights
    labels = rng.integers(0, V, (B, P)) * weights
    return BERTBatch(
        tf.constant(rng.integers(0, V, (B, T)), tf.int32),
        tf.constant(np.arange(T)[None] > valid_lens[:, None] // 2, tf.int32),
        tf.constant(valid_lens, tf.int32),
        tf.constant(positions, tf.int32), tf.constant(weights),
        tf.constant(labels, tf.int32),
        tf.constant(rng.integers(0, 2, B), tf.int32))


def make_net(dropout=0.0, dtype='float32', **kwargs):
    """A tiny built BERTModel; equal seeds give equal weights and masks."""
    keras.utils.set_random_seed(0)
    net = M.BERTModel(V, H, FFN, HEADS, BLKS, dropout, max_len=MAX_LEN,
                      dtype=dtype, **kwargs)
    net.build()
    return net


def run_both(config, steps=4, **net_kwargs):
    """Per-step metrics of the reference and the optimised step, on
    batches 0, 1, 0, 1, ..."""
    out = []
    for optimised in (False, True):
        net = make_net(dtype=config.dtype_policy, **net_kwargs)
        optimizer = make_optimizer(config)
        optimizer.build(net.trainable_variables)
        step = (make_train_step(net, optimizer, config,
                                tf.distribute.get_strategy())
                if optimised else make_reference_step(net, optimizer))
        out.append([{k: float(v) for k, v in
                     step(make_batch(i % 2)).items()} for i in range(steps)])
    return out


@pytest.mark.parametrize('net_kwargs', [
    {},  # d2l's variant
    {'dropout': 0.2},  # same Dropout layers, same seeds: same masks
    {'norm_first': True, 'activation': 'gelu', 'tie_weights': True},
    {'tie_weights': True, 'learn_logit_scale': True}])
def test_optimised_float32_step_gives_the_same_losses(net_kwargs):
    ref, fast = run_both(TrainConfig(), **net_kwargs)
    for i, (a, b) in enumerate(zip(ref, fast)):
        for k in a:  # the reference reports the losses, not grad_norm
            assert b[k] == pytest.approx(a[k], abs=1e-5), (i, k)
    assert ref[2]['l'] < ref[0]['l']  # it trains (on batch 0)


def test_xla_step_gives_the_same_losses():
    ref, fast = run_both(TrainConfig(jit_compile=True), steps=3)
    for a, b in zip(ref, fast):
        for k in a:  # the reference reports the losses, not grad_norm
            assert b[k] == pytest.approx(a[k], abs=1e-5), k


def test_mixed_bfloat16_step_is_close():
    config = TrainConfig(dtype_policy='mixed_bfloat16')
    ref, fast = run_both(config, steps=3)
    for a, b in zip(ref, fast):
        assert b['l'] == pytest.approx(a['l'], rel=2e-2)


def test_eval_step_matches_unfused_loss():
    net, batch = make_net(), make_batch(7)
    sums = make_eval_step(net, tf.distribute.get_strategy())(batch)
    ref = L.get_batch_loss_bert(net, batch, training=False)
    w, n = float(sums['w']), float(sums['n'])
    assert float(sums['mlm_l']) / w == pytest.approx(float(ref.mlm_l),
                                                     abs=1e-5)
    assert float(sums['nsp_l']) / n == pytest.approx(float(ref.nsp_l),
                                                     abs=1e-6)


def test_adam_sees_embedding_gradients_summed():
    net, batch = make_net(), make_batch(5)
    config = TrainConfig()
    optimizer = make_optimizer(config)
    optimizer.build(net.trainable_variables)
    with tf.GradientTape() as tape:
        loss = L.get_batch_loss_bert(net, batch, fused=True)
    emb = net.encoder.token_embedding.embeddings
    g = tf.convert_to_tensor(tape.gradient(loss.l, emb))  # rows summed
    make_train_step(net, optimizer, config,
                    tf.distribute.get_strategy())(batch)
    v = optimizer._velocities[optimizer._get_variable_index(emb)]
    np.testing.assert_allclose(v, 0.001 * g.numpy() ** 2, rtol=1e-4,
                               atol=1e-12)


# ------------------------------------------------ the fused loss itself

def xent_and_grads(fn, Y, kernel, bias, labels, dtype=tf.float32):
    """Cross-entropies, hits and gradients w.r.t. Y (as `dtype`), kernel,
    bias."""
    Y, kernel, bias = (tf.constant(x) for x in (Y, kernel, bias))
    Y = tf.cast(Y, dtype)
    with tf.GradientTape() as tape:
        tape.watch([Y, kernel, bias])
        ce, hits = fn(Y, kernel, bias, labels)
        total = tf.reduce_sum(ce * tf.range(1., len(labels) + 1))
    return ce, hits, tape.gradient(total, [Y, kernel, bias])


def assert_fused_matches_unfused(Y, kernel, bias, labels):
    """linear_cross_entropy's values and gradients are the unfused ones;
    returns its cross-entropies."""
    ce1, hits1, g1 = xent_and_grads(unfused, Y, kernel, bias, labels)
    ce2, hits2, g2 = xent_and_grads(L.linear_cross_entropy, Y, kernel,
                                    bias, labels)
    np.testing.assert_allclose(ce2, ce1, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(hits2, hits1)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
    return ce2


def unfused(Y, kernel, bias, labels):
    logits = Y @ kernel + bias
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    hits = tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == labels,
                   tf.float32)
    return ce, hits


@pytest.mark.parametrize('scale', [0.1, 3.0, 100.0])
def test_linear_cross_entropy_matches_unfused(scale):
    rng = np.random.default_rng(0)
    N, Hd, Vocab = 9, 6, 40
    Y = rng.normal(0, 1, (N, Hd)).astype('float32')
    kernel = rng.normal(0, scale, (Hd, Vocab)).astype('float32')
    bias = rng.normal(0, 1, (Vocab,)).astype('float32')
    labels = tf.constant(rng.integers(0, Vocab, N), tf.int32)
    ce = assert_fused_matches_unfused(Y, kernel, bias, labels)
    assert np.all(np.isfinite(ce))  # even when softmax(label) underflows


@settings(max_examples=25)
@given(st.integers(0, 2**31 - 1), st.floats(0.01, 60.0))
def test_unshifted_and_shifted_softmax_agree(seed, scale):
    # The fast path (no max subtracted) where every top logit is within
    # ±SHIFT_FREE, the shifted one forced: the same values and gradients
    rng = np.random.default_rng(seed)
    Y = rng.normal(0, 1, (7, 5)).astype('float32')
    kernel = rng.normal(0, scale / 5 ** 0.5, (5, 50)).astype('float32')
    bias = rng.normal(0, 1, (50,)).astype('float32')
    labels = tf.constant(rng.integers(0, 50, 7), tf.int32)
    fast = xent_and_grads(L.linear_cross_entropy, Y, kernel, bias, labels)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(L, 'SHIFT_FREE', 0.0)
        shifted = xent_and_grads(L.linear_cross_entropy, Y, kernel, bias,
                                 labels)
    # float32 rounding: exp(x) of a logit x near 30 is good to ~30 ulp
    for a, b in zip(tf.nest.flatten(fast), tf.nest.flatten(shifted)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@settings(max_examples=25)
@given(st.integers(0, 2**31 - 1), st.integers(1, 12), st.integers(1, 5))
def test_linear_cross_entropy_with_repeated_labels(seed, N, num_labels):
    # Few distinct labels: the one-hot part of the kernel and bias
    # gradients sums several rows into one vocabulary column
    rng = np.random.default_rng(seed)
    Y = rng.normal(0, 1, (N, 4)).astype('float32')
    kernel = rng.normal(0, 2, (4, 7)).astype('float32')
    bias = rng.normal(0, 1, (7,)).astype('float32')
    labels = tf.constant(rng.integers(0, num_labels, N), tf.int32)
    assert_fused_matches_unfused(Y, kernel, bias, labels)


def test_linear_cross_entropy_in_bfloat16_is_close():
    # bfloat16 features: the matmuls round to 8 bits, the one-hot part and
    # the exponentials stay float32, so errors stay at bfloat16's 2^-8 per
    # term; over seeds 0-29 the gradients' largest error is 0.6% of their
    # scale at the median and 2.0% at most (seed 1's kernel gradient)
    rng = np.random.default_rng(1)
    Y = rng.normal(0, 1, (16, 8)).astype('float32')
    kernel = rng.normal(0, 1, (8, 30)).astype('float32')
    bias = rng.normal(0, 1, (30,)).astype('float32')
    labels = tf.constant(rng.integers(0, 30, 16), tf.int32)
    ce1, _, g1 = xent_and_grads(unfused, Y, kernel, bias, labels)
    ce2, _, g2 = xent_and_grads(L.linear_cross_entropy, Y, kernel, bias,
                                labels, dtype=tf.bfloat16)
    assert ce2.dtype == tf.float32 and g2[0].dtype == tf.bfloat16
    np.testing.assert_allclose(ce2, ce1, rtol=0.03, atol=0.05)
    for a, b in zip(g1, g2):
        scale = np.abs(a.numpy()).max()
        np.testing.assert_allclose(tf.cast(b, tf.float32), a,
                                   atol=0.03 * scale)


def test_fused_loss_ignores_padding_slots():
    net = make_net()
    batch = make_batch(3)
    pad = batch.mlm_weights.numpy() == 0
    junk = batch._replace(
        mlm_Y=tf.constant(np.where(pad, V + 7, batch.mlm_Y), tf.int32),
        pred_positions=tf.constant(np.where(pad, T - 1,
                                            batch.pred_positions), tf.int32))
    for static_shapes in (False, True):
        a = L.get_batch_loss_bert(net, batch, fused=True,
                                  static_shapes=static_shapes)
        b = L.get_batch_loss_bert(net, junk, fused=True,
                                  static_shapes=static_shapes)
        ref = L.get_batch_loss_bert(net, batch)
        for x, y, r in zip(a, b, ref):
            assert float(x) == pytest.approx(float(y), abs=1e-6)
            assert float(x) == pytest.approx(float(r), abs=1e-5)


# ------------------------------------------------------------- Dropout

@pytest.mark.parametrize('dtype', ['float32', 'bfloat16'])
@pytest.mark.parametrize('rate', [0.1, 0.5])
def test_dropout_keeps_1_minus_rate_and_rescales(dtype, rate):
    layer = layers.Dropout(rate, seed=1, dtype=dtype)
    x = tf.ones((400, 500), dtype)
    y = layer(x, training=True).numpy().astype('float32')
    assert set(np.unique(y)) == {0.0, np.float32(tf.cast(1 / (1 - rate),
                                                          dtype))}
    assert np.mean(y != 0) == pytest.approx(1 - rate, abs=0.005)
    np.testing.assert_array_equal(layer(x, training=False), x)
    assert not np.array_equal(y, layer(x, training=True))  # new draw


def test_dropout_seeds_reproduce():
    x = tf.ones((30, 40))
    a = layers.Dropout(0.3, seed=5)(x, training=True)
    b = layers.Dropout(0.3, seed=5)(x, training=True)
    np.testing.assert_array_equal(a, b)
    assert layers.Dropout(0.3, seed=5).get_config()['rate'] == 0.3


@pytest.mark.parametrize('net_kwargs', [
    {'dropout': 0.2},  # the padded form's dropout masks, unpadded
    {'norm_first': True, 'activation': 'gelu', 'tie_weights': True}])
@pytest.mark.parametrize('length_groups', [1, 3, 8])
def test_unpadded_step_gives_the_padded_steps_losses(net_kwargs,
                                                     length_groups):
    # 3 groups of 2 rows; 8 groups of 6 rows leave 2 groups empty
    padded, unpadded = (
        run_both(TrainConfig(unpad=unpad, length_groups=length_groups),
                 **net_kwargs)[1] for unpad in (False, True))
    for i, (a, b) in enumerate(zip(padded, unpadded)):
        for k in a:
            assert b[k] == pytest.approx(a[k], abs=1e-5), (i, k)


@pytest.mark.parametrize('length_groups', [1, 2])
def test_unpadded_encoder_is_the_padded_one_at_valid_tokens(length_groups):
    net, batch = make_net(norm_first=True), make_batch(3)
    X = net.encoder(batch.tokens, batch.segments, batch.valid_lens)
    Z = net.encoder(batch.tokens, batch.segments, batch.valid_lens,
                    unpad=True, length_groups=length_groups)
    valid = np.arange(T)[None] < batch.valid_lens.numpy()[:, None]  # (B, T)
    np.testing.assert_allclose(Z.numpy()[valid], X.numpy()[valid], atol=1e-6)
    assert not Z.numpy()[~valid].any()  # zeros at the padding
    assert (~valid).any()


@pytest.mark.parametrize('shape', [(3, 5, 8), (7, 8)])
def test_layer_norm_equals_keras_in_values_and_gradients(shape):
    x = tf.constant(np.random.default_rng(0).normal(2, 3, shape), tf.float32)
    dy = tf.constant(np.random.default_rng(1).normal(size=shape), tf.float32)
    ours = layers.layer_norm('float32', 'ln')
    theirs = keras.layers.LayerNormalization(epsilon=1e-5)
    for ln in (ours, theirs):
        ln.build(shape)
        ln.gamma.assign(np.linspace(0.5, 2, shape[-1]))
        ln.beta.assign(np.linspace(-1, 1, shape[-1]))
    results = []
    for ln in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = ln(x)
            total = tf.reduce_sum(y * dy)
        results.append([y, *tape.gradient(total, [x, ln.gamma, ln.beta])])
    for a, b in zip(*results):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-5)


@settings(max_examples=30)
@given(st.lists(st.floats(-12, 12, width=32), min_size=1, max_size=40),
       st.sampled_from(['float32', 'bfloat16']))
def test_gelu_equals_keras_exact_gelu_in_values_and_gradients(xs, dtype):
    x = tf.constant(xs, dtype)
    results = []
    for gelu in (layers.gelu,
                 lambda v: keras.activations.gelu(v, approximate=False)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = gelu(x)
        results.append([y, tape.gradient(y, x)])
    assert results[0][0].dtype == x.dtype
    tol = {'float32': 2e-6, 'bfloat16': 2e-2}[dtype]
    for a, b in zip(*results):
        np.testing.assert_allclose(tf.cast(a, tf.float32).numpy(),
                                   tf.cast(b, tf.float32).numpy(),
                                   atol=tol, rtol=tol)


def test_gelu_gradient_at_known_points():
    # GELU'(0) = 1/2; GELU'(x) -> 1 for large x and -> 0 for very negative x
    z = tf.constant([0.0, 12.0, -12.0])
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = layers.gelu(z)
    np.testing.assert_allclose(tape.gradient(y, z).numpy(), [0.5, 1.0, 0.0],
                               atol=1e-6)
    np.testing.assert_allclose(y.numpy(), [0.0, 12.0, 0.0], atol=1e-6)
