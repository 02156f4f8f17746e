"""Every figure: loss curves, comparisons, paired differences, layers.

Runs that differ only in their seeds form a group, drawn as its mean with a
band of +-1 standard deviation over the seeds. Figures are matplotlib
Figures (no pyplot state), written atomically by `save_figure`. No
TensorFlow: the figures read plain rows and reports (sandbox.runs').
The attention heatmaps live in sandbox.heatmaps and are exported here.
"""
import pathlib
import textwrap

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import (FuncFormatter, LogLocator, MaxNLocator,
                               NullFormatter)

from sandbox.heatmaps import (  # noqa: F401 (every figure from here)
    MAX_HEIGHT, plot_attention, plot_last_attention,
    plot_sentence_attention, show_heatmaps)
from sandbox.runs import atomic_save

# (panel title, train key, validation key, baseline key and its label)
PANELS = (('MLM loss', 'mlm_l', 'val_mlm_l', 'mlm_l', 'unigram'),
          ('NSP loss', 'nsp_l', 'val_nsp_l', 'nsp_l', 'chance'))
# (panel title, per-layer metric of a probe report, y-axis label)
LAYER_PANELS = (
    ('self-similarity − anisotropy', 'self_sim_adj', 'cosine difference'),
    ('intra-sentence similarity − anisotropy', 'intra_sim_adj',
     'cosine difference'),
    ('max explainable variance', 'mev', 'share of variance'),
    ('anisotropy (random pairs)', 'anisotropy', 'cosine'),
    ('different-token similarity (raw)', 'token_sim', 'cosine'),
    ('different-token similarity (centred)', 'token_sim_centred', 'cosine'),
    ('effective rank (centred)', 'eff_rank', 'dimensions'),
)


def save_figure(fig, stem, formats=('png', 'svg'), dpi=110):
    """Write `fig` to stem.png and stem.svg (atomically); return the paths.

    The same figure writes the same bytes: no date in the metadata and SVG
    ids hashed with a fixed salt, so a regenerated report diffs only where
    its numbers moved.
    """
    paths = []
    for fmt in formats:
        path = pathlib.Path(f'{stem}.{fmt}')
        metadata = {'Date': None} if fmt in ('svg', 'pdf') else None
        with matplotlib.rc_context({'svg.hashsalt': 'sandbox'}):
            atomic_save(path, lambda tmp: fig.savefig(
                tmp, format=fmt, dpi=dpi, metadata=metadata))
        paths.append(path)
    return paths


# tab10's and tab20's colours without their greys (tab10's C7, tab20's
# 14 and 15): grey is the faint reference group under the facets
TAB10 = [f'C{i}' for i in range(10) if i != 7]
TAB20 = [i for i in range(20) if i not in (14, 15)]


def color(i, n):
    """The i-th of n group colours: tab10, or tab20 beyond 9, no grey."""
    if n <= len(TAB10):
        return TAB10[i]
    return colormaps['tab20'](TAB20[i % len(TAB20)])


def ema(values, weight=0.6):
    """TensorBoard's debiased exponential moving average; NaN passes through.

    pandas' ewm with adjust=True is that average (weights weight**k over the
    values so far, normalised); ignore_na skips the values that are not
    finite, which pass through. weight 0 returns the values.
    """
    if not 0 <= weight < 1:
        raise ValueError(f'weight must be in [0, 1), got {weight!r}')
    raw = pd.Series(np.asarray(values, np.float64))
    finite = raw.where(np.isfinite(raw))
    smooth = finite.ewm(alpha=1 - weight, adjust=True, ignore_na=True).mean()
    return smooth.where(finite.notna(), raw).to_numpy()


def mean_std(series):
    """Mean and sample std (0 for one series) over series, cut to the shortest.

    Args:
        series: a list of 1-D sequences, one per seed.
    Returns:
        (mean, std), each of the shortest series' length.
    """
    n = min(len(s) for s in series)
    stacked = np.array([np.asarray(s, np.float64)[:n] for s in series])
    std = stacked.std(0, ddof=1) if len(series) > 1 else np.zeros(n)
    return stacked.mean(0), std


