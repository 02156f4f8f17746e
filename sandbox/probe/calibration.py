"""Where validation MLM loss comes from: by the target word's frequency,
and under a post-hoc temperature.

Two models with the same accuracy can differ in loss. Splitting the loss
by the training-frequency rank of the word to predict shows which words
pay; the loss of softmax(logits / T) over a grid of temperatures T shows
whether one global rescaling would close the gap (a model is calibrated
in Guo et al. 2017's sense when the best T is 1).
"""
import numpy as np
import tensorflow as tf

from sandbox.probe.slots import scored_slots

# Bands of training-frequency rank (0: the most frequent word), from each
# edge to the next; the last band is open
RANK_EDGES = (0, 100, 1000, 5000)
TEMPERATURES = (0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 1.5, 2.0)


def frequency_ranks(counts):
    """(V,) each id's rank by its count, 0 the largest (ties: lower id)."""
    order = np.argsort(-np.asarray(counts), kind='stable')
    ranks = np.empty(len(order), np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


def scaled_cross_entropy(logits, labels, temperature):
    """(N,) float64 cross-entropy of softmax(logits / T) (N, V) at labels."""
    Z = np.asarray(logits, np.float64) / temperature
    Z -= Z.max(axis=1, keepdims=True)
    return (np.log(np.exp(Z).sum(axis=1))
            - Z[np.arange(len(Z)), np.asarray(labels)])


def calibration(net, val_iter, counts, edges=RANK_EDGES,
                temperatures=TEMPERATURES):
    """Weighted validation MLM loss of `net`, split and rescaled.

    Returns {'l', 'acc', 'n', 'bands', 'temperatures', 'best_t'}: the loss
    and accuracy over every weighted slot, 'n' the summed weight; 'bands'
    one {'ranks': (low, high or None), 'share', 'l', 'acc'} per rank band
    of `edges` (None for an empty band); 'temperatures' {T: loss}; 'best_t'
    the grid's T of least loss. `counts` (V,): training-set word counts.
    """
    ranks = frequency_ranks(counts)
    bands = np.zeros((len(edges), 3))  # band x (loss, hits, weight)
    at_t = np.zeros(len(temperatures))
    for batch, logits, ce, hits, w in scored_slots(net, val_iter):
        ce, hits, w = ce.ravel(), hits.ravel(), w.ravel()  # (B * P,) each
        real = w != 0
        y = np.asarray(batch.mlm_Y, np.int64).ravel()[real]
        band = np.searchsorted(edges, ranks[y], side='right') - 1
        for column, value in enumerate((w * ce, w * hits, w)):
            np.add.at(bands[:, column], band, value[real])
        flat = tf.reshape(logits, (-1, logits.shape[-1])).numpy()[real]
        at_t += [np.dot(w[real], scaled_cross_entropy(flat, y, t))
                 for t in temperatures]  # (N, V) slots' logits, per T
    l, hits, n = bands.sum(axis=0)
    highs = [*edges[1:], None]
    return {'l': float(l / n), 'acc': float(hits / n), 'n': float(n),
            'bands': [None if wb == 0 else
                      {'ranks': (low, high), 'share': float(wb / n),
                       'l': float(lb / wb), 'acc': float(hb / wb)}
                      for (lb, hb, wb), low, high in zip(bands, edges,
                                                         highs)],
            'temperatures': {t: float(s / n)
                             for t, s in zip(temperatures, at_t)},
            'best_t': temperatures[int(np.argmin(at_t))]}


def format_calibration(report):
    """The calibration report as printed lines."""
    lines = [f'validation MLM loss {report["l"]:.3f}, accuracy '
             f'{report["acc"]:.3f} ({report["n"]:,.0f} slots)',
             'by the training-frequency rank of the word to predict:']
    for band in report['bands']:
        if band is not None:
            low, high = band['ranks']
            ranks = f'{low}-{high - 1}' if high else f'{low}+'
            lines.append(f'  ranks {ranks}: loss {band["l"]:.3f}, '
                         f'accuracy {band["acc"]:.3f} ({band["share"]:.0%} '
                         'of the slots)')
    losses = ', '.join(f'{t:g}: {l:.3f}'
                       for t, l in report['temperatures'].items())
    lines.append(f'post-hoc temperature (loss of softmax(logits / T)): '
                 f'best T {report["best_t"]:g} on the grid; {losses}')
    return lines
