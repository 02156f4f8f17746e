"""Tests for sandbox.scaling_plot and the report's scaling figure."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox import scaling_plot as S
from sandbox.experiment import frames as F
from sandbox.experiment import report as X
from tests.conftest import make_experiment


def test_a_size_experiment_spans_twice_the_parameters():
    assert S.is_size_experiment([100, 150, 200])
    assert not S.is_size_experiment([100, 150, 199])
    assert not S.is_size_experiment([100])
    assert not S.is_size_experiment([None, None])


@given(st.lists(st.floats(1, 1e9), min_size=1, max_size=8),
       st.floats(1e-3, 1e3))
def test_being_a_size_experiment_does_not_depend_on_the_unit(params, c):
    scaled = [p * c for p in params]
    if abs(max(params) / min(params) - S.SIZE_RATIO) > 1e-6:
        assert S.is_size_experiment(params) == S.is_size_experiment(scaled)


def test_short_counts():
    assert [S.short_count(v) for v in (500, 2e4, 5e5, 1.2e6)] == [
        '500', '20k', '500k', '1.2M']


def test_plot_scaling_draws_each_line_sorted_by_parameters():
    fig = S.plot_scaling([('num_blks=1', 'C0', [(4e5, 5.1, 0.1, 'w=256'),
                                                (4e4, 5.7, None, 'w=64')]),
                          ('num_blks=2', 'C1', [(8e4, 5.5, 0.2, 'w=64')])],
                         baseline=6.7)
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_marker() == 'o']
    assert [list(line.get_xdata()) for line in lines] == [[4e4, 4e5], [8e4]]
    assert [list(line.get_ydata()) for line in lines] == [[5.7, 5.1], [5.5]]
    assert ax.get_xscale() == 'log'
    assert [t.get_text() for t in ax.texts] == ['w=64', 'w=256', 'w=64']
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == '--']
    assert list(dashed[0].get_ydata()) == [6.7, 6.7]


def result(blocks, width, seed, loss, params):
    label = f'num_blks={blocks}, width={width}'
    return {'label': label, 'seed': seed, 'name': f'{label}-{seed}',
            'point': {'num_blks': str(blocks), 'width': str(width)},
            'metrics': {'final_val_mlm_l': loss,
                        'params_non_embedding': params}}


def test_the_report_draws_a_line_per_depth_for_a_size_experiment(
        tmp_path, monkeypatch):
    e = make_experiment(grid={'model.num_blks': [1, 2],
                              'width': {'64': {'model.num_hiddens': 64},
                                        '128': {'model.num_hiddens': 128}}})
    results = [result(b, w, s, 6.0 - b / 10 - w / 1000 + s / 100,
                      b * w * w)
               for b in (1, 2) for w in (64, 128) for s in (0, 1)]
    frame = F.results_frame(results)
    rows = F.records(F.aggregate(frame, [c for c, *_ in X.RESULT_COLUMNS]))
    drawn = []
    monkeypatch.setattr(X, 'plot_scaling', lambda lines, **kw: drawn.append(
        (lines, kw['baseline'])) or S.plot_scaling(lines))
    images = X.save_scaling(e, tmp_path, frame, rows, 6.7)
    assert [stem for stem, _ in images] == ['scaling']
    assert (tmp_path / 'scaling.png').is_file()
    (lines, baseline), = drawn
    assert baseline == 6.7
    assert [(label, [(p, name) for p, _, _, name in points])
            for label, _, points in lines] == [
        ('num_blks=1', [(4096, 'width=64'), (16384, 'width=128')]),
        ('num_blks=2', [(8192, 'width=64'), (32768, 'width=128')])]
    # mean and sample std over the two seeds (+0.00, +0.01)
    _, mean, std, _ = lines[0][2][0]
    assert mean == pytest.approx(6.0 - 0.1 - 0.064 + 0.005)
    assert std == pytest.approx(np.std([0, 0.01], ddof=1))


def test_no_scaling_figure_where_the_sizes_barely_differ(tmp_path):
    e = make_experiment()
    (tmp_path / 'scaling.png').write_text('stale')
    results = [dict(result(1, 64, s, 6.0, 1000), label=f'nsp_weight={w}',
                    name=f'{w}-{s}', point={'nsp_weight': str(w)})
               for w in (1.0, 0.0) for s in (0, 1)]
    frame = F.results_frame(results)
    rows = F.records(F.aggregate(frame, [c for c, *_ in X.RESULT_COLUMNS]))
    assert X.save_scaling(e, tmp_path, frame, rows, 6.7) == []
    assert not (tmp_path / 'scaling.png').exists()


def test_a_one_axis_size_experiment_draws_one_line(tmp_path, monkeypatch):
    e = make_experiment(grid={'model.num_hiddens': [64, 256]})
    results = [dict(result(1, w, 0, 6.0 - w / 1000, w * w),
                    label=f'num_hiddens={w}', name=f'{w}',
                    point={'num_hiddens': str(w)}) for w in (64, 256)]
    frame = F.results_frame(results)
    rows = F.records(F.aggregate(frame, [c for c, *_ in X.RESULT_COLUMNS]))
    drawn = []
    monkeypatch.setattr(X, 'plot_scaling', lambda lines, **kw: drawn.append(
        lines) or S.plot_scaling(lines))
    X.save_scaling(e, tmp_path, frame, rows, None)
    (lines,) = drawn
    assert [(label, [name for *_, name in points])
            for label, _, points in lines] == [
        ('num_hiddens', ['num_hiddens=64', 'num_hiddens=256'])]
