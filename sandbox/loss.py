"""BERT's pretraining loss (MLM + NSP), after d2l's _get_batch_loss_bert.

Fixes to d2l: its per-slot MLM losses were broadcast (N,) * (N, 1)
against the weights, so padding slots counted; here each slot's
cross-entropy is weighted by its own mlm_weight, padding slots contribute
exactly nothing (values and gradients), and an all-padding batch gives
an MLM loss of 0 instead of relying on a 1e-8 in the denominator.
"""
from typing import NamedTuple

import tensorflow as tf


class BERTLoss(NamedTuple):
    """Losses and accuracies; the first three unpack like d2l's."""
    mlm_l: tf.Tensor    # () weighted mean MLM cross-entropy
    nsp_l: tf.Tensor    # () mean NSP cross-entropy
    l: tf.Tensor        # () mlm_weight * mlm_l + nsp_weight * nsp_l
    mlm_acc: tf.Tensor  # () weighted MLM accuracy
    nsp_acc: tf.Tensor  # () NSP accuracy


def nsp_loss(nsp_Y_hat, nsp_y):
    """Mean NSP cross-entropy and accuracy of logits nsp_Y_hat (B, 2)."""
    nsp_Y_hat = tf.cast(nsp_Y_hat, tf.float32)  # (B, 2)
    nsp_y = tf.cast(nsp_y, tf.int32)  # (B,)
    nsp_l = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=nsp_y, logits=nsp_Y_hat))
    nsp_acc = tf.reduce_mean(tf.cast(
        tf.argmax(nsp_Y_hat, -1, output_type=tf.int32) == nsp_y,
        tf.float32))
    return nsp_l, nsp_acc


def mlm_slot_losses(mlm_Y_hat, mlm_Y, mlm_weights):
    """Each slot's MLM cross-entropy and hit (B, P), float32, 0 at padding.

    mlm_Y_hat (B, P, V) logits; mlm_Y (B, P) int labels; mlm_weights
    (B, P), 0 marks padding slots.
    """
    mlm_Y_hat = tf.cast(mlm_Y_hat, tf.float32)  # (B, P, V)
    real = tf.cast(mlm_weights, tf.float32) != 0  # (B, P)
    # Padding slots get label 0 and logits 0, so neither their labels nor
    # their logits (even NaN) reach the loss or its gradient
    labels = tf.where(real, tf.cast(mlm_Y, tf.int32), 0)  # (B, P)
    logits = tf.where(real[..., None], mlm_Y_hat, 0.)  # (B, P, V)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits)  # (B, P)
    hits = tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == labels,
                   tf.float32)  # (B, P)
    return tf.where(real, ce, 0.), tf.where(real, hits, 0.)


def bert_loss(mlm_Y_hat, nsp_Y_hat, mlm_Y, mlm_weights, nsp_y,
              mlm_weight=1.0, nsp_weight=1.0):
    """BERTLoss of logits mlm_Y_hat (B, P, V), nsp_Y_hat (B, 2), in float32."""
    # mlm_Y (B, P) int labels; mlm_weights (B, P), 0 marks padding slots;
    # nsp_y (B,) int labels. Note: the batch order is mlm_weights, mlm_Y.
    weights = tf.cast(mlm_weights, tf.float32)  # (B, P)
    ce, hits = mlm_slot_losses(mlm_Y_hat, mlm_Y, weights)  # (B, P) each
    total = tf.reduce_sum(weights)
    mlm_l = tf.math.divide_no_nan(tf.reduce_sum(ce * weights), total)
    mlm_acc = tf.math.divide_no_nan(tf.reduce_sum(hits * weights), total)

    nsp_l, nsp_acc = nsp_loss(nsp_Y_hat, nsp_y)
    l = mlm_weight * mlm_l + nsp_weight * nsp_l
    return BERTLoss(mlm_l, nsp_l, l, mlm_acc, nsp_acc)


