"""The probing suite: how contextual, how collapsed, how good at fill-mask.

Per layer of a trained encoder, on held-out WikiText-2 sentences, after
Ethayarajh (2019), "How Contextual are Contextualized Word Representations?":

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

Plus MLM top-1/top-5 accuracy with every chosen word replaced by <mask>,
fill-mask examples, d2l's "crane" cosine and the attention maps of a pair.
The metrics are pure functions on arrays; `probe_model` runs them on a net.
Layer 0 is the embedding sum; layer L the encoder's output (after the final
LayerNorm of a pre-LN encoder).
"""
import argparse
import dataclasses
import json
import pathlib
import sys
import warnings
from typing import List, NamedTuple

import numpy as np

from sandbox import data, plots
from sandbox.config import _Config, check_choice, check_range
from sandbox.probe import cosine, fill_mask, word_in_contexts
from sandbox.runs import write_part

# d2l's "crane" pair: the bird, then the machine (sec. 15.8)
CRANE_CONTEXTS = [('a crane is flying'.split(), None),
                  ('a crane driver came'.split(), 'he just left'.split())]
LAYER_METRICS = ('self_sim', 'self_sim_adj', 'intra_sim', 'intra_sim_adj',
                 'anisotropy', 'token_sim', 'token_sim_centred', 'eff_rank',
                 'mev')


class CollapseWarning(UserWarning):
    """The MLM predictions ignore the input: the unigram, or one word."""


@dataclasses.dataclass(frozen=True)
class ProbeConfig(_Config):
    """Which held-out sentences are probed, and how."""
    split: str = 'test'            # WikiText-2 split the sentences come from
    num_sentences: int = 500       # sentences probed (a seeded sample)
    min_len: int = 5               # words a probed sentence has at least
    min_contexts: int = 5          # sentences a word needs for self-sim/MEV
    mask_rate: float = 0.15        # words masked per sentence for top-k
    batch_size: int = 64           # sentences per forward pass
    # Collapse: predictions that carry under collapse_mi nats about their
    # context, or more than collapse_top_share of them the top word
    collapse_mi: float = 0.1
    collapse_top_share: float = 0.5
    seed: int = 0                  # seeds the sample and the masks

    def __post_init__(self):
        check_choice('split', self.split, {'train', 'valid', 'test'})
        check_range('num_sentences', self.num_sentences, 2, integer=True)
        check_range('min_len', self.min_len, 2, integer=True)
        check_range('min_contexts', self.min_contexts, 2, integer=True)
        check_range('mask_rate', self.mask_rate, 0, 1, low_open=True)
        check_range('batch_size', self.batch_size, 1, integer=True)
        check_range('collapse_mi', self.collapse_mi, 0)
        check_range('collapse_top_share', self.collapse_top_share, 0, 1)
        check_range('seed', self.seed, 0, integer=True)


# ------------------------------------------------ metrics on plain arrays

def unit_rows(X):
    """Rows of X scaled to unit length; zero rows stay zero."""
    X = np.asarray(X, np.float64)
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


def _words_in_contexts(word_ids, sentence_ids, min_contexts):
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
              _words_in_contexts(word_ids, sentence_ids, min_contexts)]
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
    s = np.linalg.svd(np.asarray(X, np.float64), compute_uv=False)
    total = float(np.sum(s ** 2))
    return float(s[0] ** 2 / total) if total else float('nan')


def max_explainable_variance(X, word_ids, sentence_ids, min_contexts=5):
    """Mean over words of the MEV of their occurrences (Ethayarajh's MEV)."""
    scores = [explained_variance_ratio(np.asarray(X)[rows]) for _, rows in
              _words_in_contexts(word_ids, sentence_ids, min_contexts)]
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


# ------------------------------------------------------- on a trained net

class TokenVectors(NamedTuple):
    """Per-layer vectors of the words of probed sentences, flattened."""
    layers: List[np.ndarray]   # num_blks + 1 arrays (num_words, H)
    word_ids: np.ndarray       # (num_words,) vocabulary ids
    sentence_ids: np.ndarray   # (num_words,) index of the sentence


