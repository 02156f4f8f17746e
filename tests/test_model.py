"""Tests for sandbox.model: shapes, masking, variants, saving, d2l parity."""
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import model as M
from sandbox.config import ModelConfig

V, H, FFN, HEADS, BLKS, MAX_LEN = 20, 8, 16, 2, 2, 16
B, T, P = 3, 10, 4
ROOT = pathlib.Path(__file__).resolve().parents[1]


def make_net(dropout=0.0, **kwargs):
    """A tiny BERTModel, built."""
    net = M.BERTModel(V, H, FFN, HEADS, BLKS, dropout, max_len=MAX_LEN,
                      **kwargs)
    net.build()
    return net


def make_inputs(seed=0, batch=B, steps=T):
    """Random int32 tokens, segments, valid_lens, pred_positions."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, V, (batch, steps)).astype('int32')
    segments = rng.integers(0, 2, (batch, steps)).astype('int32')
    valid_lens = rng.integers(1, steps + 1, (batch,)).astype('int32')
    pred_positions = rng.integers(0, steps, (batch, P)).astype('int32')
    return tokens, segments, valid_lens, pred_positions


@pytest.fixture(scope='module')
def net():
    return make_net()


@pytest.fixture(scope='module')
def variant_net():
    return make_net(norm_first=True, activation='gelu', tie_weights=True)


@pytest.fixture(scope='module')
def learned_scale_net():
    net = make_net(tie_weights=True, learn_logit_scale=True)
    net.mlm.log_logit_scale.assign(0.5)  # not its initial value
    return net


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize('which', ['net', 'variant_net'])
def test_output_shapes_and_dtypes(which, request):
    net = request.getfixturevalue(which)
    X, mlm_Y_hat, nsp_Y_hat = net(*make_inputs())
    assert X.shape == (B, T, H) and X.dtype == tf.float32
    assert mlm_Y_hat.shape == (B, P, V) and mlm_Y_hat.dtype == tf.float32
    assert nsp_Y_hat.shape == (B, 2) and nsp_Y_hat.dtype == tf.float32
    _, mlm_Y_hat, nsp_Y_hat = net(*make_inputs()[:3])
    assert mlm_Y_hat is None and nsp_Y_hat.shape == (B, 2)


def test_return_all_gives_hidden_states_and_attention(net):
    tokens, segments, valid_lens, _ = make_inputs()
    X, states, weights = net.encoder(tokens, segments, valid_lens,
                                     return_all=True)
    assert len(states) == BLKS + 1 and len(weights) == BLKS
    assert all(s.shape == (B, T, H) for s in states)
    np.testing.assert_array_equal(states[-1], X)  # post-LN: no final LN
    for w in weights:
        assert w.shape == (B, HEADS, T, T) and w.dtype == tf.float32
        np.testing.assert_allclose(tf.reduce_sum(w, -1), 1, rtol=1e-6)
        beyond = np.arange(T)[None, :] >= valid_lens[:, None]  # (B, T)
        assert np.all(w.numpy()[np.broadcast_to(
            beyond[:, None, None, :], w.shape)] == 0)


def test_call_accepts_tuple_and_dict(net):
    inputs = make_inputs()
    expected = net(*inputs)
    names = ('tokens', 'segments', 'valid_lens', 'pred_positions')
    for got in (net(inputs), net(dict(zip(names, inputs)))):
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a, b)


def test_valid_lens_none_and_2d(net):
    tokens, segments, _, _ = make_inputs()
    full = np.full((B,), T, 'int32')
    np.testing.assert_array_equal(net(tokens, segments)[0],
                                  net(tokens, segments, full)[0])
    np.testing.assert_array_equal(net(tokens, segments, full[:, None])[0],
                                  net(tokens, segments, full)[0])


def test_mixed_bfloat16_logits_are_float32():
    net = make_net(dtype='mixed_bfloat16', tie_weights=True)
    X, mlm_Y_hat, nsp_Y_hat = net(*make_inputs())
    assert X.dtype == tf.bfloat16
    assert mlm_Y_hat.dtype == nsp_Y_hat.dtype == tf.float32
    assert all(w.dtype == 'float32' for w in net.weights)


# ------------------------------------------------------------- semantics

@pytest.mark.parametrize('which', ['net', 'variant_net'])
@settings(max_examples=15)
@given(data=st.data())
def test_padding_is_ignored(which, request, data):
    net = request.getfixturevalue(which)
    lens = data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
    seed = data.draw(st.integers(0, 2**16))
    tokens, segments, _, _ = make_inputs(seed)
    valid_lens = np.array(lens, 'int32')
    pad = np.arange(T)[None, :] >= valid_lens[:, None]  # (B, T)
    rng = np.random.default_rng(seed + 1)
    tokens2 = np.where(pad, rng.integers(0, V, (B, T)), tokens)
    segments2 = np.where(pad, 1 - segments, segments)
    X1 = net(tokens, segments, valid_lens)[0].numpy()
    X2 = net(tokens2.astype('int32'), segments2.astype('int32'),
             valid_lens)[0].numpy()
    np.testing.assert_array_equal(X1[~pad], X2[~pad])


def test_positional_embedding_is_trainable(net):
    pos = net.encoder.pos_embedding
    assert pos.shape == (1, MAX_LEN, H)
    assert any(w is pos for w in net.trainable_weights)
    tokens, segments, valid_lens, pred_positions = make_inputs()
    with tf.GradientTape() as tape:
        _, mlm_Y_hat, nsp_Y_hat = net(tokens, segments, valid_lens,
                                      pred_positions, training=True)
        loss = tf.reduce_sum(mlm_Y_hat ** 2) + tf.reduce_sum(nsp_Y_hat)
    grad = tape.gradient(loss, pos)
    assert grad is not None and np.any(grad.numpy()[:, :T] != 0)
    assert np.all(grad.numpy()[:, T:] == 0)  # unused positions


def test_inference_is_deterministic_and_dropout_is_not():
    net = make_net(dropout=0.5)
    inputs = make_inputs()
    a, b = net(*inputs, training=False), net(*inputs, training=False)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c, d = net(*inputs, training=True), net(*inputs, training=True)
    assert not np.array_equal(c[0], d[0])
    assert not np.array_equal(a[0], c[0])


def test_attention_dropout_rate_is_separate():
    net = make_net(dropout=0.1, attention_dropout=0.3)
    blk = net.encoder.blks[0]
    assert blk.dropout1.rate == 0.1 and blk.attention.dropout.rate == 0.3
    d2l = make_net(dropout=0.1)  # d2l: attention dropout = dropout
    assert d2l.encoder.blks[0].attention.dropout.rate == 0.1


# -------------------------------------------------------------- variants

def test_variants_build_and_differ(variant_net):
    assert variant_net.encoder.final_ln is not None
    X, states, _ = variant_net.encoder(*make_inputs()[:3], return_all=True)
    assert not np.array_equal(X, states[-1])  # final LN after last block
    assert variant_net.encoder.blks[0].ffn.activation == 'gelu'
    for kwargs in ({'norm_first': True}, {'activation': 'gelu'},
                   {'tie_weights': True}):
        out = make_net(**kwargs)(*make_inputs())
        assert all(np.all(np.isfinite(o)) for o in out)


def test_tie_weights_shares_the_embedding():
    net = make_net(tie_weights=True)
    emb = net.encoder.token_embedding.embeddings
    assert net.mlm.decoder is None
    big = [w for w in net.weights if set(w.shape) == {V, H}]
    assert len(big) == 1 and big[0] is emb
    tokens, segments, valid_lens, pred_positions = make_inputs()
    with tf.GradientTape() as tape:
        _, mlm_Y_hat, _ = net(tokens, segments, valid_lens, pred_positions)
    # Gradient w.r.t. the embedding reaches rows never used as input tokens
    grad = tf.convert_to_tensor(tape.gradient(mlm_Y_hat, emb))
    unused = sorted(set(range(V)) - set(tokens.ravel()))
    assert unused and np.all(tf.gather(grad, unused).numpy() != 0)
    # The decoder really is the embedding: perturb it, logits follow
    X = net.mlm.ln(net.mlm.dense(tf.gather(
        net.encoder(tokens, segments, valid_lens), pred_positions,
        batch_dims=1)))
    # scaled by 1 / sqrt(H), as in T5
    np.testing.assert_allclose(
        mlm_Y_hat, X @ tf.transpose(emb) * H ** -0.5 + net.mlm.decoder_bias,
        atol=1e-5)


def test_learned_logit_scale_starts_fixed_and_scales_the_logits():
    net = make_net(tie_weights=True, learn_logit_scale=True)
    emb, log_scale = (net.encoder.token_embedding.embeddings,
                      net.mlm.log_logit_scale)
    assert float(log_scale) == pytest.approx(np.log(H ** -0.5), abs=1e-7)
    assert any(w is log_scale for w in net.trainable_weights)
    tokens, segments, valid_lens, pred_positions = make_inputs()
    X = net.mlm.ln(net.mlm.dense(tf.gather(
        net.encoder(tokens, segments, valid_lens), pred_positions,
        batch_dims=1)))
    bias = net.mlm.decoder_bias
    for scale in (H ** -0.5, 3.0):
        log_scale.assign(np.log(scale))
        with tf.GradientTape() as tape:
            _, mlm_Y_hat, _ = net(tokens, segments, valid_lens,
                                  pred_positions)
            total = tf.reduce_sum(mlm_Y_hat)
        np.testing.assert_allclose(
            mlm_Y_hat, X @ tf.transpose(emb) * scale + bias, rtol=1e-5,
            atol=1e-5)
        # d(sum of logits) / d(log scale) = sum of (logits - bias)
        np.testing.assert_allclose(
            tape.gradient(total, log_scale),
            tf.reduce_sum(mlm_Y_hat - bias), rtol=1e-4)


def test_bert_from_config():
    c = ModelConfig(num_hiddens=8, ffn_num_hiddens=16, num_heads=2,
                    num_blks=1, dropout=0.1, attention_dropout=0.2,
                    max_len=16, norm_first=True, activation='gelu',
                    tie_weights=True, learn_logit_scale=True)
    net = M.bert_from_config(c, vocab_size=V)
    cfg = net.get_config()
    for field, value in c.to_dict().items():
        assert cfg[field] == value, field
    assert net(*make_inputs(steps=16))[1].shape == (B, P, V)


# ---------------------------------------------------------------- saving

def _layers(net):
    blk = net.encoder.blks[0]
    return [net, net.encoder, blk, blk.attention, blk.ffn, net.mlm,
            net.nsp]


@pytest.mark.parametrize('which', ['net', 'variant_net',
                                   'learned_scale_net'])
def test_get_config_round_trip(which, request):
    for layer in _layers(request.getfixturevalue(which)):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config, type(layer).__name__
        name = keras.saving.get_registered_name(type(layer))
        assert name == f'sandbox>{type(layer).__name__}'


def test_save_and_load_in_a_fresh_process(tmp_path, net, variant_net,
                                          learned_scale_net):
    inputs = make_inputs()
    np.savez(tmp_path / 'inputs.npz', *inputs)
    expected = {}
    for name, n in (('d2l', net), ('variant', variant_net),
                    ('learned', learned_scale_net)):
        n.save(tmp_path / f'{name}.keras')
        expected[name] = n(*inputs)
    script = textwrap.dedent(f"""
        import keras, numpy as np
        import sandbox.model
        import os
        os.chdir({str(tmp_path)!r})
        inputs = list(np.load('inputs.npz').values())
        for name in ('d2l', 'variant', 'learned'):
            net = keras.saving.load_model(name + '.keras')
            np.savez(name + '_out.npz', *net(*inputs))
        """)
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    result = subprocess.run([sys.executable, '-c', script], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    for name, outputs in expected.items():
        loaded = np.load(tmp_path / f'{name}_out.npz').values()
        for a, b in zip(outputs, loaded):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------- d2l (PyTorch) parity
# A NumPy transcription of d2l.torch's BERT forward pass (eval mode), run
# on a state_dict with d2l's parameter names; torch Linear is x @ W.T + b.

def d2l_state_dict(rng, num_blks=BLKS):
    """Random weights under d2l's BERTModel state_dict names."""
    def linear(name, n_in, n_out):
        sd[name + '.weight'] = rng.normal(0, 0.5, (n_out, n_in))
        sd[name + '.bias'] = rng.normal(0, 0.5, (n_out,))

    def layer_norm(name):
        sd[name + '.weight'] = rng.normal(1, 0.2, (H,))
        sd[name + '.bias'] = rng.normal(0, 0.2, (H,))

    sd = {'encoder.token_embedding.weight': rng.normal(size=(V, H)),
          'encoder.segment_embedding.weight': rng.normal(size=(2, H)),
          'encoder.pos_embedding': rng.normal(size=(1, MAX_LEN, H))}
    for i in range(num_blks):
        p = f'encoder.blks.{i}.'
        for w in ('W_q', 'W_k', 'W_v', 'W_o'):
            linear(p + 'attention.' + w, H, H)
        layer_norm(p + 'addnorm1.ln')
        linear(p + 'ffn.dense1', H, FFN)
        linear(p + 'ffn.dense2', FFN, H)
        layer_norm(p + 'addnorm2.ln')
    linear('hidden.0', H, H)
    linear('mlm.mlp.0', H, H)
    layer_norm('mlm.mlp.2')
    linear('mlm.mlp.3', H, V)
    linear('nsp.output', H, 2)
    return {k: v.astype('float32') for k, v in sd.items()}


