"""Ablation experiments: a declarative grid of config changes, one runner.

An experiment file (experiments/*.py) defines ``EXPERIMENT = Experiment(
name, question, grid, ...)``. Every setting is a config field named
'section.field' (``data.mask_rate``, ``model.num_blks``,
``train.nsp_weight``, ``probe.num_sentences``) or ``preset``; names and
values are checked against the dataclasses when the Experiment is built,
before anything trains. The runner trains every grid point for every seed
into its own folder, skips runs that finished (an interrupted sweep
resumes), probes each trained encoder, and writes results.csv/.md, the
overlaid curves and a README that reads the numbers:

    python -m sandbox.experiment experiments/nsp.py --quick
"""
import argparse
import csv
import dataclasses
import gc
import importlib.util
import io
import itertools
import json
import math
import pathlib
import re
import shutil
import sys
import time
import warnings
from typing import Any, Mapping, NamedTuple, Optional, Tuple

from sandbox import plots, probe
from sandbox.config import (DEFAULTS, SEED_KEYS, SETTING_KEYS, Configs,
                            check_range, check_setting,
                            configs_from_settings, parse_settings)
from sandbox.runs import (config_differences, load_run, write_part,
                          write_text)

# The two sizes every experiment starts from; its own settings win.
# Adam at 1e-3 with 10% warm-up and linear decay: d2l's constant 0.01
# collapses the last layer within 100 steps (every token's vector the same,
# cosine 1.000; 0.961 at 1e-3, same validation loss).
# Full: d2l's batches (512 pairs of 64 tokens), 1000 steps, 3 seeds.
FULL = {'data.batch_size': 512, 'data.max_len': 64, 'train.lr': 1e-3,
        'train.num_steps': 1000, 'train.warmup_steps': 100,
        'train.decay': 'linear', 'train.val_every': 100,
        'probe.num_sentences': 1000}
# Quick: a few minutes an experiment on a 2-core CPU.
QUICK = {'data.batch_size': 64, 'data.max_len': 64, 'train.lr': 1e-3,
         'train.num_steps': 100,
         'train.warmup_steps': 10, 'train.decay': 'linear',
         'train.val_every': 20, 'probe.num_sentences': 300}

# Results-table columns: (column, header, format, better: 'min'/'max'/None)
COLUMNS = (
    ('final_val_mlm_l', 'val MLM loss', '.3f', 'min'),
    ('best_val_mlm_l', 'best val MLM loss', '.3f', 'min'),
    ('final_val_mlm_acc', 'val MLM acc', '.3f', 'max'),
    ('best_val_mlm_acc', 'best val MLM acc', '.3f', 'max'),
    ('final_val_nsp_acc', 'val NSP acc', '.3f', 'max'),
    ('probe_self_sim', 'self-sim', '.3f', None),
    ('probe_intra_sim', 'intra-sim', '.3f', None),
    ('probe_anisotropy', 'anisotropy', '.3f', None),
    ('probe_mlm_top1', 'top-1', '.3f', 'max'),
    ('probe_mlm_top5', 'top-5', '.3f', 'max'),
    ('probe_crane_cos', 'crane cos', '.3f', None),
    ('probe_pred_kl', 'KL(unigram)', '.2f', None),
    ('probe_top_word_share', 'top-word share', '.2f', None),
    ('pairs_per_sec', 'pairs/s', '.0f', 'max'),
    ('wall_time', 'wall s', '.0f', None),
    # in results.csv only
    ('probe_token_sim', None, '.3f', None),
    ('probe_token_sim_centred', None, '.3f', None),
    ('probe_eff_rank', None, '.1f', None),
    ('probe_collapsed', None, '.2f', None),
    ('final_val_ppl', None, '.1f', None),
    ('train_mlm_l', None, '.3f', None),
)


def _check_settings(settings, where):
    """Check every key of a settings mapping; seeds come from `seeds`."""
    if not isinstance(settings, Mapping):
        raise TypeError(f'{where} must be a dict of settings, '
                        f'got {settings!r}')
    for key in settings:
        check_setting(key, where=where)
        if key in SEED_KEYS:
            raise ValueError(f'{where} {key!r}: seeds are set by the '
                             'experiment\'s `seeds`, not by settings')


