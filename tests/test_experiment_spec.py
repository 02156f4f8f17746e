"""Tests for sandbox.experiment.spec: grids, sizes, rejection up front."""
import csv
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.experiment import spec as X
from tests.conftest import ROOT, make_experiment as make

SHIPPED = sorted((ROOT / 'experiments').glob('*.py'))


# ------------------------------------------------------------ the grid

def test_grid_is_the_product_seed_by_seed():
    e = make(grid={'data.mask_rate': [0.15, 0.4],
                   'data.mask_split': {'80/10/10': (0.8, 0.1, 0.1),
                                       'all-mask': (1.0, 0.0, 0.0)}},
             seeds=(3, 5))
    runs = e.runs()
    assert [(r.label, r.seed) for r in runs] == [
        ('mask_rate=0.15, mask_split=80/10/10', 3),
        ('mask_rate=0.15, mask_split=all-mask', 3),
        ('mask_rate=0.4, mask_split=80/10/10', 3),
        ('mask_rate=0.4, mask_split=all-mask', 3),
        ('mask_rate=0.15, mask_split=80/10/10', 5),
        ('mask_rate=0.15, mask_split=all-mask', 5),
        ('mask_rate=0.4, mask_split=80/10/10', 5),
        ('mask_rate=0.4, mask_split=all-mask', 5)]
    last = runs[-1]
    assert last.name == 'mask_rate=0.4__mask_split=all-mask__seed=5'
    assert last.configs.data.mask_rate == 0.4
    assert last.configs.data.mask_split == (1.0, 0.0, 0.0)
    assert last.configs.data.seed == last.configs.train.seed == 5
    assert last.point == {'mask_rate': '0.4', 'mask_split': 'all-mask'}


def test_an_axis_can_set_several_fields():
    e = make(grid={'width': {'64': {'model.num_hiddens': 64,
                                    'model.ffn_num_hiddens': 128},
                             '256': {'model.num_hiddens': 256,
                                     'model.ffn_num_hiddens': 512}}},
             seeds=(0,))
    runs = e.runs()
    assert [r.label for r in runs] == ['width=64', 'width=256']
    assert [(r.configs.model.num_hiddens, r.configs.model.ffn_num_hiddens)
            for r in runs] == [(64, 128), (256, 512)]


def test_sizes_settings_and_overrides_stack_in_order():
    e = make(settings={'train.num_steps': 7, 'preset': 'tiny',
                       'model.num_blks': 3},
             quick={'train.num_steps': 5}, full={'data.batch_size': 32})
    full, quick = e.runs()[0], e.runs(quick=True)[0]
    assert full.configs.train.num_steps == 7
    assert full.configs.data.batch_size == 32
    assert full.configs.train.val_every == X.FULL['train.val_every']
    assert quick.configs.train.num_steps == 5
    assert quick.configs.data.batch_size == X.QUICK['data.batch_size']
    # the preset first, then model.* fields over it
    assert quick.configs.model.num_hiddens == 8
    assert quick.configs.model.num_blks == 3
    assert len(e.runs(quick=True)) == 2 * len(e.quick_seeds)
    over = e.runs(quick=True, seeds=[9],
                  overrides={'train.lr': 0.5})
    assert [r.seed for r in over] == [9, 9]
    assert over[0].configs.train.lr == 0.5


def test_full_by_group_sets_each_group_at_full_size_only():
    e = make(full={'train.num_steps': 50},
             full_by_group={'nsp_weight=0': {'train.num_steps': 70,
                                               'train.warmup_steps': 7}})
    full = {r.label: r.configs.train for r in e.runs()}
    assert (full['nsp_weight=1'].num_steps,
            full['nsp_weight=0'].num_steps) == (50, 70)
    assert full['nsp_weight=0'].warmup_steps == 7
    quick = {r.configs.train.num_steps for r in e.runs(quick=True)}
    assert quick == {X.QUICK['train.num_steps']}
    with pytest.raises(ValueError, match=r"\['train.num_steps'\] is set "
                                         'per group'):
        e.runs(overrides={'train.num_steps': 9})
    assert e.runs(quick=True, overrides={'train.num_steps': 9})


def test_seeds_by_group_adds_seeds_to_one_group_after_the_others():
    e = make(seeds=(0, 1), seeds_by_group={'nsp_weight=0': [0, 1, 7]})
    assert [(r.label, r.seed) for r in e.runs()] == [
        ('nsp_weight=1', 0), ('nsp_weight=0', 0),
        ('nsp_weight=1', 1), ('nsp_weight=0', 1), ('nsp_weight=0', 7)]
    assert e.runs()[-1].configs.train.seed == 7
    # --seeds replaces every group's; --quick runs quick_seeds
    assert {(r.label, r.seed) for r in e.runs(seeds=[4])} == {
        ('nsp_weight=1', 4), ('nsp_weight=0', 4)}
    assert {r.seed for r in e.runs(quick=True)} == set(e.quick_seeds)


