"""Training callbacks: the run folder's metrics log and the live loss plot.

Also write_hparams, a run's HParams summary for TensorBoard.

A callback has on_step(step, row) and on_end(history); train_bert calls
them and knows nothing else of files or figures.
"""
import pathlib
import shutil
import tempfile

import tensorflow as tf
from matplotlib import animation
from matplotlib.figure import Figure

from sandbox.plots import draw_curves, save_figure
from sandbox.runs import METRIC_COLUMNS, MetricsFile, atomic_save


class RunLogger:
    """Writes each step's row to metrics.csv and as TensorBoard scalars.

    A resumed run passes the rows kept from before (truncate_metrics'): the
    TensorBoard events are written anew from them, so steps that the
    resumed run takes again do not appear twice.
    """

    def __init__(self, run_dir, tensorboard=True, previous=()):
        self.run_dir = pathlib.Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._metrics = MetricsFile(self.run_dir)
        self._writer = None
        if tensorboard:
            events = self.run_dir / 'tensorboard'
            shutil.rmtree(events, ignore_errors=True)
            self._writer = tf.summary.create_file_writer(str(events))
            for row in previous:
                self._scalars(int(row['step']), row)

    def on_step(self, step, row):
        """Append the step's row to metrics.csv and TensorBoard."""
        self._metrics.write(row)
        self._scalars(step, row)

    def _scalars(self, step, row):
        """The row's metrics as TensorBoard scalars at `step`."""
        if self._writer is not None:
            with self._writer.as_default(step=step):
                for key in METRIC_COLUMNS[1:]:
                    if row.get(key) is not None:
                        tf.summary.scalar(key, row[key])

    def on_end(self, history):
        """Close the files."""
        self._metrics.close()
        if self._writer is not None:
            self._writer.close()


# The suffix of the events file that holds a run's HParams summary
HPARAMS_SUFFIX = '.hparams'


def write_hparams(run_dir, trial_id, hparams, metrics, step):
    """A run's hyperparameters and final metrics for TensorBoard's HParams.

    Args:
        hparams: {name: bool, int, float or str} (the grid and the seed).
        metrics: {name: number}, written as 'final/<name>' scalars at
            `step`; the dashboard shows them beside the hyperparameters.
    Replaces the run's earlier HParams summary, unless it says the same:
    a resumed sweep leaves its finished runs' files as they were.
    """
    from tensorboard.plugins.hparams import api as hp
    events = pathlib.Path(run_dir) / 'tensorboard'
    events.mkdir(parents=True, exist_ok=True)
    olds = sorted(events.glob(f'*{HPARAMS_SUFFIX}'))
    with tempfile.TemporaryDirectory(dir=run_dir, prefix='.hparams') as tmp:
        writer = tf.summary.create_file_writer(
            tmp, filename_suffix=HPARAMS_SUFFIX)
        with writer.as_default(step=step):
            # a fixed start time: the same run gives the same summary
            hp.hparams(hparams, trial_id=trial_id, start_time_secs=0)
            for name, value in metrics.items():
                tf.summary.scalar(f'final/{name}', value)
        writer.close()
        new, = pathlib.Path(tmp).glob(f'*{HPARAMS_SUFFIX}')
        if len(olds) == 1 and _summaries(olds[0]) == _summaries(new):
            return
        for old in olds:
            old.unlink()
        new.rename(events / new.name)


def _summaries(path):
    """An events file's summaries, (step, bytes) each, without wall times.

    HParams contents are serialised again in a fixed order: their maps
    come out in an order that changes from one process to the next.
    """
    from tensorboard.plugins.hparams import plugin_data_pb2
    out = []
    for event in tf.compat.v1.train.summary_iterator(str(path)):
        if not event.HasField('summary'):
            continue
        for value in event.summary.value:
            data = value.metadata.plugin_data
            if data.plugin_name == 'hparams':
                data.content = plugin_data_pb2.HParamsPluginData.FromString(
                    data.content).SerializeToString(deterministic=True)
        out.append((event.step,
                    event.summary.SerializeToString(deterministic=True)))
    return out


def in_notebook():
    """Whether we run inside a Jupyter kernel."""
    try:
        from IPython import get_ipython
    except ImportError:  # IPython is optional outside notebooks
        return False
    shell = get_ipython()
    return shell is not None and 'IPKernelApp' in shell.config


class LossPlot:
    """Animates the loss curves as d2l's Animator does.

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
            from IPython import display  # only in a notebook
            display.display(self.fig)
            display.clear_output(wait=True)
        if self.run_dir is not None:
            save_figure(self.fig, self.run_dir / 'loss', ('png',), dpi=100)

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
