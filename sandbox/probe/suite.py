"""The probing suite: how contextual, how collapsed, how good at fill-mask.

On held-out WikiText-2 sentences, per layer of a trained encoder,
sandbox.probe.metrics' measures (Ethayarajh 2019 and the collapse check);
plus MLM top-1/top-5 accuracy with every chosen word replaced by <mask>,
fill-mask examples, d2l's "crane" cosine, the attention maps of a pair,
and the fixed validation set's MLM loss and accuracy by slot kind.
Layer 0 is the embedding sum; layer L the encoder's output (after the final
LayerNorm of a pre-LN encoder).
"""
from typing import List, NamedTuple

import numpy as np

from sandbox import data
from sandbox.config import ProbeConfig
from sandbox.probe.inspect import (CRANE_CONTEXTS, attention_maps,
                                   crane_probe, encode_sentences, fill_mask,
                                   in_vocab)
from sandbox.probe.metrics import (LAYER_METRICS, check_collapse,
                                   layer_metrics, prediction_spread,
                                   prediction_sums, topk_accuracy,
                                   words_in_contexts)
from sandbox.probe.slots import SLOT_KINDS, validation_by_slot


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


def _batches(sentences, batch_size):
    """(index of the first, sentences) chunks of `batch_size`."""
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


def _masked_batch(vocab, chunk, mask_rate, rng):
    """Sentences with max(1, round(rate * len)) of their words <mask>-ed.

    Returns:
        the net's inputs (tokens, segments, valid_lens, pred_positions),
        the weights of the prediction slots (0: padding) and their labels,
        both (B, slots).
    """
    tokens, segments, valid_lens = encode_sentences(vocab, chunk)
    num_preds = [max(1, round(mask_rate * len(s))) for s in chunk]
    positions = np.zeros((len(chunk), max(num_preds)), np.int32)
    weights = np.zeros(positions.shape)
    for i, (s, n) in enumerate(zip(chunk, num_preds)):
        positions[i, :n] = np.sort(rng.choice(len(s), n, False)) + 1
        weights[i, :n] = 1
    labels = np.take_along_axis(tokens, positions, 1)  # (B, slots)
    masked = tokens.copy()
    masked[np.nonzero(weights)[0], positions[weights > 0]] = vocab['<mask>']
    return (masked, segments, valid_lens, positions), weights, labels


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
        inputs, weights, labels = _masked_batch(vocab, chunk, mask_rate, rng)
        _, mlm_Y_hat, _ = net(*inputs, training=False)  # (B, slots, V)
        acc = topk_accuracy(mlm_Y_hat.numpy(), labels, weights, ks)
        for k in ks:
            hits[k] += acc[k] * weights.sum()
        total += weights.sum()
        if counts is not None:
            real = mlm_Y_hat.numpy()[weights > 0]  # (num_real, V)
            sums = prediction_sums(real)
            probs_sum, plogp_sum = probs_sum + sums[0], plogp_sum + sums[1]
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


# Sentence pairs whose attention a probe report keeps
ATTENTION_PAIRS = 3


def attention_inputs(vocab, sentences, num_pairs=ATTENTION_PAIRS):
    """Inputs for the attention maps: d2l's crane pair if every word is
    known, then pairs of short held-out sentences, num_pairs in all."""
    pairs = [CRANE_CONTEXTS[1]] if in_vocab(vocab, CRANE_CONTEXTS[1:]) \
        else []
    short = [s for s in sentences if len(s) <= 8] or sentences
    short = [vocab.to_tokens([int(t) for t in s[:8]]) for s in short]
    for a, b in zip(short[::2], short[1::2]):
        if len(pairs) == num_pairs:
            break
        pairs.append((a, b))
    return pairs or [(short[0], short[0])]


def per_layer(vectors, keep, min_contexts):
    """{metric: [its value at each layer]} of the kept words' vectors."""
    layers = {name: [] for name in LAYER_METRICS}
    for X in vectors.layers:
        metrics = layer_metrics(X[keep], vectors.word_ids[keep],
                                vectors.sentence_ids[keep], min_contexts)
        for name in LAYER_METRICS:
            layers[name].append(metrics[name])
    return layers


