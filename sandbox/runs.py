"""The run folder: atomic writes, config.json, metrics.csv, loading runs.

A run folder holds config.json (its configs and corpus folder, written
once: a folder of another config is refused), metrics.csv (a row a step),
the JSON PARTS (baseline, an experiment's result, the probe report) and
what TensorFlow writes (model.keras, checkpoints/, tensorboard/). This
module reads and writes the plain files: it imports neither TensorFlow nor
matplotlib, so reading and plotting runs needs neither.
"""
import csv
import datetime
import json
import os
import pathlib
import tempfile

from sandbox.config import (DEFAULTS, SEED_KEYS, DataConfig, ModelConfig,
                            TrainConfig)

RUNS_ROOT = pathlib.Path('plots') / 'runs'
# The columns of metrics.csv: a row a step, val_* at validation steps
METRIC_COLUMNS = ('step', 'l', 'mlm_l', 'nsp_l', 'mlm_acc', 'nsp_acc',
                  'grad_norm', 'lr', 'pairs_per_sec', 'val_mlm_l',
                  'val_mlm_acc', 'val_ppl', 'val_nsp_l', 'val_nsp_acc')
# <part>.json files: the unigram baseline and NSP chance, an experiment's
# result (written last: it marks the run finished), the probe report
PARTS = ('baseline', 'result', 'probe')


class RunDirError(ValueError):
    """A run folder that belongs to another run."""


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


def write_text(path, text):
    """Write `text` (UTF-8) to `path`, atomically."""
    atomic_save(path, lambda tmp: pathlib.Path(tmp).write_text(
        text, encoding='utf-8'))


def write_json(path, obj):
    """Write `obj` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2) + '\n')


def write_part(run_dir, name, obj):
    """Write run_dir/<name>.json, one of PARTS."""
    if name not in PARTS:
        raise ValueError(f'name must be one of {PARTS}, got {name!r}')
    write_json(pathlib.Path(run_dir) / f'{name}.json', obj)


def read_part(run_dir, name):
    """run_dir/<name>.json's content, or None if it was not written."""
    path = pathlib.Path(run_dir) / f'{name}.json'
    return json.loads(path.read_text()) if path.is_file() else None


def new_run_dir(root=RUNS_ROOT, name='run'):
    """Return a fresh, timestamped folder under `root`."""
    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    path = pathlib.Path(root) / f'{stamp}-{name}'
    path.mkdir(parents=True, exist_ok=False)
    return path


# ------------------------------------------------------------ config.json

def config_differences(saved, wanted, sections=('data', 'model', 'train'),
                       defaults=DEFAULTS):
    """The 'section.field' keys whose values differ between config dicts.

    Only the fields of `wanted` (the current code's) count. A field that
    `saved` lacks (written before the field existed) counts as its value
    in `defaults` ({section: {field: default}}).
    """
    differ = []
    for section in sections:
        old, new = saved.get(section, {}), wanted.get(section, {})
        default = defaults.get(section, {})
        differ += [f'{section}.{field}' for field in new
                   if old.get(field, default.get(field)) != new[field]]
    return sorted(differ)


def read_config(run_dir):
    """A run folder's config.json as a dict.

    Raises:
        FileNotFoundError: there is none; RunDirError: it is not JSON.
    """
    path = pathlib.Path(run_dir) / 'config.json'
    if not path.is_file():
        raise FileNotFoundError(f'run_dir: {path} does not exist')
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunDirError(f'run_dir: {path} is not valid JSON ({e}); '
                          'choose another folder') from e


