"""NSP sentence pairs from an encoded corpus, as d2l draws them.

make_sentence_pairs draws them once with numpy (d2l: the random B
sentences are fixed for good); pair_drawer draws them in TensorFlow from
a stateless seed, so that a tf.data pipeline can draw every epoch's own.
"""
from typing import NamedTuple

import numpy as np
import tensorflow as tf


class SentencePairs(NamedTuple):
    """Unmasked NSP examples as padded arrays (tensors if drawn by
    pair_drawer)."""
    tokens: np.ndarray         # (n, max_len) int32
    segments: np.ndarray       # (n, max_len) int32
    valid_lens: np.ndarray     # (n,) int32
    nsp_y: np.ndarray          # (n,) int32


def make_sentence_pairs(enc, vocab, max_len, rng, nsp=True, nsp_rate=0.5):
    """Build d2l's NSP examples: adjacent pairs, some B drawn at random.

    Each adjacent sentence pair of a paragraph is kept with probability
    1 - nsp_rate (label 1); otherwise B becomes a random sentence of a random
    paragraph (label 0). Pairs longer than `max_len` with <cls> and two <sep>
    are skipped, as d2l skips them.
    """
    a, b, is_next = _draw(enc, max_len, rng, nsp, nsp_rate)
    pairs = _assemble_pairs(_corpus_tensors(enc), vocab, max_len, a, b,
                            is_next)
    return SentencePairs(*(t.numpy() for t in pairs))


def num_sentence_pairs(enc, max_len, rng, nsp=True, nsp_rate=0.5):
    """How many pairs make_sentence_pairs keeps: its draw, not assembled."""
    return len(_draw(enc, max_len, rng, nsp, nsp_rate)[0])


def _draw(enc, max_len, rng, nsp, nsp_rate):
    """d2l's draw with numpy: the kept pairs' (a, b, is_next), each (n,)."""
    a = _first_sentences(enc)
    if nsp:
        is_next = rng.random(len(a)) >= nsp_rate
        para = rng.integers(len(enc.paragraph_lens), size=len(a))
        random_b = enc.paragraph_starts[para] + (
            rng.random(len(a)) * enc.paragraph_lens[para]).astype(np.int64)
        b = np.where(is_next, a + 1, random_b)
    else:
        is_next, b = np.ones(len(a), dtype=bool), a + 1
    len_a, len_b = enc.sentence_lens[a], enc.sentence_lens[b]
    keep = len_a + len_b + 3 <= max_len
    if not keep.any():
        shortest = int((len_a + len_b).min()) + 3 if len(a) else 'a pair'
        raise ValueError(f'max_len={max_len} is too small: no sentence pair '
                         f'of the corpus fits (the shortest needs {shortest})')
    return a[keep], b[keep], is_next[keep]


def _first_sentences(enc):
    """Every sentence that a sentence of its paragraph follows: (n,)."""
    is_last = np.zeros(len(enc.sentence_lens), dtype=bool)
    is_last[enc.paragraph_starts + enc.paragraph_lens - 1] = True
    return np.flatnonzero(~is_last)


def _corpus_tensors(enc):
    """A data.EncodedCorpus as one of int32 tensors."""
    return type(enc)(*(tf.constant(x, tf.int32) for x in enc))


def pair_drawer(enc, vocab, max_len, nsp_rate=0.5):
    """make_sentence_pairs' draw in TensorFlow: a function seed -> pairs.

    The same distribution as d2l's (and make_sentence_pairs'), other
    draws: `draw(seed)`, for a stateless seed (2,), returns SentencePairs
    of tensors, as many pairs as fit in `max_len` (it varies by draw).
    """
    a = tf.constant(_first_sentences(enc), tf.int32)  # (n,)
    enc = _corpus_tensors(enc)

    def draw(seed):
        seeds = tf.random.experimental.stateless_split(seed, 3)  # (3, 2)
        n = tf.shape(a)
        is_next = tf.random.stateless_uniform(
            n, seeds[0], dtype=tf.float64) >= nsp_rate
        para = tf.random.stateless_uniform(
            n, seeds[1], maxval=tf.size(enc.paragraph_lens), dtype=tf.int32)
        random_b = tf.gather(enc.paragraph_starts, para) + tf.cast(
            tf.random.stateless_uniform(n, seeds[2], dtype=tf.float64)
            * tf.cast(tf.gather(enc.paragraph_lens, para), tf.float64),
            tf.int32)
        b = tf.where(is_next, a + 1, random_b)
        keep = tf.gather(enc.sentence_lens, a) + tf.gather(
            enc.sentence_lens, b) + 3 <= max_len
        return _assemble_pairs(enc, vocab, max_len, a[keep], b[keep],
                               is_next[keep])

    return draw


def _assemble_pairs(enc, vocab, max_len, a, b, is_next):
    """Sentence pairs (a[i], b[i]) as padded (n, max_len) tensors.

    `enc` holds int32 tensors; a, b are sentence indices, every pair fits.
    """
    len_a = tf.gather(enc.sentence_lens, a)[:, None]  # (n, 1)
    len_b = tf.gather(enc.sentence_lens, b)[:, None]  # (n, 1)
    pos = tf.range(max_len)[None, :]  # (1, max_len)
    in_a = (pos >= 1) & (pos <= len_a)
    in_b = (pos >= len_a + 2) & (pos <= len_a + len_b + 1)
    # Index into the flat ids; clipped where unused, masked out below
    last = tf.size(enc.ids) - 1
    idx_a = tf.clip_by_value(tf.gather(enc.sentence_starts, a)[:, None]
                             + pos - 1, 0, last)  # (n, max_len)
    idx_b = tf.clip_by_value(tf.gather(enc.sentence_starts, b)[:, None]
                             + pos - len_a - 2, 0, last)  # (n, max_len)
    is_sep = (pos == len_a + 1) | (pos == len_a + len_b + 2)
    tokens = tf.where(pos == 0, vocab['<cls>'], vocab['<pad>'])
    tokens = tf.where(in_a, tf.gather(enc.ids, idx_a), tokens)
    tokens = tf.where(in_b, tf.gather(enc.ids, idx_b), tokens)
    tokens = tf.where(is_sep, vocab['<sep>'], tokens)  # (n, max_len)
    segments = (pos >= len_a + 2) & (pos <= len_a + len_b + 2)
    return SentencePairs(tokens, tf.cast(segments, tf.int32),
                         (len_a + len_b + 3)[:, 0],
                         tf.cast(is_next, tf.int32))
