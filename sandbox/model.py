"""d2l's BERT (PyTorch, sec. 15.8) as Keras 3 layers for TensorFlow.

Names and semantics follow `d2l.torch`; `load_d2l_torch_weights` maps a
d2l state_dict onto `BERTModel` so both give the same outputs. Changes:
attention dropout has its own rate, dropout draws 16 random bits per
element instead of a float (cheaper on CPU), attention softmax runs in
float32 (mixed precision), logits are float32, and variants (pre-LN,
GELU, tied MLM decoder) are opt-in. Shapes: B batch, T tokens, H num_hiddens,
h heads, P prediction slots, V vocabulary.
"""
import math

import keras
import numpy as np
import tensorflow as tf

_register = keras.saving.register_keras_serializable(package='sandbox')


def _layer_norm(dtype, name):
    """LayerNorm with PyTorch's epsilon (1e-5), so d2l weights match."""
    return keras.layers.LayerNormalization(epsilon=1e-5, dtype=dtype,
                                           name=name)


def _embedding_init(init='d2l'):
    """N(0, 1) (nn.Embedding's and d2l's randn pos_embedding), BERT's 0.02."""
    if init == 'bert':
        return keras.initializers.TruncatedNormal(stddev=0.02)
    return keras.initializers.RandomNormal(stddev=1.0)


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


