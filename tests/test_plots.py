"""Tests for sandbox.plots: smoothing, bands, files written."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sandbox import plots as C
from sandbox.runs import load_groups


def test_ema_known_values():
    np.testing.assert_allclose(C.ema([1, 2, 3], 0.0), [1, 2, 3])
    # debiased: (0.5 * 1) / 0.5 = 1, then (0.25 + 1) / 0.75
    np.testing.assert_allclose(C.ema([1, 2], 0.5), [1, 1.25 / 0.75])
    out = C.ema([1.0, np.nan, 3.0], 0.5)
    assert np.isnan(out[1]) and out[0] == 1
    with pytest.raises(ValueError, match='weight'):
        C.ema([1], 1.0)


@settings(max_examples=40)
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


def test_seeds_on_one_time_grid():
    # equal x (steps): kept as given; differing x (minutes): interpolated
    # onto 3 points over [1, 5], the range both seeds cover
    steps = [np.array([1, 2, 3]), np.array([1, 2])]
    x, ys = C.on_one_grid(steps, [[5, 6, 7], [1, 2]])
    np.testing.assert_array_equal(x, [1, 2, 3])
    assert ys == [[5, 6, 7], [1, 2]]
    x, ys = C.on_one_grid([np.array([0., 2, 4, 6]), np.array([1., 4, 5])],
                          [np.array([0., 2, 4, 6]), np.array([10., 40, 50])])
    np.testing.assert_allclose(x, [1, 3, 5])
    np.testing.assert_allclose(ys, [[1, 3, 5], [10, 30, 50]])
    apart = [np.array([0., 1]), np.array([2., 3])]  # no common range
    x, ys = C.on_one_grid(apart, [[1, 2], [3, 4]])
    assert x is apart[0] and ys == [[1, 2], [3, 4]]


@settings(max_examples=40)
@given(st.lists(st.floats(0.01, 10), min_size=2, max_size=20),
       st.lists(st.floats(0.01, 10), min_size=2, max_size=20))
def test_a_grid_stays_inside_every_seed(a, b):
    xs = [np.cumsum([0] + a), np.cumsum([0] + b)]  # from 0, like time
    n = min(len(a), len(b)) + 1
    assume(not np.array_equal(xs[0][:n], xs[1][:n]))
    x, ys = C.on_one_grid(xs, [2 * xs[0], 2 * xs[1]])
    assert len(x) == n
    assert x[-1] <= min(xs[0][-1], xs[1][-1]) + 1e-9
    np.testing.assert_allclose(ys[0][:len(x)], 2 * x, rtol=1e-9)
    np.testing.assert_allclose(ys[1][:len(x)], 2 * x, rtol=1e-9)


def test_plot_curves_draws_mean_and_band(fake_runs, tmp_path):
    groups = [(label, [r['metrics'] for r in group])
              for label, group in load_groups(fake_runs)]
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
    again = C.save_figure(C.plot_curves(groups, smooth=0.0, log=True),
                          tmp_path / 'again')
    # A regenerated figure writes the same bytes (no date, fixed SVG ids)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]


def test_plot_layers_and_attention(tmp_path):
    report = {'layers': {key: [0.1, 0.5, 0.95] for _, key, _ in
                         C.LAYER_PANELS}}
    fig = C.plot_layers([('a', [report, report]), ('b', [report])])
    # The adjusted panel leaves out the layer of anisotropy 0.95 > 0.9
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(),
                               [0.1, 0.5, np.nan])
    np.testing.assert_allclose(fig.axes[3].lines[0].get_ydata(),
                               [0.1, 0.5, 0.95])
    assert fig.axes[0].get_xlabel() == 'layer (0: embeddings)'
    assert fig.axes[0].get_ylabel() == 'cosine difference'
    deeper = {'layers': {key: [0.1, 0.2, 0.3, 0.4, 0.5] for _, key, _ in
                         C.LAYER_PANELS}}
    fig = C.plot_layers([('a', [report]), ('deep', [deeper])])
    np.testing.assert_allclose(fig.axes[3].lines[1].get_xdata(),
                               [0, 0.25, 0.5, 0.75, 1])
    assert fig.axes[0].get_xlabel().startswith('relative depth')
    weights = np.full((2, 3, 4, 4), 0.25)  # (blocks, heads, T, T)
    fig = C.plot_attention(list('abcd'), weights)
    assert sum(len(ax.images) for ax in fig.axes) == 6
    C.save_figure(fig, tmp_path / 'attention', formats=('png',))
    assert (tmp_path / 'attention.png').is_file()
    attention = {'tokens': list('abcd'), 'weights': weights.tolist()}
    fig = C.plot_last_attention(['a', 'b'], [attention, attention])
    assert sum(len(ax.images) for ax in fig.axes) == 2 * 3  # 2 rows of 3


def test_sentence_attention_has_a_scale_per_map_and_fits_a_screen():
    rng = np.random.default_rng(0)
    attentions = [{'tokens': [f't{i}' for i in range(T)],
                   'weights': rng.dirichlet(np.ones(T), (2, 2, T)).tolist()}
                  for T in (5, 9, 7)]
    fig = C.plot_sentence_attention(attentions)
    images = [im for ax in fig.axes for im in ax.images]
    assert len(images) == 3 * 2  # 3 inputs x 2 heads of the last block
    for im in images:  # each map its own scale: 0 to its own maximum
        assert im.get_clim() == (0, pytest.approx(im.get_array().max()))
    assert fig.get_size_inches()[1] <= C.MAX_HEIGHT
    rows = [ax for ax in fig.axes if ax.images and ax.get_xticklabels()]
    assert {len(ax.get_xticklabels()) for ax in rows} == {5, 9, 7}
    tall = C.show_heatmaps([[np.eye(40)]] * 8, 'Keys', 'Queries',
                           ticklabels=list(range(40)))
    assert tall.get_size_inches()[1] <= C.MAX_HEIGHT


def test_show_heatmaps_leaves_missing_cells_blank():
    fig = C.show_heatmaps([[np.eye(3)], [np.eye(3), np.eye(3)]], 'Keys',
                          'Queries')
    assert sum(len(ax.images) for ax in fig.axes) == 3


def test_each_panel_names_its_baseline_line_and_the_figure_the_arms(
        fake_runs):
    groups = [(label, [r['metrics'] for r in group])
              for label, group in load_groups(fake_runs)]
    fig = C.plot_curves(groups, baseline={'mlm_l': 6.7, 'nsp_l': 0.69})
    for ax, text in zip(fig.axes[:2], ('unigram 6.70', 'chance 0.69')):
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [text]
    arms = [t.get_text() for t in fig.legends[0].get_texts()]
    assert arms[:len(groups)] == [label for label, _ in groups]


def test_plot_curves_facets_beyond_four_groups_and_reads_x():
    rows = [[{'step': s, 'x': s / 10, 'mlm_l': 10.0 - s + g, 'nsp_l': 0.7}
             for s in (1, 2, 3)] for g in range(5)]
    fig = C.plot_curves([(f'g{g}', [r]) for g, r in enumerate(rows)],
                        xlabel='epoch')
    used = [ax for ax in fig.axes if ax.axison]
    assert len(used) == 5 * 2  # a facet a group, for each of 2 panels
    second = used[1]  # g1's MLM facet: g0 in grey first, then g1
    np.testing.assert_allclose(second.lines[0].get_ydata(), [9, 8, 7])
    np.testing.assert_allclose(second.lines[1].get_xdata(), [0.1, 0.2, 0.3])
    np.testing.assert_allclose(second.lines[1].get_ydata(), [10, 9, 8])
    assert second.get_xlabel() == 'epoch'
    low, high = used[0].get_ylim()
    assert low <= 7 and high >= 9  # the range holds the first step


def test_plot_paired_draws_intervals_around_zero():
    arms = [('a', {'final_val_mlm_l': (3, -0.1, -0.2, 0.0),
                   'probe_val_mask_l': (0, float('nan'), float('nan'),
                                        float('nan'))}, 'C1'),
            ('b', {'final_val_mlm_l': (1, 0.3, float('nan'),
                                       float('nan'))}, 'C2')]
    fig = C.plot_paired(arms, 'base', [('loss', 'final_val_mlm_l'),
                                       ('unused', 'other')])
    ax, = fig.axes  # a panel no arm has is left out
    assert [t.get_text() for t in ax.get_yticklabels()] == ['a (n=3)',
                                                           'b (n=1)']
    lines = [line.get_xydata().tolist() for line in ax.get_lines()]
    assert [[-0.2, 1.0], [0.0, 1.0]] in lines  # a's interval
    assert [[0.3, 0.0]] in lines  # b: a dot, no interval


def _loop_ema(values, weight):
    """The former loop: TensorBoard's debiased EMA, NaN passed through."""
    out, last, debias = [], 0.0, 0.0
    for v in values:
        if not np.isfinite(v):
            out.append(v)
            continue
        last = weight * last + (1 - weight) * v
        debias = weight * debias + (1 - weight)
        out.append(last / debias)
    return np.array(out)