def d2l_forward(sd, tokens, segments, valid_lens, pred_positions,
                num_heads=HEADS, num_blks=BLKS):
    """d2l.torch.BERTModel.forward in NumPy (float64, no dropout)."""
    sd = {k: v.astype('float64') for k, v in sd.items()}

    def linear(name, X):
        return X @ sd[name + '.weight'].T + sd[name + '.bias']

    def layer_norm(name, X):
        mu, var = X.mean(-1, keepdims=True), X.var(-1, keepdims=True)
        return ((X - mu) / np.sqrt(var + 1e-5) * sd[name + '.weight']
                + sd[name + '.bias'])

    def masked_softmax(X, valid_lens):
        shape = X.shape
        valid_lens = np.repeat(valid_lens, shape[1])
        X = X.reshape(-1, shape[-1]).copy()
        mask = np.arange(shape[-1])[None, :] < valid_lens[:, None]
        X[~mask] = -1e6
        X = np.exp(X - X.max(-1, keepdims=True))
        return (X / X.sum(-1, keepdims=True)).reshape(shape)

    def transpose_qkv(X):
        X = X.reshape(X.shape[0], X.shape[1], num_heads, -1)
        X = X.transpose(0, 2, 1, 3)
        return X.reshape(-1, X.shape[2], X.shape[3])

    def transpose_output(X):
        X = X.reshape(-1, num_heads, X.shape[1], X.shape[2])
        X = X.transpose(0, 2, 1, 3)
        return X.reshape(X.shape[0], X.shape[1], -1)

    def attention(p, X, valid_lens):
        q, k, v = (transpose_qkv(linear(p + w, X))
                   for w in ('W_q', 'W_k', 'W_v'))
        valid_lens = np.repeat(valid_lens, num_heads, axis=0)
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
        out = masked_softmax(scores, valid_lens) @ v
        return linear(p + 'W_o', transpose_output(out))

    X = (sd['encoder.token_embedding.weight'][tokens]
         + sd['encoder.segment_embedding.weight'][segments])
    X = X + sd['encoder.pos_embedding'][:, :X.shape[1], :]
    for i in range(num_blks):
        p = f'encoder.blks.{i}.'
        Y = layer_norm(p + 'addnorm1.ln',
                       attention(p + 'attention.', X, valid_lens) + X)
        F = linear(p + 'ffn.dense2',
                   np.maximum(linear(p + 'ffn.dense1', Y), 0))
        X = layer_norm(p + 'addnorm2.ln', F + Y)
    batch, num_pred = pred_positions.shape
    batch_idx = np.repeat(np.arange(batch), num_pred)
    masked_X = X[batch_idx, pred_positions.reshape(-1)]
    masked_X = masked_X.reshape((batch, num_pred, -1))
    mlm = np.maximum(linear('mlm.mlp.0', masked_X), 0)
    mlm = linear('mlm.mlp.3', layer_norm('mlm.mlp.2', mlm))
    nsp = linear('nsp.output', np.tanh(linear('hidden.0', X[:, 0, :])))
    return X, mlm, nsp