@_register
class Dropout(keras.layers.Dropout):
    """keras Dropout that draws 16 random bits per element, not a float.

    On CPU the random numbers are most of dropout's cost: this draws half
    as many 32-bit ones, in half the time of Keras's float32 ones and a
    fifth of its bfloat16 ones (measured at d2l's sizes). Elements are
    dropped with probability round(rate * 2**16) / 2**16, the survivors
    scaled by 1 / (1 - rate) as in Keras.
    """

    def call(self, inputs, training=False):
        """Drop and rescale when training, else return `inputs`."""
        if not training or self.rate in (0, 1) or self.noise_shape:
            return super().call(inputs, training=training)
        seed = self.seed_generator.next()  # as keras.random.dropout's
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
        n = tf.size(inputs)
        bits = tf.random.stateless_uniform(
            ((n + 1) // 2,), seed, minval=None, maxval=None, dtype=tf.uint32)
        bits = tf.reshape(tf.bitcast(bits, tf.uint16), (-1,))[:n]
        keep = tf.reshape(bits >= round(self.rate * 2 ** 16), tf.shape(inputs))
        scale = tf.cast(1 / (1 - self.rate), inputs.dtype)
        return tf.where(keep, inputs * scale, tf.zeros_like(inputs))


@_register
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
             return_attention=False):
        """Attend; also return the (B, h, T_q, T_k) weights if asked."""
        queries = self.transpose_qkv(self.W_q(queries))  # (B, h, T_q, H/h)
        keys = self.transpose_qkv(self.W_k(keys))  # (B, h, T_k, H/h)
        values = self.transpose_qkv(self.W_v(values))  # (B, h, T_k, H/h)
        d = self.num_hiddens // self.num_heads
        scores = tf.matmul(queries, keys, transpose_b=True)  # (B,h,T_q,T_k)
        scores = scores / math.sqrt(d)
        weights = masked_softmax(scores, valid_lens)  # float32 (B,h,T_q,T_k)
        dropped = self.dropout(tf.cast(weights, values.dtype),
                               training=training)
        output = tf.matmul(dropped, values)  # (B, h, T_q, H/h)
        output = self.W_o(self.transpose_output(output))  # (B, T_q, H)
        return (output, weights) if return_attention else output

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


@_register
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
            Y = keras.activations.gelu(Y, approximate=False)
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


@_register
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
        self.ln1 = _layer_norm(dtype, 'ln1')  # d2l: addnorm1.ln
        self.dropout1 = Dropout(dropout, dtype=dtype)
        self.ffn = PositionWiseFFN(ffn_num_hiddens, num_hiddens, activation,
                                   init, dtype=dtype, name='ffn')
        self.ln2 = _layer_norm(dtype, 'ln2')  # d2l: addnorm2.ln
        self.dropout2 = Dropout(dropout, dtype=dtype)

    def build(self, X_shape, valid_lens_shape=None):
        """Create the sublayers' weights."""
        self.attention.build(X_shape, X_shape, X_shape)
        self.ln1.build(X_shape)
        self.ffn.build(X_shape)
        self.ln2.build(X_shape)

    def call(self, X, valid_lens=None, training=None,
             return_attention=False):
        """(B, T, H) -> (B, T, H); also the attention weights if asked."""
        if self.norm_first:  # X + dropout(f(LN(X)))
            Y = self.ln1(X)
            Y, weights = self.attention(Y, Y, Y, valid_lens,
                                        training=training,
                                        return_attention=True)
            X = X + self.dropout1(Y, training=training)
            Y = self.ffn(self.ln2(X))
            X = X + self.dropout2(Y, training=training)
        else:  # d2l's AddNorm: LN(dropout(f(X)) + X)
            Y, weights = self.attention(X, X, X, valid_lens,
                                        training=training,
                                        return_attention=True)
            X = self.ln1(self.dropout1(Y, training=training) + X)
            Y = self.ffn(X)
            X = self.ln2(self.dropout2(Y, training=training) + X)
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


@_register
class BERTEncoder(keras.layers.Layer):
    """d2l's BERT encoder: token + segment + learned position embeddings."""

    def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads,
                 num_blks, dropout, max_len=1000, attention_dropout=None,
                 norm_first=False, activation='relu', init='d2l', **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.ffn_num_hiddens, self.num_heads = ffn_num_hiddens, num_heads
        self.num_blks, self.dropout_rate = num_blks, dropout
        self.max_len, self.attention_dropout = max_len, attention_dropout
        self.norm_first, self.activation = norm_first, activation
        self.init = init
        dtype = self.dtype_policy
        self.token_embedding = keras.layers.Embedding(
            vocab_size, num_hiddens,
            embeddings_initializer=_embedding_init(init), dtype=dtype,
            name='token_embedding')
        self.segment_embedding = keras.layers.Embedding(
            2, num_hiddens, embeddings_initializer=_embedding_init(init),
            dtype=dtype, name='segment_embedding')
        self.blks = [
            TransformerEncoderBlock(
                num_hiddens, ffn_num_hiddens, num_heads, dropout, True,
                attention_dropout, norm_first, activation, init,
                dtype=dtype, name=f'blk_{i}')
            for i in range(num_blks)]
        # Pre-LN leaves the residual stream unnormalised: normalise it once
        self.final_ln = (_layer_norm(dtype, 'final_ln') if norm_first
                         else None)

    def build(self, *args, **kwargs):
        """Create all weights; they depend on the config, not on shapes."""
        self.token_embedding.build()
        self.segment_embedding.build()
        # In BERT, positional embeddings are learnable (d2l: randn init)
        self.pos_embedding = self.add_weight(
            shape=(1, self.max_len, self.num_hiddens),
            initializer=_embedding_init(self.init), name='pos_embedding')
        X_shape = (None, None, self.num_hiddens)
        for blk in self.blks:
            blk.build(X_shape)
        if self.final_ln is not None:
            self.final_ln.build(X_shape)

    def call(self, tokens, segments=None, valid_lens=None, training=None,
             return_all=False):
        """(B, T) ids -> X (B, T, H), or (X, states, weights) if return_all."""
        # states: num_blks + 1 tensors (B, T, H): the embedding sum, then
        # each block's output (before final_ln, if pre-LN). weights: one
        # (B, h, T, T) float32 tensor of attention weights per block.
        if segments is None:
            segments = tf.zeros_like(tokens)
        if valid_lens is not None:
            valid_lens = tf.reshape(tf.cast(valid_lens, tf.int32), (-1,))
        X = self.token_embedding(tokens) + self.segment_embedding(segments)
        T = tf.shape(tokens)[1]
        pos = self.pos_embedding[:, :T, :]  # (1, T, H)
        X = X + tf.cast(pos, X.dtype)  # (B, T, H); d2l: no dropout here
        hidden_states, attention_weights = [X], []
        for blk in self.blks:
            X, weights = blk(X, valid_lens, training=training,
                             return_attention=True)
            hidden_states.append(X)
            attention_weights.append(weights)
        if self.final_ln is not None:
            X = self.final_ln(X)
        if return_all:
            return X, hidden_states, attention_weights
        return X

    def architecture(self):
        """The constructor's arguments (BERTModel's too, but tie_weights)."""
        return {'vocab_size': self.vocab_size,
                'num_hiddens': self.num_hiddens,
                'ffn_num_hiddens': self.ffn_num_hiddens,
                'num_heads': self.num_heads, 'num_blks': self.num_blks,
                'dropout': self.dropout_rate, 'max_len': self.max_len,
                'attention_dropout': self.attention_dropout,
                'norm_first': self.norm_first, 'activation': self.activation,
                'init': self.init}

    def get_config(self):
        """Constructor arguments, for saving."""
        return {**super().get_config(), **self.architecture()}


@_register
class MaskLM(keras.layers.Layer):
    """d2l's masked LM head: Dense, ReLU, LayerNorm, Dense(vocab)."""

    def __init__(self, vocab_size, num_hiddens, tie_weights=False,
                 init='d2l', **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.tie_weights, self.init = tie_weights, init
        dtype = self.dtype_policy
        dense = dense_init(init, num_hiddens)
        self.dense = keras.layers.Dense(num_hiddens, activation='relu',
                                        dtype=dtype, name='dense',
                                        **dense)  # mlp.0-1
        self.ln = _layer_norm(dtype, 'ln')  # d2l: mlp.2
        # d2l: mlp.3; float32 logits. Tied: embedding matrix + own bias.
        self.decoder = None if tie_weights else keras.layers.Dense(
            vocab_size, dtype='float32', name='decoder', **dense)

    def build(self, X_shape, pred_positions_shape=None,
              embeddings_shape=None):
        """Create the head's weights."""
        shape = (None, None, self.num_hiddens)
        self.dense.build(shape)
        self.ln.build(shape)
        if self.tie_weights:
            self.decoder_bias = self.add_weight(
                shape=(self.vocab_size,), initializer='zeros',
                name='decoder_bias', dtype='float32', autocast=False)
        else:
            self.decoder.build(shape)

    def call(self, X, pred_positions, embeddings=None):
        """Float32 logits (B, P, V) at pred_positions (B, P) of X (B, T, H)."""
        # embeddings: the (V, H) token embedding matrix, if tie_weights
        Y = self.features(X, pred_positions)  # (B, P, H)
        if not self.tie_weights:
            return self.decoder(Y)  # (B, P, V)
        if embeddings is None:
            raise ValueError('MaskLM(tie_weights=True) needs `embeddings`')
        Y = tf.matmul(Y, tf.cast(embeddings, Y.dtype), transpose_b=True)
        return tf.cast(Y, tf.float32) + self.decoder_bias  # (B, P, V)

    def features(self, X, pred_positions):
        """The decoder's input (B, P, H) at pred_positions (B, P) of X."""
        pred_positions = tf.cast(pred_positions, tf.int32)
        masked_X = tf.gather(X, pred_positions, batch_dims=1)  # (B, P, H)
        return self.ln(self.dense(masked_X))  # (B, P, H)

    def decoder_weights(self, embeddings=None):
        """The decoder's float32 (kernel (H, V), bias (V,)): logits = Y @
        kernel + bias. For a fused loss; `embeddings` as in `call`."""
        if not self.tie_weights:
            return (tf.convert_to_tensor(self.decoder.kernel),
                    tf.convert_to_tensor(self.decoder.bias))
        if embeddings is None:
            raise ValueError('MaskLM(tie_weights=True) needs `embeddings`')
        return (tf.transpose(tf.convert_to_tensor(embeddings)),
                tf.convert_to_tensor(self.decoder_bias))

    def get_config(self):
        """Constructor arguments, for saving."""
        return {**super().get_config(), 'vocab_size': self.vocab_size,
                'num_hiddens': self.num_hiddens,
                'tie_weights': self.tie_weights, 'init': self.init}


@_register
class NextSentencePred(keras.layers.Layer):
    """d2l's next sentence prediction head: Dense(2), float32 logits."""

    def __init__(self, fan_in=None, init='d2l', **kwargs):
        super().__init__(**kwargs)
        self.fan_in, self.init = fan_in, init
        # d2l calls this `output`, a reserved name on Keras layers
        self.output_layer = keras.layers.Dense(
            2, dtype='float32', name='output',
            **(dense_init(init, fan_in) if fan_in else {}))

    def build(self, X_shape):
        """Create the output layer's weights."""
        self.output_layer.build(X_shape)

    def call(self, X):
        """(B, H) -> (B, 2) float32 logits."""
        return self.output_layer(X)

    def get_config(self):
        """Constructor arguments, for saving."""
        return {**super().get_config(), 'fan_in': self.fan_in,
                'init': self.init}


@_register
class BERTModel(keras.Model):
    """d2l's BERT: encoder, MLM head, and an MLP on <cls> for NSP."""

    def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads,
                 num_blks, dropout, max_len=1000, attention_dropout=None,
                 norm_first=False, activation='relu', tie_weights=False,
                 init='d2l', **kwargs):
        super().__init__(**kwargs)
        # The rest of the architecture lives in self.encoder.architecture()
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.max_len, self.tie_weights = max_len, tie_weights
        dtype = self.dtype_policy
        self.encoder = BERTEncoder(
            vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks,
            dropout, max_len, attention_dropout, norm_first, activation,
            init, dtype=dtype, name='encoder')
        if tie_weights and init != 'bert':
            # Tied logits are h . e over num_hiddens unit-variance features:
            # N(0, 1) embeddings start them at std sqrt(num_hiddens) (an
            # MLM loss near 60); std num_hiddens ** -0.5 starts them at 1
            self.encoder.token_embedding.embeddings_initializer = \
                keras.initializers.RandomNormal(stddev=num_hiddens ** -0.5)
        self.hidden = keras.layers.Dense(num_hiddens, activation='tanh',
                                         dtype=dtype, name='hidden',
                                         **dense_init(init, num_hiddens))
        self.mlm = MaskLM(vocab_size, num_hiddens, tie_weights, init,
                          dtype=dtype, name='mlm')
        self.nsp = NextSentencePred(num_hiddens, init, dtype=dtype,
                                    name='nsp')

    def build(self, *args, **kwargs):
        """Create all weights (MLM head included, whatever the inputs)."""
        shapes = {self.encoder: None, self.hidden: (None, self.num_hiddens),
                  self.mlm: (None, None, self.num_hiddens),
                  self.nsp: (None, self.num_hiddens)}
        for layer, shape in shapes.items():  # probing may build the encoder
            if not layer.built:
                layer.build(shape) if shape else layer.build()

    def call(self, tokens, segments=None, valid_lens=None,
             pred_positions=None, training=None):
        """Return (encoded_X (B,T,H), mlm_Y_hat (B,P,V) or None, nsp (B,2))."""
        # Keras-style: `tokens` may hold all inputs, as a tuple (tokens,
        # segments, valid_lens[, pred_positions, ...]) or a dict by name
        if isinstance(tokens, dict):
            tokens, segments, valid_lens, pred_positions = (
                tokens.get(k) for k in
                ('tokens', 'segments', 'valid_lens', 'pred_positions'))
        elif isinstance(tokens, (tuple, list)):
            tokens, segments, valid_lens, pred_positions = (
                list(tokens) + [None] * 4)[:4]
        encoded_X = self.encoder(tokens, segments, valid_lens,
                                 training=training)
        if pred_positions is None:
            mlm_Y_hat = None
        else:
            embeddings = (self.encoder.token_embedding.embeddings
                          if self.tie_weights else None)
            mlm_Y_hat = self.mlm(encoded_X, pred_positions,
                                 embeddings=embeddings)
        # MLP on the <cls> token (position 0) for next sentence prediction
        nsp_Y_hat = self.nsp(self.hidden(encoded_X[:, 0, :]))  # (B, 2)
        return encoded_X, mlm_Y_hat, nsp_Y_hat

    def get_config(self):
        """Constructor arguments, for saving."""
        return {**super().get_config(), **self.encoder.architecture(),
                'tie_weights': self.tie_weights}


def bert_from_config(model_config, vocab_size, **kwargs):
    """Build a BERTModel from a config.ModelConfig (kwargs: name, dtype)."""
    # ModelConfig's fields are BERTModel's keyword arguments, by name
    return BERTModel(vocab_size=vocab_size, **model_config.to_dict(),
                     **kwargs)


def _d2l_weight_map(net):
    """Map d2l state_dict keys to (our variable, transpose?)."""
    enc, m = net.encoder, {}

    def linear(prefix, dense):  # torch Linear weight is (out, in)
        m[prefix + '.weight'] = (dense.kernel, True)
        m[prefix + '.bias'] = (dense.bias, False)

    def layer_norm(prefix, ln):
        m[prefix + '.weight'] = (ln.gamma, False)
        m[prefix + '.bias'] = (ln.beta, False)

    m['encoder.token_embedding.weight'] = (
        enc.token_embedding.embeddings, False)
    m['encoder.segment_embedding.weight'] = (
        enc.segment_embedding.embeddings, False)
    m['encoder.pos_embedding'] = (enc.pos_embedding, False)
    for i, blk in enumerate(enc.blks):
        p = f'encoder.blks.{i}.'
        for w in ('W_q', 'W_k', 'W_v', 'W_o'):
            linear(p + 'attention.' + w, getattr(blk.attention, w))
        layer_norm(p + 'addnorm1.ln', blk.ln1)
        linear(p + 'ffn.dense1', blk.ffn.dense1)
        linear(p + 'ffn.dense2', blk.ffn.dense2)
        layer_norm(p + 'addnorm2.ln', blk.ln2)
    linear('hidden.0', net.hidden)
    linear('mlm.mlp.0', net.mlm.dense)
    layer_norm('mlm.mlp.2', net.mlm.ln)
    linear('mlm.mlp.3', net.mlm.decoder)
    linear('nsp.output', net.nsp.output_layer)
    return m


def load_d2l_torch_weights(net, state_dict):
    """Copy a d2l PyTorch BERTModel's weights into `net` (a BERTModel).

    `state_dict` maps d2l's parameter names to arrays, e.g.
    {k: v.numpy() for k, v in torch_net.state_dict().items()}. `net` must
    be the d2l variant (post-LN, relu, untied) with the same sizes; it
    then gives d2l's outputs (in inference mode, dropout off). Raises
    ValueError on missing or unexpected keys and on shape mismatches.
    """
    arch = net.encoder.architecture()
    if arch['norm_first'] or arch['activation'] != 'relu' or net.tie_weights:
        raise ValueError('load_d2l_torch_weights needs the d2l variant: '
                         "norm_first=False, activation='relu', "
                         'tie_weights=False')
    if not net.built:
        net.build()
    mapping = _d2l_weight_map(net)
    missing = sorted(set(mapping) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(mapping))
    if missing or unexpected:
        raise ValueError(f'state_dict does not match this BERTModel: '
                         f'missing {missing}, unexpected {unexpected}')
    for key, (variable, transpose) in mapping.items():
        value = np.asarray(state_dict[key])
        value = value.T if transpose else value
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f'{key}: shape {value.shape} (after transpose: '
                             f'{transpose}) != {tuple(variable.shape)}')
        variable.assign(value.astype(variable.dtype))