def claim_run_dir(run_dir, record):
    """Write config.json, or check that the folder's matches `record`.

    A folder holding another config's run is refused, never overwritten.
    """
    if not (pathlib.Path(run_dir) / 'config.json').exists():
        write_json(pathlib.Path(run_dir) / 'config.json', record)
        return
    saved, differ = read_config(run_dir), []
    for key in config_differences(saved, record):
        section, field = key.split('.')
        differ.append(f'{key}: {saved.get(section, {}).get(field)!r} -> '
                      f'{record[section].get(field)!r}')
    if saved.get('vocab_size') != record['vocab_size']:
        differ.append(f"vocab_size: {saved.get('vocab_size')} -> "
                      f"{record['vocab_size']}")
    if differ:
        raise RunDirError(
            f'run_dir: {run_dir} holds a run of another config '
            f'({"; ".join(differ)}); choose another folder (--out)')


def load_run_config(run_dir):
    """The (DataConfig, ModelConfig, TrainConfig) a run folder was made of."""
    saved = read_config(run_dir)
    return (DataConfig.from_dict(saved['data']),
            ModelConfig.from_dict(saved['model']),
            TrainConfig.from_dict(saved['train']))


def load_run_data_dir(run_dir):
    """The corpus folder a run was trained on, if it still exists."""
    try:
        saved = read_config(run_dir).get('data_dir')
    except FileNotFoundError:
        return None
    return saved if saved and pathlib.Path(saved).is_dir() else None


# ------------------------------------------------------------ metrics.csv

class MetricsFile:
    """metrics.csv opened to append rows; the header first if it is new."""

    def __init__(self, run_dir):
        path = pathlib.Path(run_dir) / 'metrics.csv'
        new = not path.exists() or path.stat().st_size == 0
        self._file = open(path, 'a', newline='')
        self._csv = csv.DictWriter(self._file, METRIC_COLUMNS,
                                   extrasaction='ignore')
        if new:
            self._csv.writeheader()

    def write(self, row):
        """Append a row (flushed, so a crash loses nothing)."""
        self._csv.writerow(row)
        self._file.flush()

    def close(self):
        """Close the file."""
        self._file.close()


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
    with open(path, newline='') as f:  # as written: no float round trip
        rows = [row for row in csv.DictReader(f)
                if row['step'] and int(float(row['step'])) <= last_step]

    def save(tmp):
        with open(tmp, 'w', newline='') as f:
            writer = csv.DictWriter(f, METRIC_COLUMNS, extrasaction='ignore')
            writer.writeheader()
            writer.writerows(rows)
    atomic_save(path, save)
    return read_metrics(run_dir)


# ------------------------------------------------- loading, grouping runs

def load_run(run_dir):
    """A run folder's config, metrics and PARTS (None where not written)."""
    run_dir = pathlib.Path(run_dir)
    return {'dir': run_dir, 'config': read_config(run_dir),
            'metrics': read_metrics(run_dir),
            **{name: read_part(run_dir, name) for name in PARTS}}


def _settings(config):
    """A run's config as flat 'section.field' keys, seeds left out."""
    return {f'{section}.{k}': json.dumps(v)
            for section in ('data', 'model', 'train')
            for k, v in config.get(section, {}).items()
            if f'{section}.{k}' not in SEED_KEYS}


def group_runs(runs):
    """Group loaded runs that differ only in seeds; return [(label, runs)].

    A run written by the experiment runner carries its label; otherwise the
    label lists the settings that differ between the groups.
    """
    groups = {}
    for run in runs:
        key = json.dumps(_settings(run['config']), sort_keys=True)
        groups.setdefault(key, []).append(run)
    settings = [_settings(g[0]['config']) for g in groups.values()]
    varying = sorted(k for k in set().union(*settings)
                     if len({s.get(k) for s in settings}) > 1)
    out = []
    for group, s in zip(groups.values(), settings):
        result = group[0]['result'] or {}
        label = result.get('label') or ', '.join(
            f'{k.split(".", 1)[1]}={json.loads(s[k])}' for k in varying
            if k in s) or group[0]['dir'].name
        out.append((label, group))
    return out


def load_groups(run_dirs):
    """Load run folders and group them by config: [(label, [runs])]."""
    return group_runs([load_run(d) for d in run_dirs])
