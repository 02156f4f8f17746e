"""Tests for sandbox.experiment: grids, rejection, skipping, tables."""
import json
import math
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import experiment as X
from sandbox.experiment import Experiment

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / 'experiments').glob('*.py'))


def make(**kwargs):
    """An Experiment with a small default grid."""
    spec = dict(name='t', question='q?',
                grid={'train.nsp_weight': [1.0, 0.0]})
    spec.update(kwargs)
    return Experiment(**spec)


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


@settings(max_examples=30, deadline=None)
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
        'architecture', 'depth_width', 'masking', 'nsp', 'recipe',
        'static_dynamic']


def test_load_experiment_needs_an_experiment(tmp_path):
    path = tmp_path / 'e.py'
    path.write_text('EXPERIMENT = 3\n')
    with pytest.raises(ValueError, match='EXPERIMENT = Experiment'):
        X.load_experiment(path)
    with pytest.raises(FileNotFoundError):
        X.load_experiment(tmp_path / 'missing.py')


def test_main_dry_run_lists_the_runs(capsys):
    X.main([str(ROOT / 'experiments' / 'nsp.py'), '--quick', '--dry-run'])
    out = capsys.readouterr().out
    assert 'nsp_weight=0.5__seed=1' in out and '6 runs' in out


def test_main_rejects_a_bad_override_before_training(capsys):
    with pytest.raises(SystemExit) as e:
        X.main([str(ROOT / 'experiments' / 'nsp.py'), '--set',
                'train.nsp_wieght=0'])
    assert e.value.code == 2
    assert "did you mean 'train.nsp_weight'" in capsys.readouterr().err


# ----------------------------------------------- summaries and tables

def test_summarize_history():
    history = [
        {'step': 1, 'mlm_l': 9.0, 'nsp_l': 0.8, 'pairs_per_sec': 1.0},
        {'step': 2, 'mlm_l': 8.0, 'nsp_l': 0.7, 'pairs_per_sec': 100.0,
         'val_mlm_l': 7.0, 'val_mlm_acc': 0.2, 'val_ppl': 1096.6,
         'val_nsp_l': 0.6, 'val_nsp_acc': 0.6},
        {'step': 3, 'mlm_l': 7.0, 'nsp_l': 0.6, 'pairs_per_sec': 300.0,
         'val_mlm_l': None},
        {'step': 4, 'mlm_l': 6.0, 'nsp_l': 0.5, 'pairs_per_sec': 300.0,
         'val_mlm_l': 7.5, 'val_mlm_acc': 0.1, 'val_ppl': 1808.0,
         'val_nsp_l': 0.7, 'val_nsp_acc': 0.5},
    ]
    s = X.summarize_history(history, batch_size=10)
    assert s['final_val_mlm_l'] == 7.5 and s['best_val_mlm_l'] == 7.0
    assert s['final_val_mlm_acc'] == 0.1 and s['best_val_mlm_acc'] == 0.2
    assert s['final_val_nsp_acc'] == 0.5
    # 3 timed steps at 100, 300, 300 pairs/s: 3 / (1/100 + 2/300) = 180
    assert s['pairs_per_sec'] == pytest.approx(180)
    assert s['steps'] == 4 and s['pairs_seen'] == 40
    assert s['train_mlm_l'] == 6.0
    with pytest.raises(ValueError, match='no validation'):
        X.summarize_history(history[:1], 10)


def result(label, seed, **metrics):
    return {'label': label, 'seed': seed, 'name': f'{label}-{seed}',
            'metrics': metrics}


def test_aggregate_gives_mean_and_sample_std_over_seeds():
    rows = X.aggregate([result('a', 0, x=1.0, y=None),
                        result('b', 0, x=10.0, y=4.0),
                        result('a', 1, x=2.0, y=None),
                        result('a', 2, x=3.0, y=None)], columns=('x', 'y'))
    a, b = rows
    assert (a['label'], a['n'], b['label'], b['n']) == ('a', 3, 'b', 1)
    assert a['x_mean'] == 2.0 and a['x_std'] == 1.0
    assert a['y_mean'] is None and a['y_std'] is None
    assert b['x_mean'] == 10.0 and b['x_std'] is None  # one seed: no std
    assert b['y_mean'] == 4.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=6))
def test_aggregate_matches_the_statistics_module(values):
    import statistics
    row, = X.aggregate([result('g', i, x=v) for i, v in enumerate(values)],
                       columns=('x',))
    assert row['x_mean'] == pytest.approx(statistics.fmean(values),
                                          abs=1e-9)
    assert row['x_std'] == pytest.approx(statistics.stdev(values), abs=1e-6)


def test_markdown_table_formats_and_bolds_the_best():
    rows = X.aggregate([result('a', 0, final_val_mlm_l=6.0, pairs_per_sec=5),
                        result('a', 1, final_val_mlm_l=7.0, pairs_per_sec=5),
                        result('b', 0, final_val_mlm_l=6.0,
                               pairs_per_sec=5)])
    table = X.markdown_table(rows)
    lines = table.splitlines()
    assert lines[0] == '| group | n | val MLM loss | pairs/s |'
    assert lines[2] == '| a | 2 | 6.500 ± 0.707 | 5 ± 0 |'
    # b has the lowest loss; equal speeds get no bold
    assert lines[3] == '| b | 1 | **6.000** | 5 |'


