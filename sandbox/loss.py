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


def bert_loss(mlm_Y_hat, nsp_Y_hat, mlm_Y, mlm_weights, nsp_y,
              mlm_weight=1.0, nsp_weight=1.0):
    """BERTLoss of logits mlm_Y_hat (B, P, V), nsp_Y_hat (B, 2), in float32."""
    # mlm_Y (B, P) int labels; mlm_weights (B, P), 0 marks padding slots;
    # nsp_y (B,) int labels. Note: the batch order is mlm_weights, mlm_Y.
    mlm_Y_hat = tf.cast(mlm_Y_hat, tf.float32)  # (B, P, V)
    nsp_Y_hat = tf.cast(nsp_Y_hat, tf.float32)  # (B, 2)
    weights = tf.cast(mlm_weights, tf.float32)  # (B, P)
    real = weights != 0  # (B, P)
    # Padding slots get label 0 and logits 0, so neither their labels nor
    # their logits (even NaN) reach the loss or its gradient
    labels = tf.where(real, tf.cast(mlm_Y, tf.int32), 0)  # (B, P)
    logits = tf.where(real[..., None], mlm_Y_hat, 0.)  # (B, P, V)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits)  # (B, P)
    total = tf.reduce_sum(weights)
    mlm_l = tf.math.divide_no_nan(
        tf.reduce_sum(tf.where(real, ce * weights, 0.)), total)
    hits = tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == labels,
                   tf.float32)  # (B, P)
    mlm_acc = tf.math.divide_no_nan(
        tf.reduce_sum(tf.where(real, hits * weights, 0.)), total)

    nsp_y = tf.cast(nsp_y, tf.int32)  # (B,)
    nsp_l = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=nsp_y, logits=nsp_Y_hat))
    nsp_acc = tf.reduce_mean(tf.cast(
        tf.argmax(nsp_Y_hat, -1, output_type=tf.int32) == nsp_y,
        tf.float32))
    l = mlm_weight * mlm_l + nsp_weight * nsp_l
    return BERTLoss(mlm_l, nsp_l, l, mlm_acc, nsp_acc)


def get_batch_loss_bert(net, batch, training=True, mlm_weight=1.0,
                        nsp_weight=1.0):
    """BERTLoss of `net` on a batch in d2l's order (a data.BERTBatch)."""
    (tokens, segments, valid_lens, pred_positions, mlm_weights, mlm_Y,
     nsp_y) = batch
    _, mlm_Y_hat, nsp_Y_hat = net(tokens, segments,
                                  tf.reshape(valid_lens, (-1,)),
                                  pred_positions, training=training)
    return bert_loss(mlm_Y_hat, nsp_Y_hat, mlm_Y, mlm_weights, nsp_y,
                     mlm_weight, nsp_weight)