def heldout_sentences(vocab, data_dir=None, config=None, max_len=64,
                      verify=True):
    """A seeded sample of held-out sentences as arrays of vocabulary ids.

    Sentences with fewer than config.min_len words, or too long to fit
    '<cls> sentence <sep>' in `max_len` tokens, are left out.
    """
    config = config or ProbeConfig()
    enc, _ = data.load_corpus(data_dir, config.split, vocab, verify=verify)
    fits = np.flatnonzero((enc.sentence_lens >= config.min_len) &
                          (enc.sentence_lens <= max_len - 2))
    if len(fits) < 2:
        raise ValueError(f'max_len={max_len}: fewer than 2 {config.split} '
                         'sentences fit for probing')
    rng = np.random.default_rng(config.seed)
    chosen = np.sort(rng.permutation(fits)[:config.num_sentences])
    return [enc.ids[s:s + n] for s, n in
            zip(enc.sentence_starts[chosen], enc.sentence_lens[chosen])]


def encode_sentences(vocab, sentences):
    """Pad id arrays into '<cls> s <sep>' (tokens, segments, valid_lens)."""
    max_len = max(len(s) for s in sentences) + 2
    tokens = np.full((len(sentences), max_len), vocab['<pad>'], np.int32)
    for i, s in enumerate(sentences):
        tokens[i, :len(s) + 2] = [vocab['<cls>'], *s, vocab['<sep>']]
    valid_lens = np.array([len(s) + 2 for s in sentences], np.int32)
    return tokens, np.zeros_like(tokens), valid_lens


def _batches(sentences, batch_size):
    for i in range(0, len(sentences), batch_size):
        yield i, sentences[i:i + batch_size]


def token_vectors(net, vocab, sentences, batch_size=64):
    """Each layer's vectors of every word of `sentences` (dropout off)."""
    layers, word_ids, sentence_ids = None, [], []
    for first, chunk in _batches(sentences, batch_size):
        tokens, segments, valid_lens = encode_sentences(vocab, chunk)
        X, states, _ = net.encoder(tokens, segments, valid_lens,
                                   training=False, return_all=True)
        states = [s.numpy() for s in states[:-1]] + [X.numpy()]  # (B, T, H)
        # the words sit at positions 1..len(s), between <cls> and <sep>
        rows = np.concatenate([np.full(len(s), i) for i, s in
                               enumerate(chunk)])
        cols = np.concatenate([np.arange(1, len(s) + 1) for s in chunk])
        picked = [s[rows, cols].astype(np.float32) for s in states]
        layers = picked if layers is None else [
            np.concatenate([a, b]) for a, b in zip(layers, picked)]
        word_ids.append(tokens[rows, cols])
        sentence_ids.append(rows + first)
    return TokenVectors(layers, np.concatenate(word_ids),
                        np.concatenate(sentence_ids))


def probed_words(vocab, word_ids):
    """Which words the similarity metrics use: not <unk>, not reserved."""
    skip = [vocab.unk] + [vocab[t] for t in data.RESERVED_TOKENS]
    return ~np.isin(word_ids, skip)


def masked_lm_accuracy(net, vocab, sentences, mask_rate=0.15, seed=0,
                       ks=(1, 5), batch_size=64, counts=None):
    """MLM top-k accuracy with max(1, round(rate * len)) words <mask>-ed.

    Every chosen word becomes <mask> (the fill-mask setting, unlike the
    80/10/10 of training). Returns {k: accuracy}; with the training
    `counts`, also prediction_spread's 'pred_mi' and 'pred_kl', and
    'top_word_share' (the share predicting the most frequent word).
    """
    rng = np.random.default_rng(seed)
    hits, total = {k: 0.0 for k in ks}, 0
    probs_sum, plogp_sum, top_sum = 0.0, 0.0, 0
    for _, chunk in _batches(sentences, batch_size):
        tokens, segments, valid_lens = encode_sentences(vocab, chunk)
        num_preds = [max(1, round(mask_rate * len(s))) for s in chunk]
        slots = max(num_preds)
        positions = np.zeros((len(chunk), slots), np.int32)
        weights = np.zeros((len(chunk), slots))
        for i, (s, n) in enumerate(zip(chunk, num_preds)):
            positions[i, :n] = np.sort(rng.choice(len(s), n, False)) + 1
            weights[i, :n] = 1
        labels = np.take_along_axis(tokens, positions, 1)  # (B, slots)
        masked = tokens.copy()
        rows = np.nonzero(weights)[0]
        masked[rows, positions[weights > 0]] = vocab['<mask>']
        _, mlm_Y_hat, _ = net(masked, segments, valid_lens, positions,
                              training=False)  # (B, slots, V)
        acc = topk_accuracy(mlm_Y_hat.numpy(), labels, weights, ks)
        for k in ks:
            hits[k] += acc[k] * weights.sum()
        total += weights.sum()
        if counts is not None:
            real = mlm_Y_hat.numpy()[weights > 0]  # (num_real, V)
            log_p = real - real.max(-1, keepdims=True)
            log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
            probs_sum = probs_sum + np.exp(log_p).sum(0)
            plogp_sum += float((np.exp(log_p) * log_p).sum())
            top_sum += int(np.sum(real.argmax(-1) == np.argmax(counts)))
    out = {k: hits[k] / total for k in ks}
    if counts is not None:
        out.update(prediction_spread(probs_sum, plogp_sum, total, counts),
                   top_word_share=top_sum / total)
    return out


