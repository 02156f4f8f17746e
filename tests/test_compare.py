"""Tests for sandbox.compare: smoothing, bands, grouping, files written."""
import csv
import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import compare as C
from sandbox.runlog import COLUMNS


def test_ema_known_values():
    np.testing.assert_allclose(C.ema([1, 2, 3], 0.0), [1, 2, 3])
    # debiased: (0.5 * 1) / 0.5 = 1, then (0.25 + 1) / 0.75
    np.testing.assert_allclose(C.ema([1, 2], 0.5), [1, 1.25 / 0.75])
    out = C.ema([1.0, np.nan, 3.0], 0.5)
    assert np.isnan(out[1]) and out[0] == 1
    with pytest.raises(ValueError, match='weight'):
        C.ema([1], 1.0)


@settings(max_examples=40, deadline=None)
@given(st.floats(-1e3, 1e3), st.integers(1, 30), st.floats(0, 0.99))
def test_ema_keeps_a_constant_series_constant(value, n, weight):
    np.testing.assert_allclose(C.ema([value] * n, weight), value,
                               rtol=1e-9, atol=1e-9)


def test_mean_std_over_seeds_cut_to_the_shortest():
    mean, std = C.mean_std([[1, 2, 3], [3, 4]])
    np.testing.assert_allclose(mean, [2, 3])
    np.testing.assert_allclose(std, [np.sqrt(2), np.sqrt(2)])
    mean, std = C.mean_std([[5, 6]])
    np.testing.assert_allclose(std, [0, 0])


def fake_run(path, nsp_weight, seed, losses, result=None):
    """A run folder as pretrain writes it, with made-up metrics."""
    path.mkdir(parents=True)
    (path / 'config.json').write_text(json.dumps({
        'data': {'batch_size': 8, 'seed': seed},
        'model': {'num_blks': 2},
        'train': {'nsp_weight': nsp_weight, 'seed': seed}}))
    with open(path / 'metrics.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        for step, l in enumerate(losses, 1):
            row = {'step': step, 'mlm_l': l, 'nsp_l': l / 10,
                   'pairs_per_sec': 100}
            if step % 2 == 0:
                row.update(val_mlm_l=l + 0.5, val_nsp_l=l / 10 + 0.1)
            writer.writerow(row)
    if result:
        (path / 'result.json').write_text(json.dumps(result))
    return path


@pytest.fixture
def runs(tmp_path):
    return [fake_run(tmp_path / 'a0', 1.0, 0, [9, 8, 7, 6]),
            fake_run(tmp_path / 'a1', 1.0, 1, [9.5, 8.5, 7.5, 6.5]),
            fake_run(tmp_path / 'b0', 0.0, 0, [9, 7, 5, 3])]


def test_group_runs_by_config_without_seeds(runs):
    groups = C.load_groups(runs)
    assert [(label, [r['dir'].name for r in group])
            for label, group in groups] == [('nsp_weight=1.0', ['a0', 'a1']),
                                            ('nsp_weight=0.0', ['b0'])]


def test_group_runs_prefers_the_experiment_label(tmp_path):
    run = fake_run(tmp_path / 'r', 1.0, 0, [1, 2], {'label': 'baseline'})
    assert C.load_groups([run])[0][0] == 'baseline'


def test_plot_curves_draws_mean_and_band(runs, tmp_path):
    groups = [(label, [r['metrics'] for r in group])
              for label, group in C.load_groups(runs)]
    fig = C.plot_curves(groups, smooth=0.0, log=True)
    mlm, nsp = fig.axes[:2]
    assert mlm.get_yscale() == 'log'
    first = mlm.lines[0]  # group a's train curve: the mean over seeds
    np.testing.assert_allclose(first.get_ydata(), [9.25, 8.25, 7.25, 6.25])
    val = mlm.lines[1]  # its validation points at steps 2 and 4
    np.testing.assert_allclose(val.get_xdata(), [2, 4])
    np.testing.assert_allclose(val.get_ydata(), [8.75, 6.75])
    paths = C.save_figure(fig, tmp_path / 'curves')
    assert [p.name for p in paths] == ['curves.png', 'curves.svg']
    assert all(p.stat().st_size > 1000 for p in paths)


def test_plot_layers_and_attention(tmp_path):
    report = {'layers': {key: [0.1, 0.5, 0.9] for _, key in C.LAYER_PANELS}}
    fig = C.plot_layers([('a', [report, report]), ('b', [report])])
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(),
                               [0.1, 0.5, 0.9])
    weights = np.full((2, 3, 4, 4), 0.25)  # (blocks, heads, T, T)
    fig = C.plot_attention(list('abcd'), weights)
    assert sum(len(ax.images) for ax in fig.axes) == 6
    C.save_figure(fig, tmp_path / 'attention', formats=('png',))
    assert (tmp_path / 'attention.png').is_file()


def test_show_heatmaps_leaves_missing_cells_blank():
    fig = C.show_heatmaps([[np.eye(3)], [np.eye(3), np.eye(3)]], 'Keys',
                          'Queries')
    assert sum(len(ax.images) for ax in fig.axes) == 3


def test_plot_summary_marks_the_best():
    rows = [{'label': 'a', 'final_val_mlm_l_mean': 7.0,
             'final_val_mlm_l_std': 0.1},
            {'label': 'b', 'final_val_mlm_l_mean': 6.0,
             'final_val_mlm_l_std': None}]
    fig = C.plot_summary(rows, panels=(('loss', 'final_val_mlm_l', False),))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ['a', 'b']
    ring = ax.collections[-1]  # the circle around the best: b, at 6.0
    np.testing.assert_allclose(ring.get_offsets(), [[6.0, 0]])


def test_main_curves_writes_png_and_svg(runs, tmp_path, capsys):
    C.main(['curves', *map(str, runs), '--smooth', '0.5', '--out',
            str(tmp_path / 'cmp')])
    assert (tmp_path / 'cmp.png').is_file()
    assert (tmp_path / 'cmp.svg').is_file()
    with pytest.raises(SystemExit):
        C.main(['layers', str(runs[0])])  # no probe.json yet
    assert 'python -m sandbox.probing' in capsys.readouterr().err


@pytest.mark.parametrize('argv, message', [
    (['curves', '--smooth', '5', '.'], r"--smooth: must be an EMA weight "
                                       r"in \[0, 1\).*'5'"),
    (['curves', 'no-such-run'], r"run_dirs: \['no-such-run'\] hold no "
                                "config.json"),
])
def test_bad_cli_values_get_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        C.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(message, err), err
