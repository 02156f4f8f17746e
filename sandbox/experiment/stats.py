"""Paired statistics of experiment arms, through scipy.stats.

Arms of an experiment share their seeds: a seed fixes the data order, and
the validation set is the same for all. So an arm is compared with the
baseline arm seed by seed: the mean of the per-seed differences, with a
t-based confidence interval and the paired t-test's p-value.
"""
import warnings
from typing import NamedTuple

import numpy as np
from scipy import stats


class PairedDifference(NamedTuple):
    """arm − baseline over the seeds both ran."""
    n: int          # seeds in both arms
    mean: float     # mean per-seed difference
    low: float      # confidence interval (NaN below 2 seeds)
    high: float
    pvalue: float   # two-sided paired t-test (NaN below 2 seeds)


def t_interval(values, confidence=0.95):
    """(mean, low, high): the t-based confidence interval of a mean."""
    values = np.asarray(values, np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float('nan'), float('nan')
    sem = float(stats.sem(values))
    if sem == 0:  # every value equal: no spread at all
        return mean, mean, mean
    low, high = stats.t.interval(confidence, len(values) - 1, loc=mean,
                                 scale=sem)
    return mean, float(low), float(high)


def paired_difference(arm, base, confidence=0.95):
    """arm − base paired by seed (scipy.stats.ttest_rel and its interval).

    Args:
        arm, base: {seed: value}; only the seeds both hold count, and NaN
            values are left out.
    """
    seeds = sorted(s for s in set(arm) & set(base)
                   if np.isfinite(arm[s]) and np.isfinite(base[s]))
    a = np.array([arm[s] for s in seeds], np.float64)
    b = np.array([base[s] for s in seeds], np.float64)
    if not seeds:
        return PairedDifference(0, *[float('nan')] * 4)
    mean, low, high = t_interval(a - b, confidence)
    pvalue = float('nan')
    if len(seeds) >= 2:
        with warnings.catch_warnings():  # identical pairs: scipy warns
            warnings.simplefilter('ignore', RuntimeWarning)
            pvalue = float(stats.ttest_rel(a, b).pvalue)
    return PairedDifference(len(seeds), mean, low, high, pvalue)


def is_established(diff, min_seeds):
    """Whether a paired difference's interval excludes 0 with enough seeds."""
    return diff.n >= min_seeds and np.isfinite(diff.low) and (
        diff.low > 0 or diff.high < 0)


def paired_differences(frame, baseline_label, metric, confidence=0.95):
    """{label: PairedDifference of metric} of every other group of `frame`.

    Args:
        frame: frames.results_frame's DataFrame (label, seed, metric).
    """
    by_label = by_seed(frame, metric)
    base = by_label[baseline_label]
    return {label: paired_difference(values, base, confidence)
            for label, values in by_label.items() if label != baseline_label}


def by_seed(frame, metric):
    """{label: {seed: metric}} of frames.results_frame's DataFrame."""
    return {label: dict(zip(group['seed'], group[metric]))
            for label, group in frame.groupby('label', sort=False)}
