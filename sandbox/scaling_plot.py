"""Loss against model size, after Kaplan et al. (2020, Fig. 6).

A size experiment's groups as points, final validation MLM loss against
non-embedding parameters on a log axis, mean +- std over seeds, a line
through the groups that share the first grid axis's choice (e.g. one line
per depth, its points the widths). No TensorFlow.
"""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

# A size experiment: its largest group has at least this many times the
# non-embedding parameters of its smallest
SIZE_RATIO = 2.0


def is_size_experiment(params):
    """Whether non-embedding parameter counts span SIZE_RATIO or more."""
    params = [p for p in params if p]
    return len(params) > 1 and max(params) >= SIZE_RATIO * min(params)


def short_count(value, _=None):
    """A count as 40k or 1.2M (an axis tick)."""
    if value >= 1e6:
        return f'{value / 1e6:g}M'
    return f'{value / 1e3:g}k' if value >= 1e3 else f'{value:g}'


def plot_scaling(lines, baseline=None, title=None, ylabel='val MLM loss'):
    """Final loss against non-embedding parameters, a line per series.

    Args:
        lines: [(series label, colour, [(params, mean, std, point label)])];
            std None for one seed; each point is labelled on the plot.
        baseline: the unigram MLM loss, drawn dashed.
    """
    fig = Figure(figsize=(6.4, 4.4), layout='constrained')
    ax = fig.subplots()
    for series, c, points in lines:
        points = sorted(points)
        x = np.array([p[0] for p in points], float)
        mean = np.array([p[1] for p in points], float)
        std = np.array([0 if p[2] is None else p[2] for p in points], float)
        ax.errorbar(x, mean, yerr=std,
                    color=c, marker='o', ms=5, lw=1.5, capsize=3,
                    label=series)
        for xi, yi, (*_, name) in zip(x, mean, points):
            ax.annotate(name, (xi, yi), textcoords='offset points',
                        xytext=(5, 4), fontsize=7, color=c)
    if baseline is not None:
        ax.axhline(baseline, color='0.4', ls='--', lw=1,
                   label='unigram baseline')
    ax.set_xscale('log')
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(short_count))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel('non-embedding parameters')
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=8)
    if title:
        ax.set_title(f'{title}\nmean ± std over seeds', fontsize=10)
    return fig