def test_load_d2l_torch_weights_matches_d2l_forward():
    rng = np.random.default_rng(0)
    sd = d2l_state_dict(rng)
    net = M.BERTModel(V, H, FFN, HEADS, BLKS, 0.2, max_len=MAX_LEN)
    M.load_d2l_torch_weights(net, sd)
    inputs = make_inputs(seed=1)
    expected = d2l_forward(sd, *inputs)
    for got, want in zip(net(*inputs), expected):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    # Every d2l parameter went somewhere distinct
    assert len(sd) == len(net.weights)


def test_load_d2l_torch_weights_rejects_mismatches():
    sd = d2l_state_dict(np.random.default_rng(0))
    net = M.BERTModel(V, H, FFN, HEADS, BLKS, 0.0, max_len=MAX_LEN)
    with pytest.raises(ValueError, match='missing.*nsp.output.bias'):
        M.load_d2l_torch_weights(
            net, {k: v for k, v in sd.items() if k != 'nsp.output.bias'})
    with pytest.raises(ValueError, match='unexpected.*encoder.blks.2'):
        M.load_d2l_torch_weights(net, {**sd, 'encoder.blks.2.x': sd[
            'hidden.0.bias']})
    with pytest.raises(ValueError, match='encoder.pos_embedding'):
        M.load_d2l_torch_weights(net, {
            **sd, 'encoder.pos_embedding': np.zeros((1, 8, H))})
    with pytest.raises(ValueError, match='d2l variant'):
        M.load_d2l_torch_weights(make_net(norm_first=True), sd)


