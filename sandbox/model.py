"""d2l's BERT (PyTorch, sec. 15.8) as Keras 3 layers for TensorFlow.

Names and semantics follow `d2l.torch`; `load_d2l_torch_weights` maps a
d2l state_dict onto `BERTModel` so both give the same outputs. Changes:
logits are float32, and a tied MLM decoder is opt-in (the encoder's own
changes are in sandbox.layers). Shapes: B batch, T tokens, H num_hiddens,
P prediction slots, V vocabulary.
"""
import keras
import numpy as np
import tensorflow as tf

from sandbox.layers import (TransformerEncoderBlock, dense_init,
                            embedding_init, layer_norm, register)
from sandbox.unpad import Unpadded


@register
class BERTEncoder(keras.layers.Layer):
    """d2l's BERT encoder: token + segment + learned position embeddings."""

    def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads,
                 num_blks, dropout, max_len=1000, attention_dropout=None,
                 norm_first=False, activation='relu', init='d2l',
                 embedding_std=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.ffn_num_hiddens, self.num_heads = ffn_num_hiddens, num_heads
        self.num_blks, self.dropout_rate = num_blks, dropout
        self.max_len, self.attention_dropout = max_len, attention_dropout
        self.norm_first, self.activation = norm_first, activation
        self.init, self.embedding_std = init, embedding_std
        dtype = self.dtype_policy
        self.token_embedding = keras.layers.Embedding(
            vocab_size, num_hiddens,
            embeddings_initializer=embedding_init(init, embedding_std),
            dtype=dtype, name='token_embedding')
        self.segment_embedding = keras.layers.Embedding(
            2, num_hiddens,
            embeddings_initializer=embedding_init(init, embedding_std),
            dtype=dtype, name='segment_embedding')
        self.blks = [
            TransformerEncoderBlock(
                num_hiddens, ffn_num_hiddens, num_heads, dropout, True,
                attention_dropout, norm_first, activation, init,
                dtype=dtype, name=f'blk_{i}')
            for i in range(num_blks)]
        # Pre-LN leaves the residual stream unnormalised: normalise it once
        self.final_ln = (layer_norm(dtype, 'final_ln') if norm_first
                         else None)

    def build(self, *args, **kwargs):
        """Create all weights; they depend on the config, not on shapes."""
        self.token_embedding.build()
        self.segment_embedding.build()
        # In BERT, positional embeddings are learnable (d2l: randn init)
        self.pos_embedding = self.add_weight(
            shape=(1, self.max_len, self.num_hiddens),
            initializer=embedding_init(self.init, self.embedding_std),
            name='pos_embedding')
        X_shape = (None, None, self.num_hiddens)
        for blk in self.blks:
            blk.build(X_shape)
        if self.final_ln is not None:
            self.final_ln.build(X_shape)

    def call(self, tokens, segments=None, valid_lens=None, training=None,
             return_all=False, unpad=False, length_groups=1):
        """(B, T) ids -> X (B, T, H), or (X, states, weights) if return_all.

        unpad=True runs every layer but attention on the valid tokens only
        (unpad.Unpadded): the same values there, zeros at the padding;
        attention then runs in `length_groups` groups of rows by length.
        """
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
        if unpad and valid_lens is not None and not return_all:
            return self._unpadded_call(X, valid_lens, training,
                                       length_groups)
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

    def _unpadded_call(self, X, valid_lens, training, length_groups):
        """The blocks on X's (N, H) valid tokens; (B, T, H), 0 at padding."""
        layout = Unpadded.from_valid_lens(valid_lens, tf.shape(X)[1],
                                          length_groups)
        Z = layout.unpad(X)  # (N, H)
        for blk in self.blks:
            Z = blk(Z, valid_lens, training=training, unpadded=layout)
        if self.final_ln is not None:
            Z = self.final_ln(Z)
        return layout.pad(Z)  # (B, T, H)

    def architecture(self):
        """The constructor's arguments (BERTModel's too, but tie_weights)."""
        return {'vocab_size': self.vocab_size,
                'num_hiddens': self.num_hiddens,
                'ffn_num_hiddens': self.ffn_num_hiddens,
                'num_heads': self.num_heads, 'num_blks': self.num_blks,
                'dropout': self.dropout_rate, 'max_len': self.max_len,
                'attention_dropout': self.attention_dropout,
                'norm_first': self.norm_first, 'activation': self.activation,
                'init': self.init, 'embedding_std': self.embedding_std}

    def get_config(self):
        """Constructor arguments, for saving."""
        return {**super().get_config(), **self.architecture()}


