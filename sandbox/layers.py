"""The Transformer encoder's layers, after d2l's (PyTorch, sec. 11.5-11.7).

Names and semantics follow `d2l.torch`. Changes: attention dropout has its
own rate, dropout draws 16 random bits per element instead of a float
(cheaper on CPU), attention softmax runs in float32 (mixed precision),
and pre-LN and GELU are opt-in. Initialisers are PyTorch's ('d2l'),
Keras's or BERT's. Shapes: B batch, T tokens, H num_hiddens, h heads.
"""
import math

import keras
import tensorflow as tf

register = keras.saving.register_keras_serializable(package='sandbox')


def layer_norm(dtype, name):
    """LayerNorm with PyTorch's epsilon (1e-5), so d2l weights match."""
    return LayerNorm(epsilon=1e-5, dtype=dtype, name=name)


@register
class LayerNorm(keras.layers.LayerNormalization):
    """Keras's LayerNormalization over the last axis, with a hand-written
    gradient: a handful of ops where autodiff of Keras's takes about
    twice as many (1.03-1.14x the whole step, measured). Same weights,
    same values up to rounding, float32 inside as Keras's."""

    def call(self, inputs):
        """Normalise the last axis, then scale by gamma and shift by beta."""
        if self.axis not in (-1, [-1], len(inputs.shape) - 1) or \
                not (self.center and self.scale) or self.rms_scaling:
            return super().call(inputs)
        x = tf.cast(inputs, tf.float32)
        y = _layer_norm(x, tf.cast(self.gamma, tf.float32),
                        tf.cast(self.beta, tf.float32), self.epsilon)
        return tf.cast(y, self.compute_dtype)