def on_one_grid(xs, series):
    """(x, series) with every seed's series over one shared x.

    Where the seeds' x agree (steps, epochs) they are kept (mean_std cuts
    to the shortest); where they differ (training time), each series is
    interpolated linearly onto evenly spaced points over the range every
    seed covers, as many as the shortest has (by index, as for steps, if
    they share no range).
    """
    n = min(len(x) for x in xs)
    if all(np.array_equal(x[:n], xs[0][:n]) for x in xs):
        return xs[0], series
    low, high = max(x[0] for x in xs), min(x[-1] for x in xs)
    if high < low:
        return xs[0], series
    grid = np.linspace(low, high, n)
    return grid, [np.interp(grid, x, s) for x, s in zip(xs, series)]


def _column(rows, key, xkey='step'):
    """(x, values) of the rows that have `key`, x their `xkey`."""
    pairs = [(row[xkey], row[key]) for row in rows
             if row.get(key) is not None]
    return tuple(np.array(p) for p in zip(*pairs)) if pairs else \
        (np.array([]), np.array([]))


# Points above which a curve is drawn as pixels in vector formats
RASTERIZE_ABOVE = 200


def _band(ax, x, series, c, alpha, fmt, **line):
    """Draw the mean of `series` over x with a +-std band; return both.

    Curves of many points are rasterized, so an SVG of a long sweep stays
    small (text and axes stay vectors).
    """
    mean, std = mean_std(series)
    x = np.asarray(x)[:len(mean)]
    dense = len(x) > RASTERIZE_ABOVE
    ax.plot(x, mean, fmt, color=c, rasterized=dense, **line)
    ax.fill_between(x, mean - std, mean + std, color=c, alpha=alpha, lw=0,
                    rasterized=dense)
    return x, mean, std


# ------------------------------------------------------------ loss curves

def draw_curves(fig, history, num_steps=None, baseline=None):
    """Draw MLM and NSP curves (train per step, validation points) on fig.

    `baseline` (baseline.baselines' dict) adds the unigram MLM loss and the
    NSP chance loss as dashed lines: a model on them has learned nothing.
    """
    fig.clear()
    axes = fig.subplots(1, len(PANELS))
    steps = [row['step'] for row in history]
    for ax, (title, key, val_key, base_key, base_label) in zip(axes,
                                                               PANELS):
        if baseline is not None:
            ax.axhline(baseline[base_key], color='0.4', ls='--', lw=1,
                       label=f'{base_label} {baseline[base_key]:.2f}')
        ax.plot(steps, [row[key] for row in history], label='train',
                color='C0')
        val = [(row['step'], row[val_key]) for row in history
               if row.get(val_key) is not None]
        if val:
            ax.plot(*zip(*val), 'o-', label='validation', color='C1')
        ax.set_title(title)
        ax.set_xlabel('step')
        ax.set_ylabel('cross-entropy')
        ax.set_xlim(1, max(num_steps or 1, steps[-1] if steps else 1))
        ax.grid(alpha=0.3)
        ax.legend(loc='upper right')
    fig.tight_layout()
    return axes


def save_loss_plot(history, stem, num_steps=None, baseline=None):
    """A run's loss.png, drawn once from its history; return its path."""
    fig = Figure(figsize=(9, 3.5))
    draw_curves(fig, history, num_steps, baseline)
    return save_figure(fig, stem, ('png',), dpi=90)[0]


