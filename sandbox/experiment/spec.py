"""An experiment: a question, a grid of config changes, seeds and sizes.

An experiment file (experiments/*.py) defines ``EXPERIMENT = Experiment(
name, question, grid, ...)``. Every setting is a config field named
'section.field' (``data.mask_rate``, ``model.num_blks``,
``train.nsp_weight``, ``probe.num_sentences``) or ``preset``; names and
values are checked against the configs when the Experiment is built,
before anything trains. No TensorFlow: listing and checking runs is quick.
"""
import dataclasses
import importlib.util
import itertools
import pathlib
import re
from typing import Any, Mapping, NamedTuple, Optional, Tuple

from sandbox.config import (RECIPES, SEED_KEYS, SETTING_KEYS, ConfigError,
                            Configs, check_choice, check_range,
                            check_setting,
                            configs_from_settings)

# The two sizes every experiment starts from; its own settings win.
# Standard (FULL): the default recipe (config.RECIPES['default'], chosen
# by the sweep in docs/recipe.md) at BERT's 15% masking, the default's
# rate when every shipped experiment ran: 1,800 steps of 128 pairs (230k
# pairs), at which the baseline arm clears the unigram gate.
FULL = {**RECIPES['default'], 'data.mask_rate': 0.15, 'data.max_len': 64,
        'probe.num_sentences': 1000}
# What the curves of an experiment may be drawn against
X_AXES = ('step', 'epoch', 'time', 'budget')
# Quick: the same recipe for 100 steps of 64 pairs, a smoke test of the
# code: every arm is still at the unigram baseline, so nothing is ranked.
QUICK = {**FULL, 'data.batch_size': 64, 'train.num_steps': 100,
         'train.warmup_steps': 10, 'train.val_every': 20,
         'train.checkpoint_every': 20, 'probe.num_sentences': 300}