# ------------------------------------------------------------- weight init

def _d2l_sized(init, vocab_size=2000):
    """d2l's BERT (2 blocks x 128) with a small vocabulary, built."""
    keras.utils.set_random_seed(0)
    net = M.bert_from_config(ModelConfig(init=init), vocab_size)
    net.build()
    return net


def test_d2l_init_is_torchs_default():
    net = _d2l_sized('d2l')
    blk = net.encoder.blks[0]
    # nn.Linear / nn.LazyLinear: weight and bias from U(+-1/sqrt(fan_in))
    for dense, fan_in in ((blk.attention.W_q, 128), (blk.ffn.dense1, 128),
                          (blk.ffn.dense2, 256), (net.mlm.decoder, 128),
                          (net.nsp.output_layer, 128), (net.hidden, 128)):
        for w in [dense.kernel] + ([dense.bias] if dense.use_bias else []):
            w = w.numpy()
            bound = 1 / np.sqrt(fan_in)
            assert np.abs(w).max() <= bound
            if w.size >= 100:  # a uniform's std, where enough to estimate
                assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.1)
    # nn.Embedding and d2l's randn pos_embedding: N(0, 1)
    for w in (net.encoder.token_embedding.embeddings,
              net.encoder.pos_embedding):
        assert w.numpy().std() == pytest.approx(1, rel=0.02)
    # LayerNorm: ones and zeros
    np.testing.assert_array_equal(blk.ln1.gamma.numpy(), 1)
    np.testing.assert_array_equal(blk.ln1.beta.numpy(), 0)