def plot_curves(groups, smooth=0.0, log=False, panels=PANELS, title=None,
                figsize=None, baseline=None, xlabel='step'):
    """Overlay loss curves of groups of runs, MLM and NSP side by side.

    Args:
        groups: a list of (label, [metric rows of each seed's run]); rows
            with an 'x' are drawn against it, else against their step.
        smooth: TensorBoard-style EMA weight for the training curves.
        log: log-scale y axes (use only where the losses span a decade).
        panels: (title, train key, validation key, baseline key, its
            label) per panel.
        baseline: the unigram MLM loss and NSP chance (baseline.baselines'
            dict), drawn as dashed lines.
    Train curves are lines with a +-std band over seeds; validation points
    are circles joined by a dashed line, with their own band. The y range
    holds every curve from its first step. Beyond FACET_ABOVE groups each
    group gets its own facet, with the first group in grey for reference.
    """
    if len(groups) > FACET_ABOVE:
        return _facet_curves(groups, smooth, log, panels, title, baseline,
                             xlabel)
    fig = Figure(figsize=figsize or (5 * len(panels), 4.2),
                 layout='constrained')
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for i, (label, runs) in enumerate(groups):
        c = color(i, len(groups))
        for ax, (_, key, val_key, *_) in zip(axes, panels):
            _group_curves(ax, runs, key, val_key, c, label, smooth)
    for ax, panel in zip(axes, panels):
        _curves_panel(ax, panel, baseline, log, xlabel)
    _curves_legend(fig, axes, groups, smooth, baseline)
    if title:
        fig.suptitle(title)
    return fig


# Groups above which plot_curves draws one facet a group, and the colour
# of the reference group under the others (no group's colour is grey)
FACET_ABOVE = 4
REFERENCE = (0.0, 0.0, 0.0, 0.3)


def _facet_curves(groups, smooth, log, panels, title, baseline, xlabel):
    """plot_curves with a facet a group: a row of facets a panel each."""
    cols = min(4, len(groups))
    rows_per_panel = -(-len(groups) // cols)
    fig = Figure(figsize=(3.6 * cols, 2.9 * rows_per_panel * len(panels)),
                 layout='constrained')
    axes = fig.subplots(rows_per_panel * len(panels), cols, squeeze=False,
                        sharex=True)
    for p, panel in enumerate(panels):
        _, key, val_key, *_ = panel
        block = axes[p * rows_per_panel:(p + 1) * rows_per_panel].ravel()
        for i, (ax, (label, runs)) in enumerate(zip(block, groups)):
            if i:  # the reference group under every other facet
                _group_curves(ax, groups[0][1], key, val_key, REFERENCE,
                              groups[0][0], smooth)
            _group_curves(ax, runs, key, val_key, color(i, len(groups)),
                          label, smooth)
            _curves_panel(ax, panel, baseline, log, xlabel)
            ax.set_title(f'{panel[0]}: {label}', fontsize=9)
        for ax in block[len(groups):]:
            ax.axis('off')
    if title:
        fig.suptitle(f'{title}\n(faint grey: {groups[0][0]}; mean ± std '
                     'over seeds; circles: validation)', fontsize=10)
    return fig


def _group_curves(ax, runs, key, val_key, c, label, smooth):
    """One group's train and validation bands."""
    xkey = 'x' if runs[0] and 'x' in runs[0][0] else 'step'
    train = [_column(r, key, xkey) for r in runs]
    if len(train[0][0]):
        x, ys = on_one_grid([x for x, _ in train],
                            [ema(y, smooth) for _, y in train])
        _band(ax, x, ys, c, 0.18, '-', lw=1.4, label=label)
    val = [_column(r, val_key, xkey) for r in runs] if val_key else []
    if val and len(val[0][0]):
        _band(ax, *on_one_grid(*zip(*val)), c, 0.12, 'o--', ms=4, lw=1)


def _curves_panel(ax, panel, baseline, log, xlabel):
    """A panel's baseline line, labels and log ticks."""
    title, _, _, base_key, base_label = panel
    if baseline is not None:  # the arms are in the figure's legend
        line = ax.axhline(baseline[base_key], color='0.3', ls='--', lw=1,
                          label=f'{base_label} {baseline[base_key]:.2f}')
        ax.legend(handles=[line], loc='upper right', fontsize=8,
                  handlelength=1.5)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel('cross-entropy')
    ax.grid(alpha=0.3)
    if log:  # ticks at 1, 2, 3, 5, 7 x 10^k, written plainly
        ax.set_yscale('log')
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 3, 5, 7)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f'{v:g}'))
        ax.yaxis.set_minor_formatter(NullFormatter())


