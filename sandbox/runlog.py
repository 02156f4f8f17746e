"""A run's folder: its config, per-step metrics as CSV, TensorBoard scalars."""
import csv
import json
import pathlib
import shutil

import tensorflow as tf

from sandbox.plot import atomic_save

COLUMNS = ('step', 'l', 'mlm_l', 'nsp_l', 'mlm_acc', 'nsp_acc',
           'grad_norm', 'lr', 'pairs_per_sec', 'val_mlm_l', 'val_mlm_acc',
           'val_ppl', 'val_nsp_l', 'val_nsp_acc')


def write_json(path, obj):
    """Write `obj` as indented JSON, atomically."""
    def save(tmp):
        with open(tmp, 'w') as f:
            json.dump(obj, f, indent=2)
            f.write('\n')
    atomic_save(path, save)


def config_differences(saved, wanted, sections=('data', 'model', 'train'),
                       defaults=None):
    """The 'section.field' keys whose values differ between config dicts.

    Only the fields of `wanted` (the current code's) count. A field that
    `saved` lacks (written before the field existed) counts as its value
    in `defaults` ({section: {field: default}}), when given.
    """
    differ = []
    for section in sections:
        old, new = saved.get(section, {}), wanted.get(section, {})
        default = (defaults or {}).get(section, {})
        differ += [f'{section}.{field}' for field in new
                   if old.get(field, default.get(field)) != new[field]]
    return sorted(differ)


def read_metrics(run_dir):
    """Read a run's metrics.csv as dicts of floats (None where blank)."""
    with open(pathlib.Path(run_dir) / 'metrics.csv', newline='') as f:
        return [{k: (float(v) if v != '' else None) for k, v in row.items()}
                for row in csv.DictReader(f)]


def truncate_metrics(run_dir, last_step):
    """Keep metrics.csv's rows up to `last_step` (atomically); return them.

    A run killed after its newest checkpoint wrote rows that the resumed
    run writes again: they go, so no row is doubled or lost.
    """
    path = pathlib.Path(run_dir) / 'metrics.csv'
    if not path.exists():
        return []
    with open(path, newline='') as f:
        rows = [row for row in csv.DictReader(f)
                if row['step'] and int(float(row['step'])) <= last_step]

    def save(tmp):
        with open(tmp, 'w', newline='') as f:
            writer = csv.DictWriter(f, COLUMNS, extrasaction='ignore')
            writer.writeheader()
            writer.writerows(rows)
    atomic_save(path, save)
    return read_metrics(run_dir)


class RunLogger:
    """A training callback writing metrics.csv and TensorBoard scalars.

    A resumed run passes the rows kept from before (truncate_metrics'): the
    TensorBoard events are written anew from them, so steps that the
    resumed run takes again do not appear twice.
    """

    def __init__(self, run_dir, tensorboard=True, previous=()):
        self.run_dir = pathlib.Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / 'metrics.csv'
        new = not path.exists() or path.stat().st_size == 0
        self._file = open(path, 'a', newline='')
        self._csv = csv.DictWriter(self._file, COLUMNS, extrasaction='ignore')
        if new:
            self._csv.writeheader()
        self._writer = None
        if tensorboard:
            events = self.run_dir / 'tensorboard'
            shutil.rmtree(events, ignore_errors=True)
            self._writer = tf.summary.create_file_writer(str(events))
            for row in previous:
                self._scalars(int(row['step']), row)

    def on_step(self, step, row):
        """Append the step's row (flushed, so a crash loses nothing)."""
        self._csv.writerow(row)
        self._file.flush()
        self._scalars(step, row)

    def _scalars(self, step, row):
        """The row's metrics as TensorBoard scalars at `step`."""
        if self._writer is not None:
            with self._writer.as_default(step=step):
                for key in COLUMNS[1:]:
                    if row.get(key) is not None:
                        tf.summary.scalar(key, row[key])

    def on_end(self, history):
        """Close the files."""
        self._file.close()
        if self._writer is not None:
            self._writer.close()