@settings(max_examples=50)
@given(st.lists(st.one_of(st.floats(-1e3, 1e3), st.just(float('nan')),
                          st.just(float('inf'))), min_size=1, max_size=30),
       st.floats(0, 0.99))
def test_pandas_ema_equals_the_former_loop(values, weight):
    np.testing.assert_allclose(C.ema(values, weight),
                               _loop_ema(values, weight), rtol=1e-12,
                               atol=1e-9)


def test_save_loss_plot(tmp_path):
    history = [{'step': 1, 'mlm_l': 9.0, 'nsp_l': 0.7},
               {'step': 2, 'mlm_l': 8.0, 'nsp_l': 0.6, 'val_mlm_l': 8.5,
                'val_nsp_l': 0.7}]
    path = C.save_loss_plot(history, tmp_path / 'loss', 2,
                            {'mlm_l': 7.0, 'nsp_l': 0.69})
    assert path == tmp_path / 'loss.png' and path.stat().st_size > 1000


@pytest.mark.parametrize('n', [1, 4, 9, 10, 18])
def test_group_colours_are_distinct_and_never_the_reference_grey(n):
    from matplotlib.colors import to_rgb
    rgbs = [to_rgb(C.color(i, n)) for i in range(n)]
    assert len(set(rgbs)) == n
    # a grey has equal red, green and blue, as the faint reference does
    assert not any(max(c) - min(c) < 0.05 for c in rgbs)