def _curves_legend(fig, axes, groups, smooth, baseline):
    """The groups' colours and the train / validation line styles."""
    handles, labels = axes[0].get_legend_handles_labels()
    if baseline is not None:  # the dashed line has its panel's legend
        handles, labels = handles[:-1], labels[:-1]
    handles += [axes[0].plot([], [], 'k-', lw=1.4)[0],
                axes[0].plot([], [], 'ko--', ms=4, lw=1)[0]]
    labels += ['train' + (f' (EMA {smooth})' if smooth else ''),
               'validation (mask rate 0.15)']
    wide = max(len(label) for label in labels) > 20
    fig.legend(handles, labels, loc='outside lower center', fontsize=8,
               ncols=min(len(labels), 3 if wide else 4),
               title='mean ± std over seeds' if any(
                   len(r) > 1 for _, r in groups) else None,
               title_fontsize=8)


def elapsed_seconds(rows, batch_size):
    """Cumulative training seconds at each row: batch / pairs_per_sec summed.

    Step time only (forward, backward, update): validation and checkpoints
    are left out, so runs that validate more often are not penalised.
    """
    return np.cumsum([batch_size / r['pairs_per_sec'] for r in rows])


def plot_learning_curves(runs, title=None, machine=None):
    """Validation MLM and NSP accuracy against pairs seen and training time.

    Args:
        runs: a list of (label, loaded run) (runs.load_run's dicts).
        machine: a line naming the machine, under the time axis.
    """
    fig = Figure(figsize=(10, 7.2), layout='constrained')
    axes = fig.subplots(2, 2)
    for i, (label, run) in enumerate(runs):
        c = color(i, len(runs))
        rows = run['metrics']
        batch = run['config']['data']['batch_size']
        seconds = elapsed_seconds(rows, batch)
        val = [(r['step'] * batch, t / 60, r) for r, t in zip(rows, seconds)
               if r.get('val_mlm_acc') is not None]
        for row, key in enumerate(('val_mlm_acc', 'val_nsp_acc')):
            for col, x in enumerate(([v[0] / 1e3 for v in val],
                                     [v[1] for v in val])):
                axes[row, col].plot(x, [v[2][key] for v in val], 'o-',
                                    color=c, ms=3, label=label)
    baseline = runs[0][1].get('baseline')
    for col, xlabel in enumerate(('training pairs seen (thousands)',
                                  'training time (minutes, steps only)' +
                                  (f'\n{machine}' if machine else ''))):
        for row, (name, key, line, ylim) in enumerate((
                ('validation MLM accuracy', 'mlm_acc', 'unigram', (0, None)),
                ('validation NSP accuracy', 'nsp_acc', 'chance',
                 (0.4, 1.0)))):
            ax = axes[row, col]
            if baseline is not None:
                ax.axhline(baseline[key], color='0.3', ls='--', lw=1,
                           label=f'{line} {baseline[key]:.3f}')
            ax.set_xlabel(xlabel)
            ax.set_ylabel(name)
            ax.set_ylim(*ylim)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    axes[1, 0].legend(handles=axes[1, 0].get_lines()[-1:], fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------- summaries and probes

def plot_paired(arms, baseline_label, panels, title=None):
    """Paired differences from the baseline arm with their intervals.

    Args:
        arms: [(label, {column: (n, mean, low, high, ...)}, colour)], the
            colour the arm has in the other figures; n of the first
            column labels the arm.
        panels: [(panel title, column)].
    A dot a difference, its whisker the confidence interval (none below 2
    seeds), and a line at 0: an interval that crosses it shows no effect.
    """
    panels = [(t, c) for t, c in panels if any(c in d for _, d, _ in arms)]
    fig = Figure(figsize=(3.6 * len(panels), 0.5 * len(arms) + 1.8),
                 layout='constrained')
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    y = np.arange(len(arms))[::-1]
    for ax, (panel, col) in zip(axes, panels):
        ax.axvline(0, color='0.3', lw=1)
        for yi, (_, diffs, c) in zip(y, arms):
            if col not in diffs:
                continue
            n, mean, low, high = diffs[col][:4]
            if np.isfinite(low):
                ax.plot([low, high], [yi, yi], color=c, lw=2)
            ax.plot(mean, yi, 'o', color=c, ms=6)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel(f'arm − {baseline_label}', fontsize=8)
        ax.grid(alpha=0.3, axis='x')
        ax.xaxis.set_major_locator(MaxNLocator(4))
    # n: the first column's seeds, as the paired table counts them (a
    # slot column over fewer seeds, or none, leaves it)
    axes[0].set_yticks(y, [f'{label} (n={next(iter(diffs.values()))[0]})'
                           for label, diffs, _ in arms], fontsize=8)
    axes[0].set_ylim(-0.6, len(arms) - 0.4)
    if title:
        fig.suptitle(f'{title}\npaired by seed, 95% t-intervals',
                     fontsize=10)
    return fig


def plot_layers(groups, panels=LAYER_PANELS, title=None):
    """Per-layer probe metrics of groups of runs (mean +- std over seeds).

    Args:
        groups: a list of (label, [probe reports of each seed's run]).
    The anisotropy-adjusted panels leave out layers whose anisotropy is
    above ADJUST_BELOW: there both terms are near 1 and their difference
    says nothing (a collapsed layer would read as "maximally
    contextual"). Models of different depths share a relative-depth axis.
    """
    cols = 3
    rows = (len(panels) + 1 + cols - 1) // cols  # one slot for the legend
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows + 0.9),
                 layout='constrained')
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    depths = {len(r['layers']['anisotropy']) for _, reports in groups
              for r in reports}
    relative = len(depths) > 1
    for i, (label, reports) in enumerate(groups):
        for ax, (_, key, _) in zip(axes, panels):
            layers = [_layer_values(r['layers'], key) for r in reports]
            n = max(map(len, layers))
            x = np.arange(n) / (n - 1) if relative and n > 1 else \
                np.arange(n)
            _band(ax, x, layers, color(i, len(groups)), 0.18, 'o-', ms=3.5,
                  label=label)
    for ax, (panel, _, ylabel) in zip(axes, panels):
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel('relative depth (0: embeddings, 1: last block)'
                      if relative else 'layer (0: embeddings)')
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if not relative:
            ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes[len(panels):]:
        ax.axis('off')
    handles, labels = axes[0].get_legend_handles_labels()
    axes[len(panels)].legend(handles, labels, loc='center', fontsize=8,
                             title='mean ± std over seeds',
                             title_fontsize=8)
    notes = axes[len(panels) + 1] if len(axes) > len(panels) + 1 else \
        axes[len(panels)]
    notes.text(0, 1, textwrap.fill(LAYER_DEFINITIONS, 52), fontsize=7.5,
               va='top', transform=notes.transAxes)
    if title:
        fig.suptitle(title)
    return fig


# Anisotropy above which the adjusted panels leave a layer out
ADJUST_BELOW = 0.9
LAYER_DEFINITIONS = (
    'self-similarity: mean cosine of one word\'s vectors in different '
    'sentences; intra-sentence similarity: of a sentence\'s words with '
    'their mean; anisotropy: of random words from different sentences; '
    '"− anisotropy": minus that baseline (Ethayarajh 2019), left out '
    f'where anisotropy > {ADJUST_BELOW}. Max explainable variance: share '
    'of a word\'s variance on its first principal component. Centred: '
    'after removing the mean vector; effective rank: exp(entropy) of the '
    'centred singular values.')


def _layer_values(layers, key):
    """A report's per-layer values of `key`, adjusted ones masked where
    the anisotropy is above ADJUST_BELOW."""
    values = np.asarray(layers[key], np.float64)
    if key.endswith('_adj'):
        values = np.where(np.asarray(layers['anisotropy']) > ADJUST_BELOW,
                          np.nan, values)
    return values