def linear_cross_entropy(Y, kernel, bias, labels):
    """Cross-entropy and hits of softmax(Y @ kernel + bias), fused, per row.

    Y (N, H) in the compute dtype (float32, or bfloat16 under mixed
    precision: the matmuls then run in bfloat16, the exponentials in
    float32); kernel (H, V), bias (V,); labels (N,) int. Returns float32
    (N,) cross-entropies and (N,) hits (1. where the argmax is the label).

    The same values as sparse_softmax_cross_entropy_with_logits on the
    logits, up to rounding, at a fraction of the cost. The forward pass
    keeps only E = exp(logits - shift) (N, V) for the backward pass, with
    shift 0 where the logits allow (no pass to subtract it) and the max
    where they do not, never normalised: softmax - one_hot = E / S -
    one_hot, so the backward pass feeds E straight to the two matmuls,
    scaling the (N, H) side by 1 / S instead of the (N, V) one, and adds
    the one-hot part as a gather and a segment sum over the N labels.
    """
    return _linear_cross_entropy(Y, kernel, bias, tf.cast(labels, tf.int32))


# Top logits within ±SHIFT_FREE let the softmax skip subtracting them
SHIFT_FREE = 30.0


@tf.custom_gradient
def _linear_cross_entropy(Y, kernel, bias, labels):
    W = tf.cast(kernel, Y.dtype)  # (H, V)
    # The bias as the weight of a constant feature 1: no pass to add it
    Wb = tf.concat([W, tf.cast(bias, Y.dtype)[None]], 0)  # (H + 1, V)
    logits = tf.matmul(tf.concat([Y, tf.ones_like(Y[:, :1])], 1),
                       Wb)  # (N, V)
    logits = tf.cast(logits, tf.float32)  # (N, V)
    top = tf.argmax(logits, -1, output_type=tf.int32)  # (N,)

    def at(X, index):  # X[i, index[i]]: (N,)
        return tf.gather(X, index, batch_dims=1)

    top_logit = at(logits, top)  # (N,)
    # E = exp(logits - shift) for any per-row shift: softmax is E / S
    # whatever it is. Shift 0 skips a pass over the (N, V) logits, and is
    # safe while every row's top logit is in ±SHIFT_FREE: then S lies in
    # [e^-SHIFT_FREE, V e^SHIFT_FREE], far inside float32. Otherwise the
    # top logit: E in (0, 1] and S >= 1.
    free = tf.reduce_all(tf.abs(top_logit) < SHIFT_FREE)
    shift = tf.where(free, tf.zeros_like(top_logit), top_logit)  # (N,)
    E = tf.cond(free, lambda: tf.exp(logits),
                lambda: tf.exp(logits - top_logit[:, None]))  # (N, V)
    S = tf.reduce_sum(E, -1)  # (N,)
    ce = tf.math.log(S) + shift - at(logits, labels)  # lse - label
    hits = tf.cast(top == labels, tf.float32)
    E = tf.cast(E, Y.dtype)  # (N, V) what the backward matmuls read

    def grad(d_ce, d_hits):
        del d_hits  # hits are counts, not differentiable
        f32 = tf.float32
        r = (d_ce / S)[:, None]  # (N, 1) row scales, softmax's 1 / S
        # d ce / d logits = E / S - one_hot(labels): E through the matmuls
        # in the compute dtype, the one-hot part in float32, as the label
        # columns of the kernel (d_Y) and a segment sum of Y's rows (d_W)
        label_W = tf.transpose(tf.cast(tf.gather(kernel, labels, axis=1),
                                       f32))  # (N, H)
        d_Y = tf.cast(tf.cast(tf.matmul(E, W, transpose_b=True), f32) * r
                      - label_W * d_ce[:, None], Y.dtype)  # (N, H)
        # The bias is the weight of a constant feature 1: one matmul
        Y1 = tf.concat([tf.cast(Y, f32), tf.ones_like(r)], 1)  # (N, H + 1)
        d_Wb = tf.cast(tf.matmul(tf.cast(Y1 * r, Y.dtype), E,
                                 transpose_a=True), f32)  # (H + 1, V)
        one_hot = tf.math.unsorted_segment_sum(
            Y1 * d_ce[:, None], labels, tf.shape(W)[1])  # (V, H + 1)
        d_Wb -= tf.transpose(one_hot)  # (H + 1, V)
        return (d_Y, tf.cast(d_Wb[:-1], kernel.dtype),
                tf.cast(d_Wb[-1], bias.dtype), None)

    return (ce, hits), grad