def format_value(value):
    """A value as a label: 0.15, true, 0.8/0.1/0.1."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return '/'.join(format_value(v) for v in value)
    if isinstance(value, float):
        return f'{value:g}'
    return str(value)


def slug(text):
    """A folder-safe form of a label."""
    return re.sub(r'[^A-Za-z0-9._=+-]+', '-', text).strip('-')


class Axis(NamedTuple):
    """One grid axis: its name and (label, settings) choices."""
    name: str                              # shown in labels
    choices: Tuple[Tuple[str, dict], ...]  # (label, {key: value})


def make_axis(key, values):
    """Normalise a grid entry into an Axis, checking every key.

    A config key takes a list of values, or a dict {label: value}. Any
    other name is an axis whose dict maps labels to settings of several
    fields, e.g. 'width': {'64': {'model.num_hiddens': 64, ...}, ...}.
    """
    if isinstance(values, Mapping):
        items = list(values.items())
    elif isinstance(values, (list, tuple)):
        items = [(format_value(v), v) for v in values]
    else:
        raise TypeError(f'grid[{key!r}] must be a list of values or a dict '
                        f'{{label: value}}, got {values!r}')
    if not items:
        raise ValueError(f'grid[{key!r}] has no values')
    if key in SETTING_KEYS:
        _check_settings({key: None}, 'grid key')
        choices = tuple((str(label), {key: value}) for label, value in items)
        name = key.split('.', 1)[-1]  # made unique by the Experiment
    else:
        if '.' in key or not all(isinstance(v, Mapping) for _, v in items):
            check_setting(key, where='grid key')  # a typo of a field: name it
        for label, settings in items:
            _check_settings(settings, f'grid[{key!r}][{label!r}] key')
        choices = tuple((str(label), dict(settings))
                        for label, settings in items)
        name = key
    labels = [label for label, _ in choices]
    if len(set(labels)) != len(labels):
        raise ValueError(f'grid[{key!r}] has repeated labels {labels}')
    return Axis(name, choices)


class Run(NamedTuple):
    """One training run of an experiment: a grid point and a seed."""
    name: str        # its folder under runs/
    label: str       # its group (the grid point), shared by its seeds
    seed: int
    point: dict      # axis name -> choice label
    settings: dict   # every setting applied, flat 'section.field' keys
    configs: Configs


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A question, the config fields it varies and the seeds it runs.

    Args:
        name: folder name of its results (plots/<name>).
        question: what the experiment asks, one sentence.
        grid: {key or axis name: values}; the runs are the product.
        seeds: seeds at full size; each sets data.seed and train.seed.
        quick_seeds: seeds with --quick.
        settings: applied to every run, over the FULL or QUICK sizes.
        full, quick: applied at that size only, over `settings`.
        baseline: the label of the reference group (default: the first).
        background: what the literature says, for the README.
        smooth, log_scale: how curves.png draws the losses (EMA weight of
            the training curves; log-scale y axes).
    """
    name: str
    question: str
    grid: Mapping[str, Any]
    seeds: Tuple[int, ...] = (0, 1, 2)
    quick_seeds: Tuple[int, ...] = (0, 1)
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    full: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    quick: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    baseline: Optional[str] = None
    background: str = ''
    smooth: float = 0.6
    log_scale: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or slug(self.name) != self.name \
                or not self.name:
            raise ValueError(f'name must be a folder-safe string, '
                             f'got {self.name!r}')
        if not isinstance(self.question, str) or not self.question.strip():
            raise ValueError('question: state what the experiment asks')
        if not isinstance(self.grid, Mapping) or not self.grid:
            raise ValueError(f'grid must be a non-empty dict, '
                             f'got {self.grid!r}')
        for field in ('seeds', 'quick_seeds'):
            seeds = tuple(getattr(self, field))
            if not seeds or len(set(seeds)) != len(seeds) or not all(
                    isinstance(s, int) and not isinstance(s, bool) and s >= 0
                    for s in seeds):
                raise ValueError(f'{field} must be distinct integers >= 0, '
                                 f'got {getattr(self, field)!r}')
            object.__setattr__(self, field, seeds)
        for field in ('settings', 'full', 'quick'):
            _check_settings(getattr(self, field), f'{field} key')
        check_range('smooth', self.smooth, 0, 0.999)
        if not isinstance(self.log_scale, bool):
            raise TypeError(f'log_scale must be a bool, '
                            f'got {self.log_scale!r}')
        axes = [make_axis(k, v) for k, v in self.grid.items()]
        names = [a.name for a in axes]
        # 'mask_rate' names the axis unless two sections' fields clash
        axes = [a._replace(name=k) if names.count(a.name) > 1 else a
                for a, k in zip(axes, self.grid)]
        object.__setattr__(self, 'axes', tuple(axes))
        labels = [label for label, _, _ in self.points()]
        if self.baseline is not None and self.baseline not in labels:
            raise ValueError(f'baseline {self.baseline!r} is not a group; '
                             f'groups: {labels}')
        for quick in (False, True):  # every value, both sizes, up front
            self.runs(quick)

    def points(self):
        """[(label, {axis: choice label}, settings)] of the grid, in order."""
        out = []
        for combo in itertools.product(*(a.choices for a in self.axes)):
            point = {a.name: label for a, (label, _) in zip(self.axes, combo)}
            settings = {}
            for _, s in combo:
                clash = sorted(set(settings) & set(s))
                if clash:
                    raise ValueError(f'grid axes both set {clash}')
                settings.update(s)
            label = ', '.join(f'{k}={v}' for k, v in point.items())
            out.append((label, point, settings))
        return out

    @property
    def baseline_label(self):
        """The reference group: `baseline`, else the grid's first point."""
        return self.baseline or self.points()[0][0]

    def runs(self, quick=False, seeds=None, overrides=None):
        """Every run, seed by seed (all groups of seed 0 first).

        Args:
            seeds: replaces the experiment's seeds.
            overrides: settings over everything but the grid (--set).
        """
        overrides = dict(overrides or {})
        _check_settings(overrides, 'override')
        grid_keys = {k for _, _, s in self.points() for k in s}
        clash = sorted(grid_keys & set(overrides))
        if clash:
            raise ValueError(f'override {clash} is a grid axis of '
                             f'{self.name!r}; it cannot be overridden')
        base = {**(QUICK if quick else FULL), **self.settings,
                **(self.quick if quick else self.full), **overrides}
        seeds = tuple(seeds) if seeds is not None else (
            self.quick_seeds if quick else self.seeds)
        runs = []
        for seed in seeds:
            for label, point, grid_settings in self.points():
                settings = {**base, **grid_settings, 'data.seed': seed,
                            'train.seed': seed}
                try:
                    configs = configs_from_settings(settings)
                except (TypeError, ValueError) as e:
                    raise type(e)(f'{self.name} [{label}]: {e}') from e
                name = '__'.join(f'{k}={slug(v)}' for k, v in point.items())
                runs.append(Run(f'{name}__seed={seed}', label, seed, point,
                                settings, configs))
        names = [run.name for run in runs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f'grid labels give the same folder twice: '
                             f'{twice}')
        return runs


