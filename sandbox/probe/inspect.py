"""Inspecting a trained BERT: encodings, fill-mask, attention, "crane".

Inputs are words; words outside the vocabulary are read as <unk>, with one
warning that names them. The net runs in inference mode (dropout off), so
repeated calls give identical vectors.
"""
import warnings

import numpy as np
import tensorflow as tf

from sandbox.data import get_tokens_and_segments
from sandbox.probe.metrics import cosine

# d2l's "crane" pair (sec. 15.8): the bird, then the machine
CRANE_CONTEXTS = (('a crane is flying'.split(), None),
                  ('a crane driver came'.split(), 'he just left'.split()))
# Sentences whose <mask> a model that read WikiText-2 can guess (a year, a
# title, a chart position), printed at the end of a pretraining run
FILL_SENTENCES = ('the film was released in <mask> .',
                  'he was the <mask> of the united states .',
                  'the song peaked at number <mask> on the billboard hot 100')


def pad(token_rows, segment_rows, pad_id):
    """Pad id rows and their segments into (tokens, segments, valid_lens).

    Returns int32 arrays (N, T), (N, T) and (N,), T the longest row.
    """
    valid_lens = np.array([len(row) for row in token_rows], np.int32)
    tokens = np.full((len(token_rows), valid_lens.max()), pad_id, np.int32)
    segments = np.zeros_like(tokens)
    for i, (row, seg) in enumerate(zip(token_rows, segment_rows)):
        tokens[i, :len(row)] = row
        segments[i, :len(seg)] = seg
    return tokens, segments, valid_lens


def encode_pairs(vocab, pairs):
    """Pad (tokens_a, tokens_b or None) word pairs for the net.

    Returns:
        (tokens, segments, valid_lens) tensors and the '<cls> a <sep> b
        <sep>' words of each pair.
    """
    rows = [get_tokens_and_segments(list(a), None if b is None else list(b))
            for a, b in pairs]
    unknown = sorted({t for words, _ in rows for t in words
                      if t not in vocab.token_to_idx})
    if unknown:
        warnings.warn(f'not in the vocabulary, read as <unk>: {unknown}',
                      stacklevel=3)
    arrays = pad([vocab[words] for words, _ in rows],
                 [segments for _, segments in rows], vocab['<pad>'])
    return tuple(tf.constant(a) for a in arrays), [w for w, _ in rows]


def encode_sentences(vocab, sentences):
    """Pad id arrays as '<cls> s <sep>' into (tokens, segments, valid_lens)."""
    rows = [[vocab['<cls>'], *s, vocab['<sep>']] for s in sentences]
    return pad(rows, [[0] * len(row) for row in rows], vocab['<pad>'])


def in_vocab(vocab, pairs):
    """Whether every word of (tokens_a, tokens_b or None) pairs is known."""
    return all(w in vocab.token_to_idx
               for a, b in pairs for w in list(a) + list(b or []))


def get_bert_encodings(net, vocab, pairs, return_all=False):
    """Contextual vectors of a batch of pairs, in inference mode.

    Args:
        pairs: a list of (tokens_a, tokens_b or None), tokens as strings.
        return_all: also return per-layer hidden states and attention.
    Returns:
        (encoded_X (N, T, num_hiddens), valid_lens (N,)), plus the lists of
        hidden states (N, T, H) and attention weights (N, heads, T, T) when
        `return_all`.
    """
    (tokens, segments, valid_lens), _ = encode_pairs(vocab, pairs)
    if return_all:
        X, states, weights = net.encoder(tokens, segments, valid_lens,
                                         training=False, return_all=True)
        return X, valid_lens, states, weights
    return net.encoder(tokens, segments, valid_lens, training=False), \
        valid_lens


def get_bert_encoding(net, vocab, tokens_a, tokens_b=None):
    """d2l's get_bert_encoding: (1, T, num_hiddens), dropout off."""
    return get_bert_encodings(net, vocab, [(tokens_a, tokens_b)])[0]


def word_in_contexts(net, vocab, word, contexts):
    """Vectors of `word` in each context (its first occurrence in each).

    Args:
        contexts: (tokens_a, tokens_b or None) pairs that contain `word`.
    Returns:
        (len(contexts), num_hiddens) numpy array.
    """
    X, _ = get_bert_encodings(net, vocab, contexts)
    rows = []
    for i, (a, b) in enumerate(contexts):
        tokens = get_tokens_and_segments(list(a), b and list(b))[0]
        if word not in tokens:
            raise ValueError(f'word {word!r} is not in context {i}: {tokens}')
        rows.append(X[i, tokens.index(word)].numpy())
    return np.stack(rows)


def crane_probe(net, vocab):
    """d2l's example: cosine of "crane" the bird vs the machine."""
    vectors = word_in_contexts(net, vocab, 'crane', CRANE_CONTEXTS)
    return cosine(vectors[0], vectors[1])


def fill_mask(net, vocab, tokens_a, tokens_b=None, k=5):
    """Top-k predictions for each '<mask>' in the tokens.

    Returns a list, one per mask in order, of k (token, probability) pairs.
    """
    (tokens, segments, valid_lens), [words] = encode_pairs(
        vocab, [(tokens_a, tokens_b)])
    positions = [i for i, t in enumerate(words) if t == '<mask>']
    if not positions:
        raise ValueError('tokens_a/tokens_b: no <mask> token to fill')
    _, mlm_Y_hat, _ = net(tokens, segments, valid_lens,
                          tf.constant([positions], tf.int32), training=False)
    probs = tf.nn.softmax(tf.cast(mlm_Y_hat[0], tf.float32), -1).numpy()
    top = np.argsort(-probs, axis=-1)[:, :k]  # (num_masks, k)
    return [[(vocab.idx_to_token[j], float(p[j])) for j in row]
            for row, p in zip(top, probs)]


def attention_maps(net, vocab, tokens_a, tokens_b=None):
    """(input words, weights (num_blks, heads, T, T)) of one pair."""
    (tokens, segments, valid_lens), [words] = encode_pairs(
        vocab, [(tokens_a, tokens_b)])
    _, _, weights = net.encoder(tokens, segments, valid_lens,
                                training=False, return_all=True)
    return words, np.stack([w.numpy()[0] for w in weights])