def probe_model(net, vocab, data_dir=None, config=None, max_len=64,
                verify=True, sentences=None, counts=None, val_iter=None):
    """Run the whole suite on `net`; return a JSON-ready report.

    Args:
        max_len: the run's data max_len (longer sentences are left out).
        sentences: id arrays to probe instead of the held-out sample.
        counts: training counts of each id for the unigram (default: read
            from data_dir's training split).
        val_iter: the validation batches scored by slot kind (default: the
            fixed validation set of data_dir; empty: none).
    Returns:
        {'layers': {metric: per-layer list}, 'mlm_top1', 'mlm_top5',
        'crane_cos' (None if a word is unknown), 'pred_mi', 'pred_kl',
        'top_word_share', 'collapsed', 'fill_mask', 'attention',
        'val_slots' ({kind: {'l', 'acc', 'n'}}, None if not scored), ...}.
    """
    config = config or ProbeConfig()
    if sentences is None:
        sentences = heldout_sentences(vocab, data_dir, config, max_len,
                                      verify)
    if counts is None:
        counts = data.unigram_counts(vocab, data_dir, verify)
    vectors = token_vectors(net, vocab, sentences, config.batch_size)
    keep = probed_words(vocab, vectors.word_ids)
    topk = masked_lm_accuracy(net, vocab, sentences, config.mask_rate,
                              config.seed, (1, 5), config.batch_size,
                              counts)
    attentions = []
    for pair in attention_inputs(vocab, sentences):
        tokens, weights = attention_maps(net, vocab, *pair)
        attentions.append({'tokens': tokens,
                           'weights': np.round(weights, 4).tolist()})
    if val_iter is None:
        val_iter = data.load_validation(vocab, data_dir, verify,
                                        batch_size=128)
    val_slots = validation_by_slot(net, val_iter, vocab['<mask>'])
    words = words_in_contexts(vectors.word_ids[keep],
                              vectors.sentence_ids[keep],
                              config.min_contexts)
    return {
        'config': config.to_dict(), 'num_sentences': len(sentences),
        'num_words': int(keep.sum()), 'num_self_sim_words': len(words),
        'layers': per_layer(vectors, keep, config.min_contexts),
        'mlm_top1': topk[1], 'mlm_top5': topk[5],
        'crane_cos': crane_probe(net, vocab) if in_vocab(
            vocab, CRANE_CONTEXTS) else None,
        'pred_mi': topk['pred_mi'], 'pred_kl': topk['pred_kl'],
        'top_word_share': topk['top_word_share'],
        'collapsed': check_collapse(topk['pred_mi'], topk['top_word_share'],
                                    config.collapse_mi,
                                    config.collapse_top_share),
        'fill_mask': fill_mask_examples(net, vocab, sentences,
                                        seed=config.seed),
        'attention': attentions[0], 'attentions': attentions,
        'val_slots': val_slots if any(val_slots.values()) else None}


def summarize(report):
    """Scalar probe scores: last-layer similarities, top-k, crane, collapse."""
    out = {f'probe_{name}': report['layers'][name][-1]
           for name in ('self_sim', 'intra_sim', 'anisotropy', 'token_sim',
                        'token_sim_centred', 'eff_rank')}
    out.update({f'probe_{name}': report[name]
                for name in ('mlm_top1', 'mlm_top5', 'crane_cos', 'pred_mi',
                             'pred_kl', 'top_word_share')})
    out['probe_collapsed'] = bool(report['collapsed'])
    for kind, scores in (report.get('val_slots') or {}).items():
        if scores is not None:  # validation loss and accuracy by kind
            out[f'probe_val_{kind}_l'] = scores['l']
            out[f'probe_val_{kind}_acc'] = scores['acc']
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
    slots = report.get('val_slots') or {}
    scored = [(kind, slots[kind]) for kind in SLOT_KINDS if slots.get(kind)]
    if scored:
        lines.append('validation MLM loss / accuracy by slot: ' + ', '.join(
            f'{kind} {s["l"]:.3f} / {s["acc"]:.3f} ({s["n"]:.0f} slots)'
            for kind, s in scored))
    for ex in report['fill_mask']:
        top = ', '.join(f'{t} {p:.2f}' for t, p in ex['top'])
        lines.append(f'{ex["text"]}\n    answer {ex["answer"]!r}: {top}')
    return '\n'.join(lines)