def load_experiment(path):
    """Import an experiment file and return its EXPERIMENT."""
    path = pathlib.Path(path)
    if not path.exists() and not path.suffix:
        path = pathlib.Path('experiments') / f'{path}.py'
    if not path.is_file():
        raise FileNotFoundError(f'experiment file {path} does not exist')
    spec = importlib.util.spec_from_file_location(
        f'_experiment_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    experiment = getattr(module, 'EXPERIMENT', None)
    if not isinstance(experiment, Experiment):
        raise ValueError(f'{path} must define EXPERIMENT = Experiment(...)')
    return experiment


# ------------------------------------------------------------- one run

def summarize_history(history, batch_size):
    """The results-table numbers of one run's history (or metrics.csv rows).

    final_*: at the last validation; best_*: the best over validations;
    pairs_per_sec: total pairs over total step time, the first (tracing)
    step left out.
    """
    val = [r for r in history if r.get('val_mlm_l') is not None]
    if not val:
        raise ValueError('history has no validation row (val_mlm_l)')
    timed = [r['pairs_per_sec'] for r in history[1:]
             if r.get('pairs_per_sec')] or [history[0]['pairs_per_sec']]
    tail = history[-max(1, len(history) // 10):]
    return {
        'final_val_mlm_l': val[-1]['val_mlm_l'],
        'best_val_mlm_l': min(r['val_mlm_l'] for r in val),
        'final_val_mlm_acc': val[-1]['val_mlm_acc'],
        'best_val_mlm_acc': max(r['val_mlm_acc'] for r in val),
        'final_val_ppl': val[-1]['val_ppl'],
        'final_val_nsp_l': val[-1]['val_nsp_l'],
        'final_val_nsp_acc': val[-1]['val_nsp_acc'],
        'train_mlm_l': sum(r['mlm_l'] for r in tail) / len(tail),
        'train_nsp_l': sum(r['nsp_l'] for r in tail) / len(tail),
        # pairs / time = n / sum(1 / rate): the harmonic mean of the rates
        'pairs_per_sec': len(timed) / sum(1 / r for r in timed),
        'steps': int(history[-1]['step']),
        'pairs_seen': int(history[-1]['step']) * batch_size,
    }


def _normal(obj):
    """JSON round trip, so tuples and lists compare equal."""
    return json.loads(json.dumps(obj))


def probe_run(run, run_dir, net, vocab, data_dir, verify, log):
    """Probe a trained net; write probe.json; return the summary scores."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', probe.CollapseWarning)
        report = probe.probe_model(net, vocab, data_dir, run.configs.probe,
                                   run.configs.data.max_len, verify)
    for w in caught:
        if issubclass(w.category, probe.CollapseWarning):
            log(f'    warning: {w.message}')
        else:
            warnings.warn_explicit(w.message, w.category, w.filename,
                                   w.lineno)
    write_part(run_dir, 'probe', report)
    return probe.summarize(report)


def execute(run, run_dir, data_dir=None, verify=True, probe=True,
            keep_model=True, verbose=False, log=print):
    """Train, plot and probe one run into a fresh `run_dir`; return result.

    result.json is written last: its presence marks a finished run.
    """
    import keras

    from sandbox.pretrain import pretrain
    if run_dir.exists() and not resumable(run, run_dir):
        shutil.rmtree(run_dir)  # an interrupted run: start it afresh
    start = time.perf_counter()
    out = pretrain(run.configs.data, run.configs.model, run.configs.train,
                   data_dir=data_dir, run_dir=run_dir, plot=False,
                   verbose=verbose, verify=verify)
    wall_time = time.perf_counter() - start
    plots.save_loss_plot(out['history'], run_dir / 'loss',
                         run.configs.train.num_steps, out['baseline'])
    metrics = summarize_history(out['history'], run.configs.data.batch_size)
    metrics['wall_time'] = wall_time
    if probe:
        metrics.update(probe_run(run, run_dir, out['net'], out['vocab'],
                                 data_dir, verify, log))
    # model.keras holds the trained weights: the checkpoints are spent
    shutil.rmtree(run_dir / 'checkpoints', ignore_errors=True)
    if not keep_model:
        (run_dir / 'model.keras').unlink(missing_ok=True)
    result = {'name': run.name, 'label': run.label, 'seed': run.seed,
              'point': run.point, 'settings': _normal(run.settings),
              'configs': run.configs.to_dict(), 'metrics': metrics}
    write_part(run_dir, 'result', result)
    del out
    keras.backend.clear_session()
    gc.collect()
    return result


def resumable(run, run_dir):
    """Whether an unfinished run folder has a checkpoint of this config.

    pretrain resumes such a run where its newest checkpoint left off;
    anything else in the folder (no checkpoint, another config) is stale.
    """
    path = run_dir / 'config.json'
    if not (run_dir / 'checkpoints').is_dir() or not path.is_file():
        return False
    try:
        stored = json.loads(path.read_text())
    except json.JSONDecodeError:
        return False
    return not config_differences(stored, _normal(run.configs.to_dict()),
                                  defaults=DEFAULTS)


def finished(run, run_dir):
    """The stored result of a finished run with this config, else None.

    Raises ValueError if the folder holds a finished run of another config
    (the experiment changed since): delete it or pass rerun=True.
    """
    path = run_dir / 'result.json'
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    wanted = _normal(run.configs.to_dict())
    differ = config_differences(result.get('configs', {}), wanted,
                                sections=tuple(wanted), defaults=DEFAULTS)
    if differ:
        raise ValueError(f'{run_dir} holds a finished run whose config '
                         f'differs in {differ}; delete it or rerun '
                         '(--rerun)')
    return result


def reprobe(run, run_dir, result, data_dir, verify, log):
    """Probe a finished run again from its model.keras; update result.json."""
    import keras

    from sandbox.pretrain import load_run_model
    net, vocab = load_run_model(run_dir)
    result['metrics'].update(probe_run(run, run_dir, net, vocab, data_dir,
                                       verify, log))
    write_part(run_dir, 'result', result)
    keras.backend.clear_session()
    return result


# ------------------------------------------------- tables and the README

def aggregate(results, columns=tuple(c for c, *_ in COLUMNS)):
    """Mean and sample std over seeds of each column, one row a group.

    Args:
        results: run results (dicts with 'label' and 'metrics').
    Returns:
        Rows in order of first appearance: label, n (runs), and for each
        column <col>_mean and <col>_std (None where no run has a value;
        std None for a single value).
    """
    groups = {}
    for result in results:
        groups.setdefault(result['label'], []).append(result)
    rows = []
    for label, group in groups.items():
        row = {'label': label, 'n': len(group)}
        for col in columns:
            values = [r['metrics'][col] for r in group
                      if r['metrics'].get(col) is not None]
            mean = sum(values) / len(values) if values else None
            row[f'{col}_mean'] = mean
            row[f'{col}_std'] = math.sqrt(
                sum((v - mean) ** 2 for v in values) / (len(values) - 1)) \
                if len(values) > 1 else None
        rows.append(row)
    return rows


def _csv_text(rows, fields):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fields, extrasaction='ignore',
                            lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def format_cell(mean, std, fmt):
    """'6.812 ± 0.021', '6.812' (one seed) or '–' (no value)."""
    if mean is None:
        return '–'
    return f'{mean:{fmt}}' + (f' ± {std:{fmt}}' if std is not None else '')


def markdown_table(rows, columns=COLUMNS):
    """A Markdown table of aggregated rows; the best mean in bold."""
    columns = [c for c in columns if c[1] is not None and any(
        r.get(f'{c[0]}_mean') is not None for r in rows)]
    lines = ['| group | n | ' + ' | '.join(h for _, h, _, _ in columns) +
             ' |', '|' + '---|' * (len(columns) + 2)]
    best = {}  # the best mean as printed; none if all print the same
    for col, _, fmt, better in columns:
        values = [r[f'{col}_mean'] for r in rows
                  if r[f'{col}_mean'] is not None]
        shown = {f'{v:{fmt}}' for v in values}
        if better and len(shown) > 1:
            best[col] = f'{(min if better == "min" else max)(values):{fmt}}'
    for r in rows:
        cells = []
        for col, _, fmt, _ in columns:
            cell = format_cell(r[f'{col}_mean'], r[f'{col}_std'], fmt)
            if col in best and r[f'{col}_mean'] is not None and \
                    f'{r[f"{col}_mean"]:{fmt}}' == best[col]:
                cell = f'**{cell}**'
            cells.append(cell)
        lines.append(f'| {r["label"]} | {r["n"]} | ' + ' | '.join(cells) +
                     ' |')
    return '\n'.join(lines) + '\n'


def write_tables(out, results):
    """results.csv, results.md (aggregated) and runs.csv (one row a run)."""
    rows = aggregate(results)
    columns = [c for c, *_ in COLUMNS]
    fields = ['label', 'n'] + [f'{c}_{s}' for c in columns
                               for s in ('mean', 'std')]
    for name, text in (
            ('results.csv', _csv_text(rows, fields)),
            ('results.md', markdown_table(rows)),
            ('runs.csv', _csv_text(
                [{'label': r['label'], 'seed': r['seed'], 'name': r['name'],
                  **r['metrics']} for r in results],
                ['label', 'seed', 'name'] + sorted(
                    {k for r in results for k in r['metrics']}))),):
        write_text(out / name, text)
    return rows


def difference(row, base, col):
    """(row - base, its standard error or None) of a column's means."""
    d = row[f'{col}_mean'] - base[f'{col}_mean']
    stds = [(row[f'{col}_std'], row['n']), (base[f'{col}_std'], base['n'])]
    if any(s is None for s, _ in stds):
        return d, None
    return d, math.sqrt(sum(s ** 2 / n for s, n in stds))


def interpret(experiment, rows, size_note):
    """One paragraph of what the numbers say, from the aggregated rows."""
    key = 'final_val_mlm_l'
    rows = [{**r, 'label': f"`{r['label']}`"} for r in rows  # as code
            if r.get(f'{key}_mean') is not None]
    if not rows:
        return 'No finished run yet.'
    base = next((r for r in rows if r['label'] ==
                 f'`{experiment.baseline_label}`'), rows[0])
    ranked = sorted(rows, key=lambda r: r[f'{key}_mean'])
    parts = [size_note]
    best, worst = ranked[0], ranked[-1]
    parts.append(
        f'The lowest final validation MLM loss (mask rate 0.15) is '
        f'{best[f"{key}_mean"]:.3f} for {best["label"]}, the highest '
        f'{worst[f"{key}_mean"]:.3f} for {worst["label"]}.')
    beyond, within, unknown = [], [], []
    for r in rows:
        if r is base:
            continue
        d, se = difference(r, base, key)
        if se is None:
            unknown.append(f'{r["label"]} ({d:+.3f})')
        else:
            (beyond if abs(d) > 2 * se else within).append(
                f'{r["label"]} ({d:+.3f} ± {se:.3f})')
    found = []
    if beyond:
        found.append('beyond the seed-to-seed noise (more than 2 standard '
                     'errors) for ' + ', '.join(beyond))
    if within:
        found.append(('within it' if beyond else 'within the seed-to-seed '
                      'noise (2 standard errors)') + ' for ' +
                     ', '.join(within))
    if unknown:
        found.append('with one seed, of unknown noise, for ' +
                     ', '.join(unknown))
    if found:
        parts.append(f'Against the baseline ({base["label"]}), the loss '
                     f'changes ' + '; '.join(found) + '.')
    rose = [f'{r["label"]} ({r["best_val_mlm_l_mean"]:.3f} to '
            f'{r[f"{key}_mean"]:.3f})' for r in rows
            if r.get('best_val_mlm_l_mean') is not None and
            r[f'{key}_mean'] - r['best_val_mlm_l_mean'] > 0.01]
    if rose:
        parts.append('The validation loss rose from its best to its last '
                     'value for ' + ', '.join(rose) + ': a sign of '
                     'overfitting.')
    acc = [r['final_val_mlm_acc_mean'] for r in rows]
    if max(acc) - min(acc) < 0.005:
        parts.append(
            f'Validation MLM accuracy is the same for every group '
            f'({sum(acc) / len(acc):.3f}): the models predict little '
            'beyond the most frequent words yet, so the losses, not the '
            'accuracies, tell the groups apart.')
    else:
        top = max(rows, key=lambda r: r['final_val_mlm_acc_mean'])
        parts.append(f'Validation MLM accuracy ranges {min(acc):.3f}-'
                     f'{max(acc):.3f}, highest for {top["label"]}.')
    nsp = [(r['final_val_nsp_acc_mean'], r['label']) for r in rows]
    lo, hi = min(nsp), max(nsp)
    parts.append(f'NSP accuracy ranges {lo[0]:.3f} ({lo[1]}) to {hi[0]:.3f}'
                 f' ({hi[1]})' + ('; everything near 0.5 is chance.' if
                                  lo[0] < 0.56 else '.'))
    if all(r.get('probe_self_sim_mean') is not None for r in rows):
        sims = sorted((r['probe_self_sim_mean'], r['label']) for r in rows)
        aniso = sorted({f'{r["probe_anisotropy_mean"]:.2f}' for r in rows})
        parts.append(
            f'In the last layer, a word\'s vectors across sentences have '
            f'mean cosine {sims[0][0]:.2f} ({sims[0][1]}) to '
            f'{sims[-1][0]:.2f} ({sims[-1][1]}), against an anisotropy '
            f'baseline of {aniso[0]}' +
            (f'-{aniso[-1]}.' if len(aniso) > 1 else '.'))
    collapsed = [r['label'] for r in rows
                 if (r.get('probe_collapsed_mean') or 0) > 0]
    if collapsed:
        which = 'every group' if len(collapsed) == len(rows) else \
            ', '.join(collapsed)
        parts.append(
            f'The collapse check fires for {which}: at masked positions '
            'the predictions stay close to the training unigram (or mostly '
            'name its most frequent word), so the model predicts word '
            'frequencies, not words in context.')
    speed = sorted((r['pairs_per_sec_mean'], r['label']) for r in rows)
    if speed[-1][0] > 1.15 * speed[0][0]:
        parts.append(f'Training speed ranges {speed[0][0]:.0f} pairs/s '
                     f'({speed[0][1]}) to {speed[-1][0]:.0f} '
                     f'({speed[-1][1]}).')
    if min(r['n'] for r in rows) < 3:
        parts.append('With fewer than 3 seeds the standard errors are '
                     'rough; read differences of a few hundredths as '
                     'noise.')
    return ' '.join(parts)


def size_note(runs, quick):
    """A sentence on how big the runs were."""
    c = runs[0].configs
    seeds = sorted({r.seed for r in runs})
    return (f'{"At --quick size" if quick else "At full size"} '
            f'({c.train.num_steps} steps of {c.data.batch_size} pairs of '
            f'up to {c.data.max_len} tokens, {len(seeds)} seed'
            f'{"s" if len(seeds) > 1 else ""}):')


def write_report(experiment, out, runs, results, quick, command):
    """Tables, plots and README.md of an experiment's finished runs."""
    rows = write_tables(out, results)
    by_label = {}
    for result in results:
        by_label.setdefault(result['label'], []).append(result)
    labels = list(by_label)
    loaded = {label: [load_run(out / 'runs' / r['name'])
                      for r in group] for label, group in by_label.items()}
    title = f'{experiment.name}: {experiment.question}'
    images = []
    fig = plots.plot_curves(
        [(label, [run['metrics'] for run in loaded[label]])
         for label in labels], smooth=experiment.smooth,
        log=experiment.log_scale, title=title,
        baseline=loaded[labels[0]][0]['baseline'])
    plots.save_figure(fig, out / 'curves')
    images.append(('curves', f'Loss curves, mean ± std over seeds (train '
                   f'EMA {experiment.smooth}; circles: validation at mask '
                   'rate 0.15)'))
    plots.save_figure(plots.plot_summary(rows, title=title),
                      out / 'summary')
    images.append(('summary', 'Final numbers per group (the best circled)'))
    probed = {label: [run['probe'] for run in loaded[label]
                      if run['probe'] is not None] for label in labels}
    if all(probed.values()):
        plots.save_figure(plots.plot_layers(
            [(label, probed[label]) for label in labels], title=title),
            out / 'layers')
        images.append(('layers', 'Probes per layer on held-out sentences '
                       '(after Ethayarajh 2019)'))
        fig = plots.plot_last_attention(
            labels, [probed[label][0]['attention'] for label in labels])
        plots.save_figure(fig, out / 'attention')
        images.append(('attention', 'Attention weights of the last block '
                       '(first seed of each group)'))
    text = [f'# {experiment.name}: {experiment.question}', '']
    if experiment.background:
        text += [experiment.background.strip(), '']
    text += ['```bash', command, '```', '',
             '## Results', '',
             markdown_table(rows),
             'Mean ± sample std over seeds. *val*: the fixed validation '
             'set (every WikiText-2 validation pair, masked once at rate '
             '0.15 with 80/10/10, the same for every run); '
             '*final*: at the last step. Probes on the last layer of '
             f'{runs[0].configs.probe.num_sentences} held-out '
             f'{runs[0].configs.probe.split} sentences: *self-sim*, the '
             'mean cosine of a word\'s vectors across sentences; '
             '*intra-sim*, of a sentence\'s words with their mean; '
             '*anisotropy*, of random words from different sentences; '
             '*top-1/top-5*, MLM accuracy with every chosen word '
             '`<mask>`-ed; *crane cos*, d2l\'s "crane" bird vs machine. '
             '*pairs/s* (the first, tracing step left out) and *wall s* '
             'are clock times on the machine that ran the sweep; on a '
             'shared CPU they are noisy. Per-run numbers: `runs.csv`; '
             'per-step metrics and per-layer probes: `runs/<run>/`.', '']
    for stem, caption in images:
        text += [f'![{caption}]({stem}.png)', '', f'*{caption}.*', '']
    text += ['## What the numbers say', '',
             interpret(experiment, rows, size_note(runs, quick)), '']
    content = '\n'.join(text)
    write_text(out / 'README.md', content)
    return rows


# ------------------------------------------------------------- the runner

def default_out(experiment, quick):
    """plots/<name> for --quick (what is committed), plots/<name>-full."""
    return pathlib.Path('plots') / (experiment.name if quick else
                                    f'{experiment.name}-full')


def run_experiment(experiment, quick=False, out=None, data_dir=None,
                   seeds=None, overrides=None, rerun=False, reprobe_all=False,
                   probe=True, keep_models=True, verify=True, verbose=False,
                   command=None, log=print):
    """Run (or resume) every run of `experiment`, then write its report.

    Args:
        quick: the QUICK size and quick_seeds.
        out: results folder (default plots/<name>, or plots/<name>-full).
        seeds, overrides: see Experiment.runs.
        rerun: train finished runs again.
        reprobe_all: probe finished runs again from their model.keras.
        probe: run the probing suite after training.
        keep_models: keep each run's model.keras (needed to re-probe).
    Returns:
        The aggregated rows of the results table.
    """
    runs = experiment.runs(quick, seeds, overrides)  # validates first
    out = pathlib.Path(out) if out else default_out(experiment, quick)
    (out / 'runs').mkdir(parents=True, exist_ok=True)
    command = command or (f'python -m sandbox.experiment '
                          f'experiments/{experiment.name}.py' +
                          (' --quick' if quick else ''))
    results, start = [], time.perf_counter()
    for i, run in enumerate(runs, 1):
        run_dir = out / 'runs' / run.name
        head = f'[{i}/{len(runs)}] {run.label}, seed {run.seed}'
        result = None if rerun else finished(run, run_dir)
        if result is not None and (reprobe_all or (
                probe and 'probe_self_sim' not in result['metrics'])):
            log(f'{head}: finished; probing again')
            result = reprobe(run, run_dir, result, data_dir, verify, log)
        elif result is not None:
            log(f'{head}: finished, skipped')
        else:
            log(f'{head}: training')
            result = execute(run, run_dir, data_dir, verify, probe,
                             keep_models, verbose, log)
            m = result['metrics']
            log(f'    val MLM loss {m["final_val_mlm_l"]:.3f}, acc '
                f'{m["final_val_mlm_acc"]:.3f}, NSP acc '
                f'{m["final_val_nsp_acc"]:.3f}, {m["pairs_per_sec"]:.0f} '
                f'pairs/s, {m["wall_time"]:.0f} s')
        results.append(result)
        write_tables(out, results)
    rows = write_report(experiment, out, runs, results, quick, command)
    log(f'{len(runs)} runs in {time.perf_counter() - start:.0f} s; '
        f'results in {out}/ (README.md, results.md, results.csv)')
    return rows


def report_only(experiment, quick=False, out=None, seeds=None,
                overrides=None, command=None):
    """Rewrite tables, plots and README from the finished runs on disk."""
    runs = experiment.runs(quick, seeds, overrides)
    out = pathlib.Path(out) if out else default_out(experiment, quick)
    results = [r for r in (finished(run, out / 'runs' / run.name)
                           for run in runs) if r is not None]
    if not results:
        raise FileNotFoundError(f'no finished run of {experiment.name} '
                                f'in {out / "runs"}')
    done = {r['name'] for r in results}
    command = command or (f'python -m sandbox.experiment '
                          f'experiments/{experiment.name}.py' +
                          (' --quick' if quick else ''))
    return write_report(experiment, out, [r for r in runs if r.name in done],
                        results, quick, command)


def main(argv=None):
    """python -m sandbox.experiment EXPERIMENT_FILE [--quick] ..."""
    parser = argparse.ArgumentParser(
        prog='python -m sandbox.experiment',
        description='Run (or resume) an ablation experiment and write its '
                    'results table, plots and README.')
    parser.add_argument('experiment', nargs='?',
                        help='an experiment file, e.g. experiments/nsp.py')
    parser.add_argument('--quick', action='store_true',
                        help='minutes on a CPU: small batches, few steps, '
                             'quick_seeds')
    parser.add_argument('--data-dir', default=None,
                        help='the WikiText-2 folder')
    parser.add_argument('--out', default=None,
                        help='results folder (default plots/<name>, '
                             'plots/<name>-full without --quick)')
    parser.add_argument('--seeds', type=int, nargs='+', default=None)
    parser.add_argument('--set', dest='overrides', action='append',
                        default=[], metavar='KEY=VALUE',
                        help='override a setting, e.g. --set train.lr=1e-3')
    parser.add_argument('--rerun', action='store_true',
                        help='train finished runs again')
    parser.add_argument('--reprobe', action='store_true',
                        help='probe finished runs again (their model.keras)')
    parser.add_argument('--no-probe', dest='probe', action='store_false')
    parser.add_argument('--no-keep-models', dest='keep_models',
                        action='store_false',
                        help='delete model.keras once a run is probed')
    parser.add_argument('--no-verify', dest='verify', action='store_false',
                        help='read a corpus of your own (no sha1 check)')
    parser.add_argument('--dry-run', action='store_true',
                        help='check the experiment and list its runs')
    parser.add_argument('--report-only', action='store_true',
                        help='rewrite tables/plots/README from finished runs')
    parser.add_argument('--keys', action='store_true',
                        help='list the settings an experiment may use')
    parser.add_argument('--verbose', action='store_true',
                        help='show each run\'s progress bar')
    args = parser.parse_args(argv)
    if args.keys:
        print('\n'.join(SETTING_KEYS))
        return
    if not args.experiment:
        parser.error('an experiment file is required')
    try:
        experiment = load_experiment(args.experiment)
        overrides = parse_settings(args.overrides)
        runs = experiment.runs(args.quick, args.seeds, overrides)
    except (TypeError, ValueError, FileNotFoundError) as e:
        parser.exit(2, f'error: {e}\n')
    # the command that trains these runs, for the README
    command = 'python -m sandbox.experiment ' + ' '.join(
        a for a in (sys.argv[1:] if argv is None else argv)
        if a not in ('--report-only', '--reprobe', '--rerun'))
    if args.dry_run:
        for run in runs:
            print(run.name)
        print(f'{len(runs)} runs; settings of the first: '
              f'{json.dumps(_normal(runs[0].settings))}')
        return
    if args.report_only:
        report_only(experiment, args.quick, args.out, args.seeds, overrides,
                    command)
        return
    run_experiment(experiment, args.quick, args.out, args.data_dir,
                   args.seeds, overrides, args.rerun, args.reprobe,
                   args.probe, args.keep_models, args.verify, args.verbose,
                   command)


if __name__ == '__main__':
    # Run the importable module's main, so that experiment files and this
    # command share one Experiment class
    from sandbox.experiment import main as _main
    _main()
