"""The animated loss plot: live in a notebook, a PNG and a GIF elsewhere."""
import os
import pathlib
import tempfile

from matplotlib import animation
from matplotlib.figure import Figure

# (panel title, train key, validation key, baseline key and its label)
PANELS = (('MLM loss', 'mlm_l', 'val_mlm_l', 'mlm_l', 'unigram'),
          ('NSP loss', 'nsp_l', 'val_nsp_l', 'nsp_l', 'chance'))


def in_notebook():
    """Whether we run inside a Jupyter kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and 'IPKernelApp' in shell.config


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


def atomic_save(path, save):
    """Call save(tmp_path) and move the result onto `path` in one step."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.stem}.',
                               suffix=path.suffix)
    os.close(fd)
    try:
        save(tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class LossPlot:
    """A training callback that animates the loss curves as d2l's Animator.

    In a notebook the figure updates in place. Elsewhere `run_dir/loss.png`
    is rewritten as training goes (open it in a viewer to watch), and
    `run_dir/loss.gif` shows the curves growing once training ends.
    """

    def __init__(self, run_dir=None, num_steps=None, every=None, gif=True,
                 notebook=None, figsize=(9, 3.5), history=(), baseline=None):
        self.notebook = in_notebook() if notebook is None else notebook
        if run_dir is None and not self.notebook:
            raise ValueError('run_dir: a folder for loss.png is needed '
                             'outside a notebook')
        self.run_dir = pathlib.Path(run_dir) if run_dir else None
        self.num_steps = num_steps
        self.every = every or max(1, (num_steps or 50) // 50)
        self.gif = gif
        self.fig = Figure(figsize=figsize)
        self.history = [dict(row) for row in history]  # resumed runs
        self.baseline = baseline

    def on_step(self, step, row):
        """Record `row`; redraw every `every` steps and at validations."""
        self.history.append(dict(row))
        if step % self.every == 0 or any(k.startswith('val_') for k in row):
            self.draw()

    def on_end(self, history):
        """Draw the final curves and, outside notebooks, save the GIF."""
        self.draw()
        if self.gif and self.run_dir is not None and self.history:
            self.save_gif(self.run_dir / 'loss.gif')

    def draw(self):
        """Redraw the figure in place (notebook) or rewrite loss.png."""
        draw_curves(self.fig, self.history, self.num_steps, self.baseline)
        if self.notebook:
            from IPython import display
            display.display(self.fig)
            display.clear_output(wait=True)
        if self.run_dir is not None:
            atomic_save(self.run_dir / 'loss.png',
                        lambda tmp: self.fig.savefig(tmp, dpi=100))

    def save_gif(self, path, max_frames=40, fps=8):
        """Save an animated GIF of the curves growing step by step."""
        n = len(self.history)
        ends = sorted({max(1, round(n * (i + 1) / max_frames))
                       for i in range(max_frames)})
        fig = Figure(figsize=self.fig.get_size_inches())

        def frame(end):
            draw_curves(fig, self.history[:end], self.num_steps or n,
                        self.baseline)
            return []

        movie = animation.FuncAnimation(fig, frame, frames=ends, blit=False)
        atomic_save(path, lambda tmp: movie.save(
            tmp, writer=animation.PillowWriter(fps=fps), dpi=80))
