"""Probing a pretrained BERT: contextual vectors, fill-mask, attention."""
import warnings

import numpy as np
import tensorflow as tf

from sandbox.data import get_tokens_and_segments

# Sentences whose <mask> a model that read WikiText-2 can guess (a year, a
# title, a chart position), printed at the end of a pretraining run
FILL_SENTENCES = ('the film was released in <mask> .',
                  'he was the <mask> of the united states .',
                  'the song peaked at number <mask> on the billboard hot 100')


def encode_pairs(vocab, pairs):
    """Pad (tokens_a, tokens_b or None) pairs into (tokens, segments, lens).

    Words outside the vocabulary are read as <unk>, with one warning.
    """
    rows = [get_tokens_and_segments(list(a), None if b is None else list(b))
            for a, b in pairs]
    unknown = sorted({t for tokens, _ in rows for t in tokens
                      if t not in vocab.token_to_idx})
    if unknown:
        warnings.warn(f'not in the vocabulary, read as <unk>: {unknown}',
                      stacklevel=3)
    max_len = max(len(tokens) for tokens, _ in rows)
    pad = ['<pad>']
    tokens = [vocab[t + pad * (max_len - len(t))] for t, _ in rows]
    segments = [s + [0] * (max_len - len(s)) for _, s in rows]
    valid_lens = [len(t) for t, _ in rows]
    return (tf.constant(tokens, tf.int32), tf.constant(segments, tf.int32),
            tf.constant(valid_lens, tf.int32))


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
    tokens, segments, valid_lens = encode_pairs(vocab, pairs)
    if return_all:
        X, states, weights = net.encoder(tokens, segments, valid_lens,
                                         training=False, return_all=True)
        return X, valid_lens, states, weights
    return net.encoder(tokens, segments, valid_lens, training=False), \
        valid_lens


def get_bert_encoding(net, vocab, tokens_a, tokens_b=None):
    """d2l's get_bert_encoding: (1, T, num_hiddens), dropout off."""
    return get_bert_encodings(net, vocab, [(tokens_a, tokens_b)])[0]


def cosine(u, v):
    """Cosine similarity of two vectors (0 if either is zero)."""
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    norm = np.linalg.norm(u) * np.linalg.norm(v)
    return float(u @ v / norm) if norm else 0.0


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
    contexts = [('a crane is flying'.split(), None),
                ('a crane driver came'.split(),
                 'he just left'.split())]
    vectors = word_in_contexts(net, vocab, 'crane', contexts)
    return cosine(vectors[0], vectors[1])


def fill_mask(net, vocab, tokens_a, tokens_b=None, k=5):
    """Top-k predictions for each '<mask>' in the tokens.

    Returns a list, one per mask in order, of k (token, probability) pairs.
    """
    tokens, segments, valid_lens = encode_pairs(vocab, [(tokens_a, tokens_b)])
    positions = [i for i, t in enumerate(tokens[0].numpy())
                 if t == vocab['<mask>']]
    if not positions:
        raise ValueError('tokens_a/tokens_b: no <mask> token to fill')
    _, mlm_Y_hat, _ = net(tokens, segments, valid_lens,
                          tf.constant([positions], tf.int32), training=False)
    probs = tf.nn.softmax(tf.cast(mlm_Y_hat[0], tf.float32), -1).numpy()
    top = np.argsort(-probs, axis=-1)[:, :k]  # (num_masks, k)
    return [[(vocab.idx_to_token[j], float(p[j])) for j in row]
            for row, p in zip(top, probs)]
