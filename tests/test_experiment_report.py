"""Tests for sandbox.experiment.report: summaries, tables, the reading."""
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.experiment import report as X
from tests.conftest import make_experiment as make


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
    row, = X.aggregate([result('g', i, x=v) for i, v in enumerate(values)],
                       columns=('x',))
    assert row['x_mean'] == pytest.approx(statistics.fmean(values),
                                          abs=1e-9)
    assert row['x_std'] == pytest.approx(statistics.stdev(values), abs=1e-6)


def test_markdown_table_formats_and_bolds_the_best():
    rows = X.aggregate(
        [result('a', s, final_val_mlm_l=v, pairs_per_sec=5)
         for s, v in enumerate([6.0, 7.0, 8.0])] +
        [result('b', s, final_val_mlm_l=v, pairs_per_sec=5)
         for s, v in enumerate([6.0, 6.0, 6.0])])
    table = X.markdown_table(rows)
    lines = table.splitlines()
    assert lines[0] == '| group | n | val MLM loss | pairs/s |'
    assert lines[2] == '| a | 3 | 7.000 ± 1.000 | 5 ± 0 |'
    # b has the lowest loss; equal speeds get no bold
    assert lines[3] == '| b | 3 | **6.000 ± 0.000** | 5 ± 0 |'


def test_markdown_table_ranks_nothing_below_three_seeds():
    rows = X.aggregate([result('a', 0, final_val_mlm_l=6.0),
                        result('a', 1, final_val_mlm_l=7.0),
                        result('b', 0, final_val_mlm_l=5.0)])
    assert not X.can_rank(rows)
    assert '**' not in X.markdown_table(rows)
    assert X.MIN_SEEDS_TO_RANK == 3


def test_interpret_reads_the_baseline_difference():
    e = make(baseline='nsp_weight=1')
    rows = X.aggregate(
        [result('nsp_weight=1', s, final_val_mlm_l=v, final_val_mlm_acc=0.1,
                final_val_nsp_acc=0.8, pairs_per_sec=100.0)
         for s, v in enumerate([6.0, 6.2, 6.1])] +
        [result('nsp_weight=0', s, final_val_mlm_l=v, final_val_mlm_acc=0.1,
                final_val_nsp_acc=0.5, pairs_per_sec=100.0)
         for s, v in enumerate([5.0, 5.2, 5.1])])
    base = {'mlm_l': 6.7, 'mlm_acc': 0.05, 'nsp_l': 0.69, 'nsp_acc': 0.5}
    text = X.interpret(e, rows, 'At size:', base)
    assert text.startswith('At size: Against the baseline arm '
                           '(`nsp_weight=1`), paired by seed over 3 seeds')
    assert '`nsp_weight=0` -1.000' in text
    assert 'did not clear' not in text
    assert 'NSP accuracy is above 0.55 for `nsp_weight=1` (0.800)' in text


def test_interpret_compares_nothing_below_the_unigram_gate():
    e = make(baseline='nsp_weight=1')
    rows = X.aggregate(
        [result(label, s, final_val_mlm_l=loss, final_val_mlm_acc=acc,
                final_val_nsp_acc=0.5, pairs_per_sec=100.0)
         for label, loss, acc in (('nsp_weight=1', 6.65, 0.2),
                                  ('nsp_weight=0', 5.0, 0.2))
         for s in range(3)])
    base = {'mlm_l': 6.7, 'mlm_acc': 0.074, 'nsp_l': 0.69, 'nsp_acc': 0.5}
    text = X.interpret(e, rows, 'At size:', base)
    assert '`nsp_weight=1` did not clear the unigram gate' in text
    assert 'no arm is compared with it' in text
    assert 'changes by' not in text
    assert 'nothing is compared' in X.interpret(e, rows, 'At size:')
    assert 'at chance' in text