@settings(max_examples=30)
@given(st.dictionaries(st.sampled_from(['nsp_weight=1', 'nsp_weight=0']),
                       st.lists(st.integers(0, 9), min_size=1, max_size=4,
                                unique=True)))
def test_each_group_runs_its_own_seeds_once(by_group):
    e = make(seeds=(0, 1, 2), seeds_by_group=by_group)
    runs = e.runs()
    for label in ('nsp_weight=1', 'nsp_weight=0'):
        assert sorted(r.seed for r in runs if r.label == label) == sorted(
            by_group.get(label, (0, 1, 2)))
    assert len({r.name for r in runs}) == len(runs)


@settings(max_examples=30)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3),
       st.lists(st.integers(0, 50), min_size=1, max_size=3, unique=True))
def test_run_count_is_the_product_and_names_are_unique(sizes, seeds):
    keys = ['train.warmup_steps', 'train.val_every', 'model.num_blks']
    grid = {k: list(range(1, n + 1)) for k, n in zip(keys, sizes)}
    runs = make(grid=grid, seeds=tuple(seeds)).runs()
    assert len(runs) == math.prod(sizes) * len(seeds)
    assert len({r.name for r in runs}) == len(runs)
    assert len({r.label for r in runs}) == math.prod(sizes)


# ------------------------------------------------- rejection, up front

@pytest.mark.parametrize('kwargs,match', [
    ({'grid': {'train.nsp_wieght': [1.0]}},
     r"'train.nsp_wieght' is not a config field \(did you mean "
     r"'train.nsp_weight'.*\); known keys: preset, data.batch_size"),
    ({'settings': {'model.hidden_dim': 4}}, r"'model.hidden_dim'"),
    ({'quick': {'trian.lr': 0.1}}, r"quick key 'trian.lr'.*'train.lr'"),
    ({'grid': {'width': {'a': {'model.num_hidens': 4}}}},
     r"'model.num_hidens'.*'model.num_hiddens'"),
    ({'grid': {'nsp_weight': [1.0]}}, r"'nsp_weight' is not a config field"
     r" \(did you mean 'train.nsp_weight'"),
    ({'grid': {'train.seed': [1, 2]}}, 'seeds are set by'),
    ({'grid': {'model.num_heads': [2, 3]}},
     r'\[num_heads=3\].*num_hiddens \(128\).*num_heads \(3\)'),
    ({'grid': {'data.mask_rate': [0.15, 1.5]}}, r'mask_rate must be in'),
    ({'grid': {'preset': ['d2l', 'huge']}}, 'preset must be one of'),
    ({'settings': {'data.max_len': 2000}}, 'exceeds model.max_len'),
    ({'grid': {}}, 'grid must be a non-empty dict'),
    ({'grid': {'train.lr': []}}, 'has no values'),
    ({'grid': {'train.lr': {'a': 0.1, 'b': 0.2}}, 'baseline': 'lr=0.3'},
     r"baseline 'lr=0.3' is not a group"),
    ({'seeds': (0, 0)}, 'seeds must be distinct'),
    ({'name': 'a b'}, 'name must be a folder-safe'),
    ({'grid': {'model.width': {'64': {'model.num_hiddens': 64}}}},
     r"'model.width' is not a config field"),
    ({'grid': {'train.lr': {'a/b': 0.1, 'a-b': 0.2}}},
     r"same folder twice: \['lr=a-b__seed=0'"),
    ({'full_by_group': {'nsp_weight=2.0': {}}},
     r"full_by_group: 'nsp_weight=2.0' is not a group"),
    ({'full_by_group': {'nsp_weight=1': {'train.nsp_weight': 0.5}}},
     r"full_by_group\['nsp_weight=1'\] sets the grid axis"),
    ({'full_by_group': {'nsp_weight=1': {'train.lrr': 0.5}}},
     r"full_by_group\['nsp_weight=1'\] key 'train.lrr'"),
    ({'full_by_group': {'nsp_weight=1': {'train.num_steps': 0}}},
     r'num_steps'),
    ({'seeds_by_group': {'nsp_weight=2': (0, 1)}},
     r"seeds_by_group: 'nsp_weight=2' is not a group"),
    ({'seeds_by_group': {'nsp_weight=1': (0, -1)}},
     r"seeds_by_group\['nsp_weight=1'\] must be distinct integers"),
    ({'seeds_by_group': {'nsp_weight=1': 3}},
     r"seeds_by_group\['nsp_weight=1'\] must be distinct integers"),
    ({'references': {'nsp_weight=0': 'nsp_weight=2'}},
     r"references: 'nsp_weight=0': 'nsp_weight=2' is not a pair"),
    ({'references': ['nsp_weight=0']}, r'references must be a dict'),
    ({'references': {'nsp_weight=0': 'nsp_weight=0'}},
     r"references: 'nsp_weight=0'"),
    ({'references': {'nsp_weight=1': 'nsp_weight=0'}},
     r"references: 'nsp_weight=1'.*the first not the baseline"),
])
def test_bad_experiments_are_rejected_with_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