def test_interpret_reads_the_baseline_difference():
    e = make(baseline='nsp_weight=1')
    rows = X.aggregate(
        [result('nsp_weight=1', s, final_val_mlm_l=v, final_val_mlm_acc=0.1,
                final_val_nsp_acc=0.8, pairs_per_sec=100.0)
         for s, v in enumerate([6.0, 6.2, 6.1])] +
        [result('nsp_weight=0', s, final_val_mlm_l=v, final_val_mlm_acc=0.1,
                final_val_nsp_acc=0.5, pairs_per_sec=100.0)
         for s, v in enumerate([5.0, 5.2, 5.1])])
    text = X.interpret(e, rows, 'At size:')
    assert text.startswith('At size: The lowest final validation MLM loss')
    assert '5.100 for `nsp_weight=0`' in text
    # -1.0 with s.e. sqrt(0.01/3 + 0.01/3) = 0.082
    assert 'Against the baseline (`nsp_weight=1`), the loss changes ' \
        'beyond the seed-to-seed noise (more than 2 standard errors) for ' \
        '`nsp_weight=0` (-1.000 ± 0.082).' in text
    assert 'same for every group (0.100)' in text
    assert 'NSP accuracy ranges 0.500 (`nsp_weight=0`) to 0.800' in text


# ------------------------------------------------------------ end to end

TINY = {'preset': 'tiny', 'data.batch_size': 8, 'data.max_len': 32,
        'data.min_freq': 1, 'train.num_steps': 3, 'train.val_every': 3,
        'train.val_batches': 1, 'train.warmup_steps': 0,
        'probe.num_sentences': 12, 'probe.min_contexts': 2}


@pytest.fixture(scope='module')
def finished_sweep(synthetic_dir, tmp_path_factory):
    """A tiny two-group, two-seed experiment run end to end."""
    e = make(settings=TINY, quick_seeds=(0, 1), baseline='nsp_weight=1')
    out = tmp_path_factory.mktemp('sweep')
    lines = []
    rows = X.run_experiment(e, quick=True, out=out, data_dir=synthetic_dir,
                            verify=False, log=lines.append)
    return e, out, rows, lines


def test_run_experiment_end_to_end(finished_sweep):
    e, out, rows, lines = finished_sweep
    assert [(r['label'], r['n']) for r in rows] == [('nsp_weight=1', 2),
                                                    ('nsp_weight=0', 2)]
    for name in ('results.csv', 'results.md', 'runs.csv', 'README.md',
                 'curves.png', 'curves.svg', 'summary.png', 'layers.png',
                 'layers.svg', 'attention.png'):
        assert (out / name).stat().st_size > 0, name
    run = out / 'runs' / 'nsp_weight=0__seed=1'
    for name in ('config.json', 'metrics.csv', 'loss.png', 'probe.json',
                 'result.json', 'model.keras'):
        assert (run / name).is_file(), name
    assert not (run / 'checkpoints').exists()
    stored = json.loads((run / 'result.json').read_text())
    assert stored['configs']['train']['nsp_weight'] == 0.0
    assert stored['metrics']['steps'] == 3
    readme = (out / 'README.md').read_text()
    assert '| nsp_weight=1 | 2 |' in readme
    assert '## What the numbers say' in readme and '![' in readme
    csv_lines = (out / 'results.csv').read_text().splitlines()
    assert csv_lines[0].startswith('label,n,final_val_mlm_l_mean,')
    assert len(csv_lines) == 3
    assert sum('training' in line for line in lines) == 4


def test_finished_runs_are_skipped(finished_sweep, synthetic_dir,
                                   monkeypatch):
    e, out, rows, _ = finished_sweep

    def no_training(*args, **kwargs):
        raise AssertionError('a finished run was trained again')

    monkeypatch.setattr(X, 'execute', no_training)
    lines = []
    again = X.run_experiment(e, quick=True, out=out, data_dir=synthetic_dir,
                             verify=False, log=lines.append)
    assert sum('finished, skipped' in line for line in lines) == 4
    assert again == rows


def test_an_interrupted_run_is_run_again(finished_sweep, synthetic_dir):
    e, out, _, _ = finished_sweep
    run = out / 'runs' / 'nsp_weight=1__seed=1'
    (run / 'result.json').unlink()  # as if killed before the end
    lines = []
    X.run_experiment(e, quick=True, out=out, data_dir=synthetic_dir,
                     verify=False, log=lines.append)
    assert sum('training' in line for line in lines) == 1
    metrics = (run / 'metrics.csv').read_text().splitlines()
    assert len(metrics) == 1 + 3  # header + 3 steps, none doubled


def test_a_changed_config_is_not_silently_reused(finished_sweep):
    e, out, _, _ = finished_sweep
    changed = make(settings={**TINY, 'train.lr': 0.002}, quick_seeds=(0, 1))
    run = changed.runs(quick=True)[0]
    with pytest.raises(ValueError, match=r"differs in \['train.lr'\].*"
                                         r"--rerun"):
        X.finished(run, out / 'runs' / run.name)


def test_report_only_rewrites_from_disk(finished_sweep):
    e, out, _, _ = finished_sweep
    (out / 'README.md').unlink()
    rows = X.report_only(e, quick=True, out=out)
    assert [(r['label'], r['n']) for r in rows] == [('nsp_weight=1', 2),
                                                    ('nsp_weight=0', 2)]
    assert '| nsp_weight=0 | 2 |' in (out / 'README.md').read_text()