def get_batch_loss_bert(net, batch, training=True, mlm_weight=1.0,
                        nsp_weight=1.0, fused=False, static_shapes=False,
                        unpad=False, length_groups=1):
    """BERTLoss of `net` on a batch in d2l's order (a data.BERTBatch).

    fused=True, what training uses, computes the MLM loss from the MLM
    head's features with `linear_cross_entropy`, at the real
    (nonzero-weight) slots only: the same losses up to float rounding,
    faster and in less memory. Under mixed precision, it also runs the
    vocabulary projection in bfloat16. static_shapes=True (for XLA) keeps
    all slots, padding ones zeroed. unpad=True runs the encoder on the
    valid tokens only, its attention in `length_groups` groups of rows by
    length (BERTEncoder.call): the same losses up to rounding.
    """
    (tokens, segments, valid_lens, pred_positions, mlm_weights, mlm_Y,
     nsp_y) = batch
    valid_lens = tf.reshape(valid_lens, (-1,))
    if not fused:
        _, mlm_Y_hat, nsp_Y_hat = net(tokens, segments, valid_lens,
                                      pred_positions, training=training,
                                      unpad=unpad,
                                      length_groups=length_groups)
        return bert_loss(mlm_Y_hat, nsp_Y_hat, mlm_Y, mlm_weights, nsp_y,
                         mlm_weight, nsp_weight)
    encoded_X, _, nsp_Y_hat = net(
        tokens, segments, valid_lens, training=training, unpad=unpad,
        length_groups=length_groups)  # (B, T, H), (B, 2)
    mlm_l, mlm_acc = _fused_mlm_loss(net, encoded_X, pred_positions,
                                     mlm_weights, mlm_Y, static_shapes)
    nsp_l, nsp_acc = nsp_loss(nsp_Y_hat, nsp_y)
    l = mlm_weight * mlm_l + nsp_weight * nsp_l
    return BERTLoss(mlm_l, nsp_l, l, mlm_acc, nsp_acc)


def _fused_mlm_loss(net, encoded_X, pred_positions, mlm_weights, mlm_Y,
                    static_shapes=False):
    """Weighted mean MLM loss and accuracy, via linear_cross_entropy."""
    weights = tf.cast(mlm_weights, tf.float32)  # (B, P)
    labels = tf.cast(mlm_Y, tf.int32)  # (B, P)
    H = encoded_X.shape[-1]
    if static_shapes:  # all B * P slots
        Y = tf.reshape(net.mlm.features(encoded_X, pred_positions),
                       (-1, H))  # (B * P, H)
        w, labels = tf.reshape(weights, (-1,)), tf.reshape(labels, (-1,))
        # Padding rows: zero features, label 0, so finite (bias) logits
        # and no gradient, whatever the model computed there
        Y = tf.where((w != 0)[:, None], Y, tf.zeros_like(Y))
        labels = tf.where(w != 0, labels, 0)
    else:  # only the N real slots
        real = tf.where(weights != 0)  # (N, 2): (row, slot)
        T = tf.shape(encoded_X, out_type=tf.int64)[1]
        # Each real slot's position in the flattened (B * T) tokens
        flat = real[:, 0] * T + tf.cast(tf.gather_nd(pred_positions, real),
                                        tf.int64)  # (N,)
        X = tf.reshape(encoded_X, (1, -1, H))  # (1, B * T, H)
        Y = net.mlm.features(X, flat[None])[0]  # (N, H)
        w, labels = tf.gather_nd(weights, real), tf.gather_nd(labels, real)
    embeddings = (net.encoder.token_embedding.embeddings
                  if net.mlm.tie_weights else None)
    ce, hits = linear_cross_entropy(
        Y, *net.mlm.decoder_weights(embeddings), labels)  # (N,)
    total = tf.reduce_sum(w)
    return (tf.math.divide_no_nan(tf.reduce_sum(ce * w), total),
            tf.math.divide_no_nan(tf.reduce_sum(hits * w), total))