def fill_mask_examples(net, vocab, sentences, num_examples=3, max_words=14,
                       k=5, seed=0):
    """Top-k fill-mask of one hidden word in a few short held-out sentences."""
    rng = np.random.default_rng(seed)
    examples = []
    for s in sentences:
        if len(examples) == num_examples:
            break
        known = [i for i, t in enumerate(s) if t != vocab.unk]
        if len(s) > max_words or not known:
            continue
        i = int(rng.choice(known))
        words = vocab.to_tokens([int(t) for t in s])
        masked = words[:i] + ['<mask>'] + words[i + 1:]
        examples.append({
            'text': ' '.join(masked), 'answer': words[i],
            'top': [[t, round(p, 4)] for t, p in
                    fill_mask(net, vocab, masked, k=k)[0]]})
    return examples


def crane_cosine(net, vocab):
    """d2l's probe: cosine of "crane" the bird and the machine (None: OOV)."""
    words = {w for a, b in CRANE_CONTEXTS for w in a + (b or [])}
    if any(w not in vocab.token_to_idx for w in words):
        return None
    vectors = word_in_contexts(net, vocab, 'crane', CRANE_CONTEXTS)
    return cosine(vectors[0], vectors[1])


def attention_maps(net, vocab, tokens_a, tokens_b=None):
    """(input tokens, weights (num_blks, heads, T, T)) of one pair."""
    tokens, segments = data.get_tokens_and_segments(list(tokens_a),
                                                    tokens_b and
                                                    list(tokens_b))
    ids = np.array([[vocab[t] for t in tokens]], np.int32)
    _, _, weights = net.encoder(ids, np.array([segments], np.int32),
                                np.array([len(tokens)], np.int32),
                                training=False, return_all=True)
    return tokens, np.stack([w.numpy()[0] for w in weights])


def attention_pair(vocab, sentences):
    """d2l's crane pair if every word is known, else two short sentences."""
    a, b = CRANE_CONTEXTS[1]
    if all(w in vocab.token_to_idx for w in a + b):
        return a, b
    short = [s for s in sentences if len(s) <= 8] or sentences
    pair = [vocab.to_tokens([int(t) for t in s[:8]]) for s in short[:2]]
    return pair[0], pair[-1]


def probe_model(net, vocab, data_dir=None, config=None, max_len=64,
                verify=True, sentences=None, counts=None):
    """Run the whole suite on `net`; return a JSON-ready report.

    Args:
        max_len: the run's data max_len (longer sentences are left out).
        sentences: id arrays to probe instead of the held-out sample.
        counts: training counts of each id for the unigram (default: read
            from data_dir's training split).
    Returns:
        {'layers': {metric: per-layer list}, 'mlm_top1', 'mlm_top5',
        'crane_cos', 'pred_mi', 'pred_kl', 'top_word_share', 'collapsed',
        'fill_mask',
        'attention', ...}.
    """
    config = config or ProbeConfig()
    if sentences is None:
        sentences = heldout_sentences(vocab, data_dir, config, max_len,
                                      verify)
    vectors = token_vectors(net, vocab, sentences, config.batch_size)
    keep = probed_words(vocab, vectors.word_ids)
    layers = {name: [] for name in LAYER_METRICS}
    for X in vectors.layers:
        metrics = layer_metrics(X[keep], vectors.word_ids[keep],
                                vectors.sentence_ids[keep],
                                config.min_contexts)
        for name in LAYER_METRICS:
            layers[name].append(metrics[name])
    if counts is None:
        counts = data.unigram_counts(vocab, data_dir, verify)
    topk = masked_lm_accuracy(net, vocab, sentences, config.mask_rate,
                              config.seed, (1, 5), config.batch_size,
                              counts)
    tokens, weights = attention_maps(net, vocab,
                                     *attention_pair(vocab, sentences))
    words = _words_in_contexts(vectors.word_ids[keep],
                               vectors.sentence_ids[keep],
                               config.min_contexts)
    return {
        'config': config.to_dict(), 'num_sentences': len(sentences),
        'num_words': int(keep.sum()), 'num_self_sim_words': len(words),
        'layers': layers, 'mlm_top1': topk[1], 'mlm_top5': topk[5],
        'crane_cos': crane_cosine(net, vocab),
        'pred_mi': topk['pred_mi'], 'pred_kl': topk['pred_kl'],
        'top_word_share': topk['top_word_share'],
        'collapsed': check_collapse(topk['pred_mi'], topk['top_word_share'],
                                    config.collapse_mi,
                                    config.collapse_top_share),
        'fill_mask': fill_mask_examples(net, vocab, sentences,
                                        seed=config.seed),
        'attention': {'tokens': tokens,
                      'weights': np.round(weights, 4).tolist()}}