@pytest.mark.parametrize('init, expected', [
    # LayerNorm'd unit features through U(+-1/sqrt(128)) weights: the
    # logit variance is 128 / (3 * 128) + the bias's 1 / (3 * 128)
    ('d2l', np.sqrt(1 / 3 + 1 / 384)),
    # glorot: variance 2 / (128 + V) per weight, 128 of them
    ('keras', np.sqrt(128 * 2 / (128 + 2000))),
    ('bert', np.sqrt(128) * 0.02 * 0.88)])  # truncated at 2 std
def test_initial_mlm_logit_std(init, expected):
    net = _d2l_sized(init)
    rng = np.random.default_rng(0)
    tokens = rng.integers(5, 2000, size=(64, 32))
    positions = rng.integers(1, 32, size=(64, 5))
    _, mlm_Y_hat, _ = net(tokens, np.zeros_like(tokens), np.full(64, 32),
                          positions, training=False)
    assert float(np.std(mlm_Y_hat)) == pytest.approx(expected, rel=0.08)


@pytest.mark.parametrize('tie_weights', [False, True])
def test_embedding_std_sets_every_embedding_tied_or_not(tie_weights):
    # The architecture experiment compares tied and untied decoders at one
    # embedding scale: token, segment and position embeddings alike
    c = ModelConfig(num_hiddens=64, ffn_num_hiddens=64, num_heads=2,
                    num_blks=1, max_len=512, tie_weights=tie_weights,
                    embedding_std=0.125)
    keras.utils.set_random_seed(0)
    net = M.bert_from_config(c, vocab_size=4000)
    net(*make_inputs())
    enc = net.encoder
    for w, rel in ((enc.token_embedding.embeddings, 0.05),
                   (enc.segment_embedding.embeddings, 0.25),  # 128 values
                   (enc.pos_embedding, 0.05)):
        assert np.std(w.numpy()) == pytest.approx(0.125, rel=rel), w.name
    assert net.get_config()['embedding_std'] == 0.125
    # Without it, every embedding starts at N(0, 1), tied decoder or not
    default = M.bert_from_config(c.replace(embedding_std=None), 4000)
    default(*make_inputs())
    for w in (default.encoder.token_embedding.embeddings,
              default.encoder.pos_embedding):
        assert np.std(w.numpy()) == pytest.approx(1.0, rel=0.05), w.name


