"""Probe metrics on plain arrays: similarity, rank, collapse, top-k.

Per layer, on held-out sentences, after Ethayarajh (2019), "How Contextual
are Contextualized Word Representations?":

- self-similarity: mean cosine of one word's vectors across the different
  sentences it occurs in, averaged over words (1: not contextual at all);
- intra-sentence similarity: mean cosine of a sentence's word vectors with
  their mean, averaged over sentences;
- anisotropy: mean cosine of vectors from different sentences, the baseline
  that the two above are adjusted by (``*_adj = value - anisotropy``);
- maximum explainable variance (MEV): the share of a word's variance along
  the first principal direction of its occurrences;
- token similarity: mean cosine of vectors of *different* words. Raw
  cosine is dominated by a few rogue dimensions (Timkey & van Schijndel
  2021) and sits near 0.99 in GPT-2's healthy last layer (Ethayarajh
  2019), so it is reported with its centred version (the mean vector
  subtracted first) and the effective rank (Roy & Vetterli 2007), but it
  does not decide collapse;
- collapse is read off the predictions at masked positions instead
  (`check_collapse`): how much they tell about their context (the mutual
  information between position and prediction, mean KL(p_i || p_mean):
  0 when every position gets the same distribution), and the share of
  them that name the most frequent training word. Reported beside them:
  KL(p_mean || unigram), how far the average prediction is from the
  training word frequencies.

Pure NumPy functions of vectors, ids and logits: sandbox.probe.suite runs
them on a trained net.
"""
import warnings

import numpy as np

LAYER_METRICS = ('self_sim', 'self_sim_adj', 'intra_sim', 'intra_sim_adj',
                 'anisotropy', 'token_sim', 'token_sim_centred', 'eff_rank',
                 'mev')


class CollapseWarning(UserWarning):
    """The MLM predictions ignore the input: the unigram, or one word."""


def cosine(u, v):
    """Cosine similarity of two vectors (0 if either is zero)."""
    return float(unit_rows(u) @ unit_rows(v))


def unit_rows(X):
    """Rows of X scaled to unit length; zero rows stay zero.

    Each row is divided by its largest |entry| first, so that the squares
    of a tiny (or huge) but nonzero row neither underflow nor overflow.
    """
    X = np.asarray(X, np.float64)
    top = np.max(np.abs(X), axis=-1, keepdims=True)
    X = np.divide(X, top, out=np.zeros_like(X), where=top > 0)
    norms = np.linalg.norm(X, axis=-1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


def _group_sums(U, groups):
    """Per group: the sum of its rows of U and its size."""
    _, inverse, counts = np.unique(groups, return_inverse=True,
                                   return_counts=True)
    sums = np.zeros((len(counts), U.shape[1]))
    np.add.at(sums, inverse.reshape(-1), U)
    return sums, counts


def mean_pairwise_cosine(X, groups=None):
    """Mean cosine over all pairs i != j of rows of X, exactly.

    With `groups` (one label a row), only pairs from different groups count.
    Uses sum_{i != j} u_i . u_j = |sum u|^2 - sum |u_i|^2 on unit rows u, so
    it is O(n) and needs no sampling. NaN when there is no pair.
    """
    U = unit_rows(X)  # (n, d)
    n = len(U)
    total = U.sum(0) @ U.sum(0)
    if groups is None:
        pairs = n * (n - 1)
        same = float(np.sum(U * U))  # the i == j terms
    else:
        sums, counts = _group_sums(U, np.asarray(groups))
        pairs = n * n - int(np.sum(counts ** 2))
        same = float(np.sum(sums * sums))  # pairs within a group, i == j too
    return float((total - same) / pairs) if pairs else float('nan')


def first_occurrences(word_ids, sentence_ids):
    """Indices of the first occurrence of each word in each sentence."""
    keys = np.stack([np.asarray(word_ids), np.asarray(sentence_ids)], 1)
    _, first = np.unique(keys, axis=0, return_index=True)
    return np.sort(first)


def words_in_contexts(word_ids, sentence_ids, min_contexts):
    """(word id, row indices) of words seen in >= min_contexts sentences."""
    rows = first_occurrences(word_ids, sentence_ids)
    words = np.asarray(word_ids)[rows]
    order = np.argsort(words, kind='stable')
    words, rows = words[order], rows[order]
    uniques, starts, counts = np.unique(words, return_index=True,
                                        return_counts=True)
    return [(int(w), rows[s:s + c]) for w, s, c in
            zip(uniques, starts, counts) if c >= min_contexts]


def self_similarity(X, word_ids, sentence_ids, min_contexts=5):
    """Mean over words of the mean cosine of a word's vectors (Ethayarajh).

    Each word counts once a sentence (its first occurrence); words in fewer
    than `min_contexts` sentences are left out. NaN if no word qualifies.
    """
    scores = [mean_pairwise_cosine(np.asarray(X)[rows]) for _, rows in
              words_in_contexts(word_ids, sentence_ids, min_contexts)]
    return float(np.mean(scores)) if scores else float('nan')


def intra_sentence_similarity(X, sentence_ids):
    """Mean over sentences of the mean cosine of word vectors with their mean.

    Sentences with one word are left out (their similarity is trivially 1).
    """
    X = np.asarray(X, np.float64)
    _, inverse, counts = np.unique(sentence_ids, return_inverse=True,
                                   return_counts=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(counts), X.shape[1]))
    np.add.at(sums, inverse, X)  # (num_sentences, d); the mean's direction
    cosines = np.sum(unit_rows(X) * unit_rows(sums)[inverse], -1)  # (n,)
    per_sentence = np.bincount(inverse, cosines) / counts
    scores = per_sentence[counts > 1]
    return float(np.mean(scores)) if len(scores) else float('nan')