def _check_settings(settings, where):
    """Check every key of a settings mapping; seeds come from `seeds`."""
    if not isinstance(settings, Mapping):
        raise ConfigError(f'{where} must be a dict of settings, '
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
        raise ConfigError(f'grid[{key!r}] must be a list of values or a '
                          f'dict {{label: value}}, got {values!r}')
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


def _check_seeds(seeds, where):
    """Seeds as a tuple of distinct integers >= 0, else a ValueError."""
    try:
        out = tuple(seeds)
    except TypeError:
        out = ()
    if not out or len(set(out)) != len(out) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0
            for s in out):
        raise ValueError(f'{where} must be distinct integers >= 0, '
                         f'got {seeds!r}')
    return out


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
        seeds_by_group: {group label: seeds} at full size, in place of
            `seeds` for that group (e.g. more seeds for one contrast).
        settings: applied to every run, over the FULL or QUICK sizes.
        full, quick: applied at that size only, over `settings`.
        full_by_group: {group label: settings} at full size, over `full`
            (e.g. each arm's steps of an equal time budget).
        baseline: the label of the reference group (default: the first).
        references: {group label: another group's label}: the group it is
            compared with in place of the baseline, the one it differs
            from in one factor (where it differs from the baseline in two).
        background: what the literature says, for the README.
        smooth, log_scale: how curves.png draws the losses (EMA weight of
            the training curves; log-scale y axes).
        x_axis: the curves' x axis, one of X_AXES: 'step', 'epoch' (where
            epochs matter), 'time' (equal wall-clock budgets) or 'budget'
            (the share of each run's own steps: equal budgets in steps).
        predictions: what the literature predicts, checked against the
            paired differences: {group label: (results column, sign of
            arm - its reference (the baseline unless `references` names
            another): -1, 0 or +1, the source in a few words)}; a key
            (arm, other) predicts arm - other instead.
    """
    name: str
    question: str
    grid: Mapping[str, Any]
    seeds: Tuple[int, ...] = (0, 1, 2)
    quick_seeds: Tuple[int, ...] = (0, 1)
    seeds_by_group: Mapping[str, Tuple[int, ...]] = dataclasses.field(
        default_factory=dict)
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    full: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    quick: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    full_by_group: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=dict)
    baseline: Optional[str] = None
    references: Mapping[str, str] = dataclasses.field(default_factory=dict)
    background: str = ''
    smooth: float = 0.6
    log_scale: bool = False
    x_axis: str = 'step'
    predictions: Mapping[Any, Tuple[str, int, str]] = dataclasses.field(
        default_factory=dict)

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
            object.__setattr__(self, field,
                               _check_seeds(getattr(self, field), field))
        for field in ('settings', 'full', 'quick'):
            _check_settings(getattr(self, field), f'{field} key')
        check_range('smooth', self.smooth, 0, 0.999)
        if not isinstance(self.log_scale, bool):
            raise ConfigError(f'log_scale must be a bool, '
                              f'got {self.log_scale!r}')
        check_choice('x_axis', self.x_axis, X_AXES)
        axes = [make_axis(k, v) for k, v in self.grid.items()]
        names = [a.name for a in axes]
        # 'mask_rate' names the axis unless two sections' fields clash
        axes = [a._replace(name=k) if names.count(a.name) > 1 else a
                for a, k in zip(axes, self.grid)]
        object.__setattr__(self, 'axes', tuple(axes))
        labels = [label for label, _, _ in self.points()]
        grid_keys = self.grid_keys()
        for label, settings in self.full_by_group.items():
            if label not in labels:
                raise ValueError(f'full_by_group: {label!r} is not a group; '
                                 f'groups: {labels}')
            _check_settings(settings, f'full_by_group[{label!r}] key')
            clash = sorted(grid_keys & set(settings))
            if clash:
                raise ValueError(f'full_by_group[{label!r}] sets the grid '
                                 f'axis {clash}')
        by_group = {}
        for label, seeds in self.seeds_by_group.items():
            if label not in labels:
                raise ValueError(f'seeds_by_group: {label!r} is not a group; '
                                 f'groups: {labels}')
            by_group[label] = _check_seeds(seeds,
                                           f'seeds_by_group[{label!r}]')
        object.__setattr__(self, 'seeds_by_group', by_group)
        if self.baseline is not None and self.baseline not in labels:
            raise ValueError(f'baseline {self.baseline!r} is not a group; '
                             f'groups: {labels}')
        if not isinstance(self.references, Mapping):
            raise ValueError(f'references must be a dict {{arm: arm}}, '
                             f'got {self.references!r}')
        for label, other in self.references.items():
            if label not in labels or other not in labels or \
                    label in (other, self.baseline_label):
                raise ValueError(f'references: {label!r}: {other!r} is not '
                                 'a pair of two groups, the first not the '
                                 f'baseline; groups: {labels}')
        for key, prediction in self.predictions.items():
            arm, other = self.contrast(key)
            if arm not in labels or other not in labels or arm == other:
                raise ValueError(f'predictions: {key!r} is not a group '
                                 f'other than the baseline, or a pair of '
                                 f'two groups; groups: {labels}')
            if not (isinstance(prediction, tuple) and len(prediction) == 3
                    and prediction[1] in (-1, 0, 1)):
                raise ValueError(f'predictions[{key!r}] must be (column, '
                                 f'sign -1/0/+1, source), got '
                                 f'{prediction!r}')
        for quick in (False, True):  # every value, both sizes, up front
            self.runs(quick)

    def contrast(self, key):
        """(arm, other) a predictions key compares: other is the arm's
        reference unless the key is a pair."""
        if isinstance(key, tuple) and len(key) == 2:
            return key
        return key, self.reference(key)

    def reference(self, label):
        """The group `label` is compared with: its entry in `references`,
        else the baseline."""
        return self.references.get(label, self.baseline_label)

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

    def _labels(self):
        """The groups' labels, in the grid's order."""
        return [label for label, _, _ in self.points()]

    def grid_keys(self):
        """The settings' keys that the grid varies."""
        return {k for _, _, s in self.points() for k in s}

    @property
    def baseline_label(self):
        """The reference group: `baseline`, else the grid's first point."""
        return self.baseline or self.points()[0][0]

    def baseline_first(self, groups):
        """`groups` (keyed by label) with the baseline group's first, the
        others in their order; as is without it (a sweep still running)."""
        label = self.baseline_label
        if label not in groups:
            return groups
        return {label: groups[label],
                **{k: v for k, v in groups.items() if k != label}}

    def runs(self, quick=False, seeds=None, overrides=None):
        """Every run, seed by seed (all groups of seed 0 first).

        Args:
            seeds: replaces the experiment's seeds (seeds_by_group's too).
            overrides: settings over everything but the grid (--set).
        """
        overrides = dict(overrides or {})
        _check_settings(overrides, 'override')
        clash = sorted(self.grid_keys() & set(overrides))
        if clash:
            raise ValueError(f'override {clash} is a grid axis of '
                             f'{self.name!r}; it cannot be overridden')
        by_group = {} if quick else self.full_by_group
        clash = sorted(set(overrides) & {
            k for s in by_group.values() for k in s})
        if clash:
            raise ValueError(f'override {clash} is set per group by '
                             f'{self.name!r}; it cannot be overridden')
        base = {**(QUICK if quick else FULL), **self.settings,
                **(self.quick if quick else self.full), **overrides}
        if seeds is not None:
            seeds_of = dict.fromkeys(self._labels(), tuple(seeds))
        elif quick:
            seeds_of = dict.fromkeys(self._labels(), self.quick_seeds)
        else:
            seeds_of = {label: self.seeds_by_group.get(label, self.seeds)
                        for label in self._labels()}
        runs = []
        for seed in dict.fromkeys(s for v in seeds_of.values() for s in v):
            for label, point, grid_settings in self.points():
                if seed not in seeds_of[label]:
                    continue
                settings = {**base, **grid_settings,
                            **by_group.get(label, {}),
                            **dict.fromkeys(SEED_KEYS, seed)}
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


def shard_runs(runs, index, count):
    """The runs of shard `index` of `count` (from 1): every count-th run
    in the sweep's order, from the index-th."""
    if not 1 <= index <= count:
        raise ValueError(f'shard: {index}/{count} is not a shard; '
                         f'index must be 1 to {count}')
    return runs[index - 1::count]