@register
class MaskLM(keras.layers.Layer):
    """d2l's masked LM head: Dense, ReLU, LayerNorm, Dense(vocab)."""

    def __init__(self, vocab_size, num_hiddens, tie_weights=False,
                 init='d2l', logit_scale=1.0, learn_logit_scale=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.tie_weights, self.init = tie_weights, init
        # Tied logits are (Y @ embeddings.T) * logit_scale + bias; learned:
        # exp(log_logit_scale), a weight that starts at log(logit_scale)
        self.logit_scale, self.learn_logit_scale = (logit_scale,
                                                    learn_logit_scale)
        dtype = self.dtype_policy
        dense = dense_init(init, num_hiddens)
        self.dense = keras.layers.Dense(num_hiddens, activation='relu',
                                        dtype=dtype, name='dense',
                                        **dense)  # mlp.0-1
        self.ln = layer_norm(dtype, 'ln')  # d2l: mlp.2
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
            if self.learn_logit_scale:
                self.log_logit_scale = self.add_weight(
                    shape=(), name='log_logit_scale', dtype='float32',
                    initializer=keras.initializers.Constant(
                        np.log(self.logit_scale)), autocast=False)
        else:
            self.decoder.build(shape)

    def call(self, X, pred_positions, embeddings=None):
        """Float32 logits (B, P, V) at pred_positions (B, P) of X (B, T, H)."""
        # embeddings: the (V, H) token embedding matrix, if tie_weights
        Y = self.features(X, pred_positions)  # (B, P, H)
        if not self.tie_weights:
            return self.decoder(Y)  # (B, P, V)
        kernel, bias = self.decoder_weights(embeddings)  # (H, V), (V,)
        Y = tf.matmul(Y, tf.cast(kernel, Y.dtype))
        return tf.cast(Y, tf.float32) + bias  # (B, P, V)

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
        kernel = tf.transpose(tf.convert_to_tensor(embeddings))  # (H, V)
        if self.learn_logit_scale:
            scale = tf.exp(tf.convert_to_tensor(self.log_logit_scale))
            kernel = kernel * tf.cast(scale, kernel.dtype)
        elif self.logit_scale != 1:
            kernel = kernel * tf.cast(self.logit_scale, kernel.dtype)
        return kernel, tf.convert_to_tensor(self.decoder_bias)

    def get_config(self):
        """Constructor arguments, for saving."""
        return {**super().get_config(), 'vocab_size': self.vocab_size,
                'num_hiddens': self.num_hiddens,
                'tie_weights': self.tie_weights, 'init': self.init,
                'logit_scale': self.logit_scale,
                'learn_logit_scale': self.learn_logit_scale}


@register
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


@register
class BERTModel(keras.Model):
    """d2l's BERT: encoder, MLM head, and an MLP on <cls> for NSP."""

    def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads,
                 num_blks, dropout, max_len=1000, attention_dropout=None,
                 norm_first=False, activation='relu', tie_weights=False,
                 init='d2l', embedding_std=None, learn_logit_scale=False,
                 **kwargs):
        super().__init__(**kwargs)
        # The rest of the architecture lives in self.encoder.architecture()
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.max_len, self.tie_weights = max_len, tie_weights
        self.learn_logit_scale = learn_logit_scale
        dtype = self.dtype_policy
        self.encoder = BERTEncoder(
            vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks,
            dropout, max_len, attention_dropout, norm_first, activation,
            init, embedding_std, dtype=dtype, name='encoder')
        self.hidden = keras.layers.Dense(num_hiddens, activation='tanh',
                                         dtype=dtype, name='hidden',
                                         **dense_init(init, num_hiddens))
        # Tied logits are h . e over num_hiddens unit-variance features:
        # N(0, 1) embeddings start them at std sqrt(num_hiddens) (an MLM
        # loss near 60), so they are scaled by num_hiddens ** -0.5, as in
        # T5; BERT's init (embeddings at 0.02) ties them unscaled
        self.mlm = MaskLM(vocab_size, num_hiddens, tie_weights, init,
                          1.0 if init == 'bert' else num_hiddens ** -0.5,
                          learn_logit_scale, dtype=dtype, name='mlm')
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
             pred_positions=None, training=None, unpad=False,
             length_groups=1):
        """Return (encoded_X (B,T,H), mlm_Y_hat (B,P,V) or None, nsp (B,2)).

        unpad, length_groups: see BERTEncoder.call (with unpad, encoded_X
        is 0 at the padding).
        """
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
                                 training=training, unpad=unpad,
                                 length_groups=length_groups)
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
                'tie_weights': self.tie_weights,
                'learn_logit_scale': self.learn_logit_scale}


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
