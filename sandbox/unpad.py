"""Layouts that drop a batch's padding, and attention's length groups.

Every layer but attention treats tokens one by one, so it can run on the
(N, H) valid tokens alone (what FasterTransformer calls removing
padding): the valid tokens' values are the same, and padding, which
attention masks out and no loss reads, costs nothing. Attention puts the
tokens back on a grid: the batch's (B, T) one, or, with length groups,
one (B_g, T_g) grid for each group of rows of similar length, T_g the
group's longest row. That is exact too (the keys it leaves out are
padding, which gets weight 0), and cheaper, since attention's work grows
with T_g squared. Shapes: B batch, T tokens, N valid tokens.
"""
from typing import NamedTuple

import tensorflow as tf


class LengthGroup(NamedTuple):
    """A group of a batch's rows, on the grid of its longest row."""
    rows: tf.Tensor        # (B_g,) int32: the rows, in the batch
    valid_lens: tf.Tensor  # (B_g,) int32: their lengths
    size: tf.Tensor        # () int32: N_g, their valid tokens
    layout: 'Unpadded'     # its N_g tokens on its (B_g, T_g) grid


class Unpadded(NamedTuple):
    """Where a (B, T) batch's N valid tokens sit, to drop and restore padding.

    The tokens are listed row by row: in the batch's order, or, with
    length groups, shortest row first, so that each group's tokens are
    consecutive (`groups` in that order). Both directions and their
    gradients are row gathers (TensorFlow's scatters are slower).
    """
    index: tf.Tensor    # (N,) int32: b * T + t of each valid token
    inverse: tf.Tensor  # (B * T,) int32: the token at b * T + t, N if none
    shape: tf.Tensor    # (2,) int32: B, T
    groups: tuple = ()  # LengthGroup each, if attention runs by groups

    @classmethod
    def from_valid_lens(cls, valid_lens, T, num_groups=1):
        """The layout of a batch whose rows hold valid_lens (B,) tokens.

        num_groups > 1 sorts the rows by length and splits them into that
        many groups of equal size (within one row) for attention.
        """
        valid_lens = tf.cast(valid_lens, tf.int32)
        B = tf.size(valid_lens)
        order = tf.range(B) if num_groups == 1 else tf.argsort(
            valid_lens, stable=True)  # (B,) rows in token order
        lens = tf.gather(valid_lens, order)  # (B,)
        rank_t = tf.cast(tf.where(tf.sequence_mask(lens, T)),
                         tf.int32)  # (N, 2): each token's rank and t
        index = tf.gather(order, rank_t[:, 0]) * T + rank_t[:, 1]  # (N,)
        starts = tf.cumsum(lens, exclusive=True)  # (B,) by rank
        first = tf.gather(starts, tf.math.invert_permutation(order))  # (B,)
        t = tf.range(T)
        # padding points past the last token, at the zero row that
        # _pad_rows adds
        inverse = tf.where(t[None] < valid_lens[:, None],
                           first[:, None] + t[None],
                           tf.size(index))  # (B, T)
        inverse = tf.reshape(inverse, (-1,))  # (B * T,)
        if num_groups == 1:
            return cls(index, inverse, tf.stack([B, T]))
        bounds = [g * B // num_groups for g in range(num_groups + 1)]
        groups = []
        for r0, r1 in zip(bounds[:-1], bounds[1:]):
            lens_g = lens[r0:r1]  # (B_g,)
            T_g = tf.reduce_max(tf.concat([lens_g, [0]], 0))
            groups.append(LengthGroup(order[r0:r1], lens_g,
                                      tf.reduce_sum(lens_g),
                                      cls.from_valid_lens(lens_g, T_g)))
        return cls(index, inverse, tf.stack([B, T]), tuple(groups))

    def unpad(self, X):
        """(B, T, ...) -> (N, ...): the valid tokens, in the layout's order."""
        rest = tf.shape(X)[2:]
        flat = tf.reshape(X, tf.concat([[-1], rest], 0))  # (B * T, ...)
        return _unpad_rows(flat, self.index, self.inverse)

    def pad(self, X):
        """(N, ...) -> (B, T, ...), zeros at the padding."""
        flat = _pad_rows(X, self.inverse, self.index)  # (B * T, ...)
        return tf.reshape(flat, tf.concat([self.shape, tf.shape(X)[1:]], 0))

    def split(self, X):
        """(N, ...) -> each group's (N_g, ...) tokens."""
        return tf.split(X, tf.stack([g.size for g in self.groups]))


# Each is the other's gradient: unpadding picks rows, padding puts them back


@tf.custom_gradient
def _unpad_rows(X, index, inverse):
    """X[index] (N, ...) of X (B * T, ...)."""
    return tf.gather(X, index), lambda d: (
        _pad_rows(d, inverse, index), None, None)


@tf.custom_gradient
def _pad_rows(Z, inverse, index):
    """(B * T, ...) rows of Z (N, ...) at inverse, zeros where it is N."""
    zero = tf.zeros(tf.concat([[1], tf.shape(Z)[1:]], 0), Z.dtype)
    Z0 = tf.concat([Z, zero], 0)  # (N + 1, ...), even when N is 0
    return tf.gather(Z0, inverse), lambda d: (
        _unpad_rows(d, index, inverse), None, None)