def anisotropy(X, sentence_ids):
    """Mean cosine of vectors from different sentences (the baseline)."""
    return mean_pairwise_cosine(X, sentence_ids)


def token_similarity(X, word_ids):
    """Mean cosine of vectors of different words (raw: anisotropy-prone)."""
    return mean_pairwise_cosine(X, word_ids)


def centred_token_similarity(X, word_ids):
    """token_similarity after subtracting the mean vector of X."""
    X = np.asarray(X, np.float64)
    return mean_pairwise_cosine(X - X.mean(0), word_ids)


def effective_rank(X):
    """exp of the entropy of the normalised singular values of centred X.

    Roy & Vetterli (2007): d for d equally strong directions, 1 when all
    vectors lie on one line.
    """
    X = np.asarray(X, np.float64)
    s = np.linalg.svd(X - X.mean(0), compute_uv=False)
    if not s.sum():
        return 1.0
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def explained_variance_ratio(X):
    """Share of sum |x|^2 along the first singular direction of rows X."""
    X = np.asarray(X, np.float64)
    top = np.max(np.abs(X)) if X.size else 0.0
    s = np.linalg.svd(X / top if top else X, compute_uv=False)  # no underflow
    total = float(np.sum(s ** 2))
    return float(s[0] ** 2 / total) if total else float('nan')


def max_explainable_variance(X, word_ids, sentence_ids, min_contexts=5):
    """Mean over words of the MEV of their occurrences (Ethayarajh's MEV)."""
    scores = [explained_variance_ratio(np.asarray(X)[rows]) for _, rows in
              words_in_contexts(word_ids, sentence_ids, min_contexts)]
    return float(np.mean(scores)) if scores else float('nan')


def layer_metrics(X, word_ids, sentence_ids, min_contexts=5):
    """All LAYER_METRICS of one layer's token vectors X (n, d)."""
    aniso = anisotropy(X, sentence_ids)
    self_sim = self_similarity(X, word_ids, sentence_ids, min_contexts)
    intra_sim = intra_sentence_similarity(X, sentence_ids)
    return {'self_sim': self_sim, 'self_sim_adj': self_sim - aniso,
            'intra_sim': intra_sim, 'intra_sim_adj': intra_sim - aniso,
            'anisotropy': aniso, 'token_sim': token_similarity(X, word_ids),
            'token_sim_centred': centred_token_similarity(X, word_ids),
            'eff_rank': effective_rank(X),
            'mev': max_explainable_variance(X, word_ids, sentence_ids,
                                            min_contexts)}


def prediction_spread(probs_sum, plogp_sum, n, counts):
    """Context information of n predictions and their mean's distance.

    Args:
        probs_sum: (V,) sum of the n predicted distributions p_i.
        plogp_sum: sum over i and words of p_i log p_i (minus the
            predictions' entropies, summed).
        counts: (V,) training counts; the unigram is add-one smoothed
            (counts + 1), so words never seen in training stay finite.
    Returns:
        {'pred_mi': mean KL(p_i || p_mean) = H(p_mean) - mean H(p_i), in
        nats; 'pred_kl': KL(p_mean || unigram)}.
    """
    mean = np.asarray(probs_sum, np.float64) / n
    u = np.asarray(counts, np.float64) + 1
    u /= u.sum()
    with np.errstate(divide='ignore', invalid='ignore'):
        mean_log_mean = np.where(mean > 0, mean * np.log(mean), 0.0).sum()
    # H(p_mean) - mean H(p_i) = -sum mean log mean + plogp_sum / n
    return {'pred_mi': float(plogp_sum / n - mean_log_mean),
            'pred_kl': float(mean_log_mean - mean @ np.log(u))}


def check_collapse(pred_mi, top_word_share, min_mi=0.1, max_share=0.5):
    """Whether the MLM predictions ignore the input; warn if they do.

    Collapsed: the predictions carry less than `min_mi` nats about their
    context (every <mask> gets nearly the same distribution), or more than
    `max_share` of them name the most frequent training word (d2l's
    "the , <unk> of and" for every mask).
    """
    collapsed = bool(pred_mi < min_mi or top_word_share > max_share)
    if collapsed:
        warnings.warn(
            f'collapse: at masked positions the predictions carry '
            f'{pred_mi:.3f} nats about their context (threshold {min_mi}) '
            f'and {top_word_share:.0%} of them name the unigram\'s most '
            f'frequent word (threshold {max_share:.0%}): the model '
            'predicts the same words whatever the context',
            CollapseWarning, stacklevel=2)
    return collapsed


def prediction_sums(logits):
    """(sum of the softmax rows, sum of their p log p) of (n, V) logits."""
    log_p = np.asarray(logits, np.float64)
    log_p = log_p - log_p.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))  # (n, V)
    p = np.exp(log_p)
    return p.sum(0), float((p * log_p).sum())


def topk_accuracy(logits, labels, weights=None, ks=(1, 5)):
    """Weighted share of labels among the top-k logits, for each k.

    Args:
        logits: (..., V) scores; labels: (...) int ids; weights: (...) or
            None (all 1), 0 marks padding.
    Returns:
        {k: accuracy}. A label tied with the k-th score counts as a hit.
    """
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    weights = np.ones(labels.shape) if weights is None else \
        np.asarray(weights, np.float64)
    target = np.take_along_axis(logits, labels[..., None], -1)  # (..., 1)
    rank = np.sum(logits > target, axis=-1)  # (...) better-scored tokens
    total = weights.sum()
    return {k: float(np.sum(weights * (rank < k)) / total) if total else
            float('nan') for k in ks}
