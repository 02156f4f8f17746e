"""Validation MLM by slot kind: `<mask>`, a random word, the word kept.

80/10/10 shows the model three kinds of predicted slot; an arm trained on
another mix is scored, on the fixed validation set, on kinds it never
saw. Scoring each kind apart lets arms be compared on the `<mask>` slots
alone, which every arm trains on.
"""
import numpy as np
import tensorflow as tf

from sandbox.loss import mlm_slot_losses

# A slot's kind by what its input shows: <mask>, another word, its own
SLOT_KINDS = ('mask', 'random', 'kept')


def slot_kinds(tokens, pred_positions, labels, mask_id):
    """(B, P) index into SLOT_KINDS of each prediction slot.

    A random draw of the slot's own word counts as kept: the input shows
    the answer, as for a kept word.
    """
    shown = np.take_along_axis(tokens, pred_positions, 1)  # (B, P)
    return np.where(shown == mask_id, 0, np.where(shown == labels, 2, 1))


def scored_slots(net, val_iter):
    """Per batch of val_iter, dropout off: (batch, logits (B, P, V), each
    slot's cross-entropy and hit (B, P), its float64 weight (B, P))."""
    for batch in val_iter:
        tokens, segments, valid_lens, positions, weights, labels, _ = batch
        _, logits, _ = net(tokens, segments, tf.reshape(valid_lens, (-1,)),
                           positions, training=False)  # (B, P, V)
        ce, hits = (t.numpy() for t in mlm_slot_losses(
            logits, labels, weights))  # (B, P) each
        yield batch, logits, ce, hits, np.asarray(weights, np.float64)


def validation_by_slot(net, val_iter, mask_id):
    """{kind: {'l', 'acc', 'n'}} over the weighted slots of val_iter.

    The MLM loss and accuracy (argmax is the label) of each SLOT_KINDS
    kind, weighted by the MLM weights as validation's, dropout off; 'n' the
    kind's summed weight; None for a kind with no slot.
    """
    sums = np.zeros((len(SLOT_KINDS), 3))  # kind x (loss, hits, weight)
    for batch, _, ce, hits, w in scored_slots(net, val_iter):
        kinds = slot_kinds(batch.tokens.numpy(), batch.pred_positions.numpy(),
                           np.asarray(batch.mlm_Y, np.int64), mask_id)
        for k in range(len(SLOT_KINDS)):
            wk = w * (kinds == k)
            sums[k] += (wk * ce).sum(), (wk * hits).sum(), wk.sum()
    return {name: None if n == 0 else
            {'l': float(l / n), 'acc': float(h / n), 'n': float(n)}
            for name, (l, h, n) in zip(SLOT_KINDS, sums)}
