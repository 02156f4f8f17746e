"""Tests for sandbox.unpad: the valid tokens' layout and length groups."""
import numpy as np
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from sandbox.unpad import Unpadded


def test_unpadded_layout_round_trips():
    layout = Unpadded.from_valid_lens(tf.constant([2, 0, 3]), 4)
    X = tf.reshape(tf.range(24, dtype=tf.float32), (3, 4, 2))  # (B, T, H)
    Z = layout.unpad(X)  # (N, H)
    assert Z.numpy()[:, 0].tolist() == [0, 2, 16, 18, 20]
    padded = layout.pad(Z).numpy()
    assert padded[0, :2].tolist() == X.numpy()[0, :2].tolist()
    assert not padded[1].any() and not padded[0, 2:].any()


def test_unpadding_gradients_are_each_others_gathers():
    layout = Unpadded.from_valid_lens(tf.constant([2, 0, 3]), 4)
    weights = tf.reshape(tf.range(24, dtype=tf.float32), (3, 4, 2))
    Z = tf.Variable(tf.ones((5, 2)))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(layout.pad(Z) * weights)
    # each valid token's gradient is the weight where pad put it
    assert tape.gradient(total, Z).numpy()[:, 0].tolist() == [0, 2, 16, 18,
                                                               20]
    X = tf.Variable(tf.ones((3, 4, 2)))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(layout.unpad(X) * layout.unpad(weights))
    grad = tape.gradient(total, X).numpy()
    valid = np.arange(4)[None] < np.array([2, 0, 3])[:, None]  # (B, T)
    np.testing.assert_array_equal(grad[valid], weights.numpy()[valid])
    assert not grad[~valid].any()  # the padding gets no gradient



def test_length_groups_list_the_rows_shortest_first():
    layout = Unpadded.from_valid_lens(tf.constant([3, 1, 0, 2]), 4, 2)
    X = tf.reshape(tf.range(16, dtype=tf.float32), (4, 4, 1))  # (B, T, H)
    Z = layout.unpad(X)[:, 0].numpy()  # rows 2, 1 | 3, 0 by length
    assert Z.tolist() == [4, 12, 13, 0, 1, 2]
    first, second = layout.groups
    assert first.rows.numpy().tolist() == [2, 1]
    assert second.rows.numpy().tolist() == [3, 0]
    assert first.layout.shape.numpy().tolist() == [2, 1]  # T_g = 1
    assert second.layout.shape.numpy().tolist() == [2, 3]


@settings(max_examples=40)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=9),
       st.integers(2, 5), st.integers(0, 3))
def test_length_groups_partition_the_tokens_exactly(lens, num_groups, extra):
    T = max(lens) + extra
    valid_lens = tf.constant(lens, tf.int32)
    layout = Unpadded.from_valid_lens(valid_lens, T, num_groups)
    B = len(lens)
    X = tf.constant(np.random.default_rng(0).normal(size=(B, T, 2)),
                    tf.float32)
    valid = np.arange(T)[None] < np.array(lens)[:, None]  # (B, T)
    padded = layout.pad(layout.unpad(X)).numpy()
    np.testing.assert_array_equal(padded[valid], X.numpy()[valid])
    assert not padded[~valid].any()
    assert Unpadded.from_valid_lens(valid_lens, T).groups == ()
    # groups: every row once, sizes within one, each on its longest row
    rows = np.concatenate([g.rows.numpy() for g in layout.groups])
    assert sorted(rows) == list(range(B)) and len(layout.groups) == \
        num_groups
    sizes = [len(g.rows.numpy()) for g in layout.groups]
    assert max(sizes) - min(sizes) <= 1
    for g, tokens in zip(layout.groups, layout.split(layout.unpad(X))):
        r, T_g = g.rows.numpy(), int(g.layout.shape[1])
        assert T_g == max([lens[i] for i in r], default=0)
        grid = g.layout.pad(tokens).numpy()  # (B_g, T_g, 2)
        want = X.numpy()[r, :T_g] * valid[r, :T_g, None]
        np.testing.assert_array_equal(grid, want)
