"""Baselines a model must beat: the unigram for MLM, chance for NSP.

The unigram baseline predicts every masked word from the training-set word
frequencies, whatever the context: its cross-entropy and accuracy (it
always guesses the most frequent word) at the validation MLM positions are
what a model that has learned nothing but word frequencies scores. Pure
NumPy: plotting and reporting code reads it without TensorFlow.
"""
import math

import numpy as np

# A classifier that ignores its input, on balanced NSP labels
NSP_CHANCE = {'nsp_l': math.log(2), 'nsp_acc': 0.5}


def unigram_baseline(counts, mlm_Y, mlm_weights):
    """MLM loss and accuracy of predicting `counts`' frequencies.

    Args:
        counts: (V,) training counts of each id.
        mlm_Y: (..., P) labels of the prediction slots.
        mlm_weights: (..., P) their weights (0 marks padding slots).
    Returns:
        {'mlm_l': weighted mean cross-entropy in nats, 'mlm_acc': weighted
        share of labels equal to the most frequent id}.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.sum() <= 0 or (counts < 0).any():
        raise ValueError('counts must be a 1-D array of non-negative '
                         'counts with a positive sum')
    labels = np.asarray(mlm_Y).ravel()
    weights = np.asarray(mlm_weights, dtype=np.float64).ravel()
    if labels.shape != weights.shape:
        raise ValueError(f'mlm_Y {np.shape(mlm_Y)} and mlm_weights '
                         f'{np.shape(mlm_weights)} differ in shape')
    real = weights != 0
    if not real.any():
        raise ValueError('mlm_weights: no real prediction slot')
    labels, weights = labels[real], weights[real]
    if labels.min() < 0 or labels.max() >= len(counts):
        raise ValueError(f'mlm_Y: labels must lie in [0, {len(counts) - 1}]')
    p = counts[labels] / counts.sum()
    with np.errstate(divide='ignore'):
        ce = -np.log(p)  # inf where a label never occurred in training
    hits = labels == np.argmax(counts)
    total = weights.sum()
    return {'mlm_l': float((ce * weights).sum() / total),
            'mlm_acc': float((hits * weights).sum() / total)}


def baselines(counts, mlm_Y, mlm_weights):
    """The unigram MLM baseline and NSP chance, as one dict of 4 numbers."""
    return {**unigram_baseline(counts, mlm_Y, mlm_weights), **NSP_CHANCE}


def format_baselines(b):
    """One line for printing beside validation results."""
    return (f"unigram baseline: MLM loss {b['mlm_l']:.3f}, MLM accuracy "
            f"{b['mlm_acc']:.3f}; NSP chance: loss {b['nsp_l']:.3f}, "
            f"accuracy {b['nsp_acc']:.3f}")