def _layer_norm(x, gamma, beta, epsilon):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta over the last axis."""

    @tf.custom_gradient
    def normalise(x, gamma, beta):
        mean, var = tf.nn.moments(x, [-1], keepdims=True)
        rstd = tf.math.rsqrt(var + epsilon)  # (..., 1)
        x_hat = (x - mean) * rstd

        def grad(dy):
            g = dy * gamma
            dx = rstd * (g - tf.reduce_mean(g, -1, keepdims=True) - x_hat *
                         tf.reduce_mean(g * x_hat, -1, keepdims=True))
            rows = tf.range(tf.rank(x) - 1)  # every axis but the last
            return (dx, tf.reduce_sum(dy * x_hat, rows),
                    tf.reduce_sum(dy, rows))

        return x_hat * gamma + beta, grad

    return normalise(x, gamma, beta)


def normal_cdf(x):
    """Φ(x), the standard normal CDF."""
    return 0.5 * (1.0 + tf.math.erf(x * (1 / math.sqrt(2))))


def gelu_grad(x, cdf, dy):
    """dy · (Φ(x) + x φ(x)), φ the standard normal density."""
    return dy * (cdf + x * (1 / math.sqrt(2 * math.pi)) * tf.exp(-0.5 * x * x))


@tf.custom_gradient
def gelu(x):
    """Exact (erf) GELU, x Φ(x), with a hand-written gradient: Keras's
    autodiff of it takes 1.5-1.6x as long, forward and backward (measured by
    benchmarks/elementwise.py); the same values up to rounding."""
    cdf = normal_cdf(x)
    return x * cdf, lambda dy: gelu_grad(x, cdf, dy)


def embedding_init(init='d2l', std=None):
    """N(0, 1) (nn.Embedding's and d2l's randn pos_embedding), BERT's
    truncated N(0, 0.02), or that distribution at std `std`."""
    if init == 'bert':
        return keras.initializers.TruncatedNormal(stddev=std or 0.02)
    return keras.initializers.RandomNormal(stddev=1.0 if std is None
                                           else std)


def dense_init(init, fan_in):
    """Dense initializers: 'd2l' as torch's nn.Linear, 'keras', or 'bert'.

    torch's nn.Linear (and d2l's nn.LazyLinear) draws weight and bias from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)); Keras draws glorot-uniform kernels
    and zero biases; BERT draws N(0, 0.02) truncated at 2 std, zero biases.
    """
    if init not in ('d2l', 'keras', 'bert'):
        raise ValueError(f"init must be 'd2l', 'keras' or 'bert', "
                         f'got {init!r}')
    if init == 'keras':
        return {}
    if init == 'bert':
        return {'kernel_initializer':
                keras.initializers.TruncatedNormal(stddev=0.02)}
    bound = 1 / math.sqrt(fan_in)
    return {'kernel_initializer': keras.initializers.RandomUniform(
                -bound, bound),
            'bias_initializer': keras.initializers.RandomUniform(
                -bound, bound)}


def masked_softmax(X, valid_lens):
    """Softmax over the last axis of X, keys at >= valid_lens get 0."""
    # X: (B, h, T_q, T_k) scores; valid_lens: (B,) int or None
    X = tf.cast(X, tf.float32)  # float32 even under mixed precision
    if valid_lens is None:
        return tf.nn.softmax(X, axis=-1)
    mask = tf.sequence_mask(valid_lens, maxlen=tf.shape(X)[-1])  # (B, T_k)
    mask = mask[:, None, None, :]  # (B, 1, 1, T_k)
    # As d2l: -1e6 (not -inf), so all-masked rows stay finite (uniform)
    return tf.nn.softmax(tf.where(mask, X, -1e6), axis=-1)


@register
class Dropout(keras.layers.Dropout):
    """keras Dropout that draws 16 random bits per element, not a float.

    On CPU the random numbers are most of dropout's cost: this draws half
    as many 32-bit ones, in half the time of Keras's float32 ones and a
    fifth of its bfloat16 ones (measured at d2l's sizes). Elements are
    dropped with probability round(rate * 2**16) / 2**16, the survivors
    scaled by 1 / (1 - rate) as in Keras.
    """

    def call(self, inputs, training=False, unpadded=None):
        """Drop and rescale when training, else return `inputs`.

        unpadded: the Unpadded layout of (N, ...) `inputs`; they are
        dropped where their (B, T, ...) padded form would be, so both
        forms of a batch lose the same elements.
        """
        if not training or self.rate in (0, 1) or self.noise_shape:
            return super().call(inputs, training=training)
        shape = tf.shape(inputs) if unpadded is None else tf.concat(
            [unpadded.shape, tf.shape(inputs)[1:]], 0)
        keep = self.keep_mask(shape)
        if unpadded is not None:
            keep = unpadded.unpad(keep)  # (N, ...)
        return drop(inputs, keep, self.rate)

    def keep_mask(self, shape):
        """A bool tensor of `shape`: the elements that the call keeps."""
        seed = self.seed_generator.next()  # as keras.random.dropout's
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
        n = tf.reduce_prod(shape)
        bits = tf.random.stateless_uniform(
            ((n + 1) // 2,), seed, minval=None, maxval=None, dtype=tf.uint32)
        bits = tf.reshape(tf.bitcast(bits, tf.uint16), (-1,))[:n]
        return tf.reshape(bits >= round(self.rate * 2 ** 16), shape)


def drop(X, keep, rate):
    """X where `keep`, scaled by 1 / (1 - rate); 0 elsewhere."""
    scale = tf.cast(1 / (1 - rate), X.dtype)
    return tf.where(keep, X * scale, tf.zeros_like(X))


def attend(queries, keys, values, valid_lens, dropout):
    """Scaled dot-product attention: (B, h, T_q, d) outputs and the
    float32 (B, h, T_q, T_k) weights; `dropout` maps the weights."""
    d = queries.shape[-1]
    scores = tf.matmul(queries, keys, transpose_b=True)  # (B,h,T_q,T_k)
    scores = scores / math.sqrt(d)
    weights = masked_softmax(scores, valid_lens)  # float32 (B,h,T_q,T_k)
    dropped = dropout(tf.cast(weights, values.dtype))
    return tf.matmul(dropped, values), weights  # (B, h, T_q, d)


@register
class MultiHeadAttention(keras.layers.Layer):
    """d2l's multi-head scaled dot-product attention with W_q/W_k/W_v/W_o."""

    def __init__(self, num_hiddens, num_heads, dropout, bias=False,
                 init='d2l', **kwargs):
        super().__init__(**kwargs)
        if num_hiddens % num_heads:
            raise ValueError(f'num_hiddens ({num_hiddens}) must be divisible '
                             f'by num_heads ({num_heads})')
        self.num_hiddens, self.num_heads = num_hiddens, num_heads
        self.dropout_rate, self.bias, self.init = dropout, bias, init
        # d2l's LazyLinear layers all see num_hiddens inputs here
        dense = dict(use_bias=bias, dtype=self.dtype_policy,
                     **dense_init(init, num_hiddens))
        self.W_q = keras.layers.Dense(num_hiddens, name='W_q', **dense)
        self.W_k = keras.layers.Dense(num_hiddens, name='W_k', **dense)
        self.W_v = keras.layers.Dense(num_hiddens, name='W_v', **dense)
        self.W_o = keras.layers.Dense(num_hiddens, name='W_o', **dense)
        self.dropout = Dropout(dropout, dtype=self.dtype_policy)

    def build(self, queries_shape, keys_shape=None, values_shape=None,
              valid_lens_shape=None):
        """Create the four projections' weights."""
        keys_shape = keys_shape or queries_shape
        self.W_q.build(queries_shape)
        self.W_k.build(keys_shape)
        self.W_v.build(values_shape or keys_shape)
        self.W_o.build(tuple(queries_shape[:-1]) + (self.num_hiddens,))

    def call(self, queries, keys, values, valid_lens=None, training=None,
             return_attention=False, unpadded=None):
        """Attend; also return the (B, h, T_q, T_k) weights if asked.

        unpadded: an Unpadded layout when queries, keys and values are the
        (N, H) valid tokens only: the projections run on those, and the
        scores on the (B, T) grid that unpadded.pad puts them back on, or
        on each length group's grid if it has groups (self-attention).
        """
        if unpadded is not None and unpadded.groups:  # weights: none
            output = self._call_by_groups(queries, unpadded, training)
            return (output, None) if return_attention else output
        pad = (lambda Z: Z) if unpadded is None else unpadded.pad
        queries = self.transpose_qkv(pad(self.W_q(queries)))  # (B,h,T_q,H/h)
        keys = self.transpose_qkv(pad(self.W_k(keys)))  # (B, h, T_k, H/h)
        values = self.transpose_qkv(pad(self.W_v(values)))  # (B,h,T_k,H/h)
        output, weights = attend(
            queries, keys, values, valid_lens,
            lambda W: self.dropout(W, training=training))
        output = self.transpose_output(output)  # (B, T_q, H)
        if unpadded is not None:
            output = unpadded.unpad(output)  # (N, H)
        output = self.W_o(output)  # (B, T_q, H), or (N, H) unpadded
        return (output, weights) if return_attention else output

    def _call_by_groups(self, X, unpadded, training):
        """Self-attention of the (N, H) tokens X, group by group.

        The attention dropout mask is drawn on the whole (B, h, T, T) grid
        and each group takes its rows and corner of it: the same mask as
        without groups.
        """
        rate = self.dropout_rate
        keep = None
        if training and 0 < rate < 1:
            B, T = unpadded.shape[0], unpadded.shape[1]
            keep = self.dropout.keep_mask(
                tf.stack([B, self.num_heads, T, T]))  # (B, h, T, T)
        qkv = [unpadded.split(W(X)) for W in (self.W_q, self.W_k, self.W_v)]
        outputs = []
        for group, q, k, v in zip(unpadded.groups, *qkv):
            q, k, v = (self.transpose_qkv(group.layout.pad(Z))
                       for Z in (q, k, v))  # (B_g, h, T_g, H/h)
            dropout = (lambda W: self.dropout(W, training=training))
            if keep is not None:
                T_g = group.layout.shape[1]
                keep_g = tf.gather(keep, group.rows)[
                    :, :, :T_g, :T_g]  # (B_g, h, T_g, T_g)
                dropout = (lambda W, m=keep_g: drop(W, m, rate))
            output, _ = attend(q, k, v, group.valid_lens, dropout)
            outputs.append(group.layout.unpad(
                self.transpose_output(output)))  # (N_g, H)
        return self.W_o(tf.concat(outputs, 0))  # (N, H)

    def transpose_qkv(self, X):
        """Split the last axis into heads: (B, T, H) -> (B, h, T, H/h)."""
        d = self.num_hiddens // self.num_heads
        X = tf.reshape(X, (-1, tf.shape(X)[1], self.num_heads, d))  # B,T,h,d
        return tf.transpose(X, (0, 2, 1, 3))  # (B, h, T, H/h)

    def transpose_output(self, X):
        """Reverse transpose_qkv: (B, h, T, H/h) -> (B, T, H)."""
        X = tf.transpose(X, (0, 2, 1, 3))  # (B, T, h, H/h)
        return tf.reshape(X, (-1, tf.shape(X)[1], self.num_hiddens))  # B,T,H

    def get_config(self):
        """Constructor arguments, for saving."""
        return {**super().get_config(), 'num_hiddens': self.num_hiddens,
                'num_heads': self.num_heads, 'dropout': self.dropout_rate,
                'bias': self.bias, 'init': self.init}


@register
class PositionWiseFFN(keras.layers.Layer):
    """d2l's position-wise FFN: dense2(activation(dense1(X)))."""

    def __init__(self, ffn_num_hiddens, ffn_num_outputs, activation='relu',
                 init='d2l', fan_in=None, **kwargs):
        super().__init__(**kwargs)
        if activation not in ('relu', 'gelu'):
            raise ValueError(f"activation must be 'relu' or 'gelu', "
                             f'got {activation!r}')
        self.ffn_num_hiddens = ffn_num_hiddens
        self.ffn_num_outputs = ffn_num_outputs
        self.activation, self.init = activation, init
        # fan_in: the input width (d2l's: num_hiddens = ffn_num_outputs)
        self.fan_in = fan_in or ffn_num_outputs
        self.dense1 = keras.layers.Dense(
            ffn_num_hiddens, dtype=self.dtype_policy, name='dense1',
            **dense_init(init, self.fan_in))
        self.dense2 = keras.layers.Dense(
            ffn_num_outputs, dtype=self.dtype_policy, name='dense2',
            **dense_init(init, ffn_num_hiddens))

    def build(self, X_shape):
        """Create both layers' weights."""
        self.dense1.build(X_shape)
        self.dense2.build(tuple(X_shape[:-1]) + (self.ffn_num_hiddens,))

    def call(self, X):
        """(B, T, H) -> (B, T, ffn_num_outputs)."""
        Y = self.dense1(X)
        if self.activation == 'gelu':  # exact erf GELU, as PyTorch and BERT
            Y = gelu(Y)
        else:
            Y = keras.activations.relu(Y)
        return self.dense2(Y)

    def get_config(self):
        """Constructor arguments, for saving."""
        return {**super().get_config(),
                'ffn_num_hiddens': self.ffn_num_hiddens,
                'ffn_num_outputs': self.ffn_num_outputs,
                'activation': self.activation, 'init': self.init,
                'fan_in': self.fan_in}


@register
class TransformerEncoderBlock(keras.layers.Layer):
    """d2l's Transformer encoder block; post-LN, or pre-LN if norm_first."""

    def __init__(self, num_hiddens, ffn_num_hiddens, num_heads, dropout,
                 use_bias=True, attention_dropout=None, norm_first=False,
                 activation='relu', init='d2l', **kwargs):
        super().__init__(**kwargs)
        if attention_dropout is None:
            attention_dropout = dropout  # d2l: one rate for both
        self.num_hiddens, self.ffn_num_hiddens = num_hiddens, ffn_num_hiddens
        self.num_heads, self.dropout_rate = num_heads, dropout
        self.use_bias, self.attention_dropout = use_bias, attention_dropout
        self.norm_first, self.activation = norm_first, activation
        self.init = init
        dtype = self.dtype_policy
        self.attention = MultiHeadAttention(
            num_hiddens, num_heads, attention_dropout, use_bias, init,
            dtype=dtype, name='attention')
        self.ln1 = layer_norm(dtype, 'ln1')  # d2l: addnorm1.ln
        self.dropout1 = Dropout(dropout, dtype=dtype)
        self.ffn = PositionWiseFFN(ffn_num_hiddens, num_hiddens, activation,
                                   init, dtype=dtype, name='ffn')
        self.ln2 = layer_norm(dtype, 'ln2')  # d2l: addnorm2.ln
        self.dropout2 = Dropout(dropout, dtype=dtype)

    def build(self, X_shape, valid_lens_shape=None):
        """Create the sublayers' weights."""
        self.attention.build(X_shape, X_shape, X_shape)
        self.ln1.build(X_shape)
        self.ffn.build(X_shape)
        self.ln2.build(X_shape)

    def call(self, X, valid_lens=None, training=None,
             return_attention=False, unpadded=None):
        """(B, T, H) -> (B, T, H); also the attention weights if asked.

        With an Unpadded layout, X is the (N, H) valid tokens and so is
        the output: only attention sees the padded (B, T) grid.
        """
        if self.norm_first:  # X + dropout(f(LN(X)))
            Y = self.ln1(X)
            Y, weights = self.attention(Y, Y, Y, valid_lens,
                                        training=training,
                                        return_attention=True,
                                        unpadded=unpadded)
            X = X + self.dropout1(Y, training=training, unpadded=unpadded)
            Y = self.ffn(self.ln2(X))
            X = X + self.dropout2(Y, training=training, unpadded=unpadded)
        else:  # d2l's AddNorm: LN(dropout(f(X)) + X)
            Y, weights = self.attention(X, X, X, valid_lens,
                                        training=training,
                                        return_attention=True,
                                        unpadded=unpadded)
            X = self.ln1(self.dropout1(Y, training=training,
                                       unpadded=unpadded) + X)
            Y = self.ffn(X)
            X = self.ln2(self.dropout2(Y, training=training,
                                       unpadded=unpadded) + X)
        return (X, weights) if return_attention else X

    def get_config(self):
        """Constructor arguments, for saving."""
        return {**super().get_config(), 'num_hiddens': self.num_hiddens,
                'ffn_num_hiddens': self.ffn_num_hiddens,
                'num_heads': self.num_heads, 'dropout': self.dropout_rate,
                'use_bias': self.use_bias,
                'attention_dropout': self.attention_dropout,
                'norm_first': self.norm_first, 'activation': self.activation,
                'init': self.init}