def summarize(report):
    """Scalar probe scores: last-layer similarities, top-k, crane, collapse."""
    out = {f'probe_{name}': report['layers'][name][-1]
           for name in ('self_sim', 'intra_sim', 'anisotropy', 'token_sim',
                        'token_sim_centred', 'eff_rank')}
    out.update({f'probe_{name}': report[name]
                for name in ('mlm_top1', 'mlm_top5', 'crane_cos', 'pred_mi',
                             'pred_kl', 'top_word_share')})
    out['probe_collapsed'] = bool(report['collapsed'])
    return out


def format_report(report):
    """A plain-text view: the per-layer table, top-k, fill-mask examples."""
    lines = ['layer ' + ' '.join(f'{n:>13}' for n in LAYER_METRICS)]
    for i in range(len(report['layers']['self_sim'])):
        lines.append(f'{i:>5} ' + ' '.join(
            f'{report["layers"][n][i]:>13.3f}' for n in LAYER_METRICS))
    lines.append(f'MLM top-1 {report["mlm_top1"]:.3f}, top-5 '
                 f'{report["mlm_top5"]:.3f} ({report["num_sentences"]} '
                 'held-out sentences, every chosen word <mask>-ed)')
    if report['crane_cos'] is not None:
        lines.append(f'crane (bird vs machine) cosine: '
                     f'{report["crane_cos"]:.3f}')
    lines.append(f'predictions at masked positions: '
                 f'{report["pred_mi"]:.3f} nats about their context, mean '
                 f'{report["pred_kl"]:.3f} nats from the unigram, '
                 f'{report["top_word_share"]:.1%} its most frequent word' +
                 ('  (COLLAPSED)' if report['collapsed'] else ''))
    for ex in report['fill_mask']:
        top = ', '.join(f'{t} {p:.2f}' for t, p in ex['top'])
        lines.append(f'{ex["text"]}\n    answer {ex["answer"]!r}: {top}')
    return '\n'.join(lines)


def main(argv=None):
    """python -m sandbox.probing RUN_DIR: probe a run's trained model."""
    parser = argparse.ArgumentParser(
        prog='python -m sandbox.probing', description=main.__doc__)
    parser.add_argument('run_dir', help='a finished run folder')
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--no-verify', dest='verify', action='store_false',
                        help='read a corpus of your own (no sha1 check)')
    parser.add_argument('--out', default=None,
                        help='folder for probe.json and the plots '
                             '(default: the run folder)')
    parser.add_argument('--num-sentences', type=int,
                        default=ProbeConfig.num_sentences)
    parser.add_argument('--split', default=ProbeConfig.split)
    parser.add_argument('--no-plots', dest='plots', action='store_false')
    args = parser.parse_args(argv)
    from sandbox.pretrain import load_run_model
    run_dir = pathlib.Path(args.run_dir)
    net, vocab = load_run_model(run_dir)
    max_len = json.loads((run_dir / 'config.json').read_text())[
        'data']['max_len']
    config = ProbeConfig(num_sentences=args.num_sentences, split=args.split)
    report = probe_model(net, vocab, args.data_dir, config, max_len,
                         args.verify)
    out = pathlib.Path(args.out) if args.out else run_dir
    out.mkdir(parents=True, exist_ok=True)
    write_part(out, 'probe', report)
    print(format_report(report))
    if args.plots:
        label = run_dir.name
        plots.save_figure(plots.plot_layers([(label, [report])]),
                            out / 'probe_layers')
        plots.save_figure(plots.plot_attention(
            report['attention']['tokens'], report['attention']['weights']),
            out / 'attention')
        print(f'wrote {out / "probe.json"}, probe_layers.png/.svg, '
              'attention.png/.svg', file=sys.stderr)


if __name__ == '__main__':
    main()