def test_bad_values_are_rejected_at_quick_size_too():
    with pytest.raises(ValueError, match='num_steps'):
        make(quick={'train.num_steps': 0})


def test_overrides_are_checked_and_cannot_change_an_axis():
    e = make()
    with pytest.raises(ValueError, match="'train.nsp_weight'.*grid axis"):
        e.runs(overrides={'train.nsp_weight': 0.3})
    with pytest.raises(ValueError, match="'train.lrr'"):
        e.runs(overrides={'train.lrr': 0.3})


@pytest.mark.parametrize('path', SHIPPED, ids=lambda p: p.stem)
def test_shipped_experiments_load_and_validate(path):
    e = X.load_experiment(path)
    assert e.name == path.stem
    assert e.baseline_label in [label for label, _, _ in e.points()]
    assert len(e.runs(quick=True)) == len(e.points()) * len(e.quick_seeds)


def test_shipped_experiments_are_the_ablations_and_the_recipe_sweep():
    assert [p.stem for p in SHIPPED] == [
        'architecture', 'depth_width', 'masking', 'nsp', 'nsp_default',
        'pairing', 'recipe', 'static_dynamic']


def test_load_experiment_needs_an_experiment(tmp_path):
    path = tmp_path / 'e.py'
    path.write_text('EXPERIMENT = 3\n')
    with pytest.raises(ValueError, match='EXPERIMENT = Experiment'):
        X.load_experiment(path)
    with pytest.raises(FileNotFoundError):
        X.load_experiment(tmp_path / 'missing.py')


@given(st.integers(0, 30), st.integers(1, 6))
def test_shards_partition_the_runs_in_order(n, count):
    runs = list(range(n))
    shards = [X.shard_runs(runs, i, count) for i in range(1, count + 1)]
    assert sorted(r for shard in shards for r in shard) == runs
    assert all(shard == sorted(shard) for shard in shards)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_a_shard_index_outside_its_count_is_refused():
    with pytest.raises(ValueError, match=r'shard: 3/2 is not a shard'):
        X.shard_runs([1, 2], 3, 2)


def test_an_arm_with_a_reference_is_compared_with_it():
    e = make(grid={'train.lr': [1.0, 2.0, 3.0]},
             references={'lr=3': 'lr=2'})
    assert e.reference('lr=3') == 'lr=2'
    assert e.reference('lr=2') == e.baseline_label == 'lr=1'
    # an arm's prediction is of arm - its reference; a pair's stays
    assert e.contrast('lr=3') == ('lr=3', 'lr=2')
    assert e.contrast(('lr=3', 'lr=1')) == ('lr=3', 'lr=1')


def test_the_baseline_group_comes_first():
    e = make(grid={'train.nsp_weight': [1.0, 0.5, 0.0]},
             baseline='nsp_weight=0.5')
    groups = {'nsp_weight=1': [1], 'nsp_weight=0.5': [2], 'nsp_weight=0': [3]}
    assert list(e.baseline_first(groups).items()) == [
        ('nsp_weight=0.5', [2]), ('nsp_weight=1', [1]), ('nsp_weight=0', [3])]
    del groups['nsp_weight=0.5']
    assert e.baseline_first(groups) == groups  # not run yet


@pytest.mark.parametrize('path', SHIPPED, ids=lambda p: p.stem)
def test_shipped_runs_are_the_runs_their_experiment_builds(path):
    """A change to a recipe or to the standard size must not orphan the
    shipped runs: each run of runs.csv is a finished run of the spec."""
    from sandbox.experiment.runner import finished
    e = X.load_experiment(path)
    runs = {r.name: r for r in e.runs()}
    runs.update({r.name: r for r in e.runs(seeds=range(10))
                 if r.name not in runs})
    out = ROOT / 'plots' / path.stem
    with open(out / 'runs.csv', newline='') as f:
        names = [row['name'] for row in csv.DictReader(f)]
    assert names
    for name in names:
        assert name in runs, name
        assert finished(runs[name], out / 'runs' / name) is not None, name


def test_experiments_keep_bert_masking_while_the_default_masks_more():
    assert X.FULL['data.mask_rate'] == 0.15
    assert X.RECIPES['default']['data.mask_rate'] == 0.25