@pytest.mark.parametrize('init, scale', [('d2l', 64 ** -0.5),
                                         ('keras', 64 ** -0.5),
                                         ('bert', 1.0)])
def test_tied_logits_start_at_unit_scale(init, scale):
    # Tied logits h . e / sqrt(H) over H LayerNorm'd features and N(0, 1)
    # embeddings start at std 1, as an untied d2l decoder's near 0.58;
    # BERT's 0.02 embeddings are tied unscaled
    c = ModelConfig(num_hiddens=64, ffn_num_hiddens=64, num_heads=2,
                    num_blks=1, max_len=64, tie_weights=True, init=init)
    keras.utils.set_random_seed(0)
    net = M.bert_from_config(c, vocab_size=4000)
    assert net.mlm.logit_scale == scale
    rng = np.random.default_rng(0)
    tokens = rng.integers(5, 4000, size=(64, 32))
    positions = rng.integers(1, 32, size=(64, 5))
    _, mlm_Y_hat, _ = net(tokens, np.zeros_like(tokens), np.full(64, 32),
                          positions, training=False)
    emb_std = 1.0 if init != 'bert' else 0.02 * 0.88  # truncated at 2 std
    expected = scale * 64 ** 0.5 * emb_std
    assert float(np.std(mlm_Y_hat)) == pytest.approx(expected, rel=0.08)
