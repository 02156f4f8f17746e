"""Attention heatmaps: d2l's show_heatmaps and the probes' attention maps.

matplotlib Figures (no pyplot state) of attention weights (blocks, heads,
T, T) from probe reports. No TensorFlow.
"""
import numpy as np
from matplotlib.figure import Figure

# Inches a figure of heatmaps may be tall: one screen
MAX_HEIGHT = 9.5


def show_heatmaps(matrices, xlabel, ylabel, titles=None, row_labels=None,
                  ticklabels=None, figsize=None, cmap='Reds',
                  per_map=False):
    """d2l's show_heatmaps: a grid of (rows, cols) matrices, one colour bar.

    Args:
        matrices: nested lists [row][col] of 2-D arrays (rows may differ in
            length; the missing cells stay blank).
        titles: nested [row][col] titles, or None.
        row_labels: one label per row, written on its left.
        ticklabels: token labels of both axes (square matrices): one list,
            or one a row.
        per_map: each map its own colour scale and bar (a head's pattern
            stays visible next to a sharper one), not one shared bar.
    The grid shrinks to fit MAX_HEIGHT inches.
    """
    num_rows = len(matrices)
    num_cols = max(len(row) for row in matrices)
    rows_ticks = ticklabels if ticklabels and isinstance(
        ticklabels[0], (list, tuple)) else [ticklabels] * num_rows
    longest = max(len(t) if t is not None else 0 for t in rows_ticks)
    size = max(2.4, 0.22 * longest)
    size = min(size, (MAX_HEIGHT - 0.6) / num_rows)
    fig = Figure(figsize=figsize or (max(6, size * num_cols * (
        1.2 if per_map else 1) + 2.5), size * num_rows + 0.6),
                 layout='constrained')
    axes = fig.subplots(num_rows, num_cols, squeeze=False)
    vmax = max(float(np.max(m)) for row in matrices for m in row)
    image = None
    for i in range(num_rows):
        for j in range(num_cols):
            ax = axes[i, j]
            if j >= len(matrices[i]):
                ax.axis('off')
                continue
            m = np.asarray(matrices[i][j])
            image = ax.imshow(m, cmap=cmap, vmin=0,
                              vmax=float(m.max()) if per_map else vmax)
            if per_map:
                fig.colorbar(image, ax=ax, shrink=0.7)
            ticks = rows_ticks[i]
            if ticks is not None:
                font = 7 if size >= 2 else 5
                ax.set_xticks(range(len(ticks)), ticks, rotation=90,
                              fontsize=font)
                ax.set_yticks(range(len(ticks)), ticks, fontsize=font)
            if i == num_rows - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel if row_labels is None else
                              row_labels[i].replace(', ', '\n') +
                              f'\n{ylabel}', fontsize=9)
            if titles is not None:
                ax.set_title(titles[i][j], fontsize=9)
    if not per_map:
        fig.colorbar(image, ax=axes, shrink=0.6)
    return fig


def plot_attention(tokens, weights, title=None):
    """Attention weights (blocks, heads, T, T) of one input, as heatmaps."""
    weights = np.asarray(weights)
    num_blks, num_heads = weights.shape[:2]
    fig = show_heatmaps(
        [list(w) for w in weights], 'Keys', 'Queries',
        titles=[[f'head {h + 1}' for h in range(num_heads)]] * num_blks,
        row_labels=[f'block {b + 1}' for b in range(num_blks)],
        ticklabels=tokens)
    fig.suptitle(title or 'attention weights\n' + ' '.join(tokens),
                 fontsize=10)
    return fig


def plot_last_attention(labels, attentions):
    """The last block's heads of one input per group, a row a group.

    Args:
        attentions: per group, a probe report's 'attention' (the same
            input's tokens and weights (blocks, heads, T, T)).
    """
    last = [np.asarray(a['weights'])[-1] for a in attentions]  # (h, T, T)
    tokens = attentions[0]['tokens']
    fig = show_heatmaps(
        [list(w) for w in last], 'Keys', 'Queries',
        titles=[[f'last block, head {h + 1}' for h in range(len(w))]
                for w in last], row_labels=labels, ticklabels=tokens,
        per_map=True)
    fig.suptitle('attention of the last block (first seed; each map its '
                 'own scale)\n' + ' '.join(tokens), fontsize=10)
    return fig


def plot_sentence_attention(attentions, title=None):
    """The last block's heads on several inputs of one run, a row each.

    Args:
        attentions: a probe report's 'attentions' (tokens, weights).
    """
    last = [np.asarray(a['weights'])[-1] for a in attentions]  # (h, T, T)
    fig = show_heatmaps(
        [list(w) for w in last], 'Keys', 'Queries',
        titles=[[f'last block, head {h + 1}' for h in range(len(w))]
                for w in last],
        row_labels=[f'input {i + 1}' for i in range(len(last))],
        ticklabels=[a['tokens'] for a in attentions], per_map=True)
    fig.suptitle(title or 'attention of the last block (each map its own '
                 'scale)', fontsize=10)
    return fig
