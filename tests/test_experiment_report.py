"""Tests for sandbox.experiment.report and .reading: tables, the reading."""
import re
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.config import ProbeConfig
from sandbox.experiment import frames as F
from sandbox.experiment import reading as R
from sandbox.experiment import report as X
from tests.conftest import make_experiment as make


def read(e, frame, rows, size_note, baseline=None):
    """reading.interpret, given the paired differences the report computes."""
    return R.interpret(e, frame, rows, size_note, baseline, R.compared(
        frame, rows, e.baseline_label, baseline))


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


def table(results, columns=tuple(c for c, *_ in X.RESULT_COLUMNS)):
    """(frame, aggregated rows) of run results."""
    frame = F.results_frame(results)
    return frame, F.records(F.aggregate(frame, columns))


def test_each_run_keeps_its_machine_and_the_note_counts_them():
    runs = [result('a', 0), result('a', 1), result('b', 0)]
    runs[0]['machine'] = runs[1]['machine'] = 'AMD EPYC, 2 CPUs, AVX2'
    frame = F.results_frame(runs)
    assert list(frame['machine']) == ['AMD EPYC, 2 CPUs, AVX2'] * 2 + [
        F.NOT_RECORDED]
    assert F.machines_note(frame) == ('AMD EPYC, 2 CPUs, AVX2: 2 runs; '
                                      'not recorded: 1 run')


def test_aggregate_gives_mean_and_sample_std_over_seeds():
    _, rows = table([result('a', 0, x=1.0, y=None),
                     result('b', 0, x=10.0, y=4.0),
                     result('a', 1, x=2.0, y=None),
                     result('a', 2, x=3.0, y=None)], columns=('x', 'y'))
    a, b = rows
    assert (a['label'], a['n'], b['label'], b['n']) == ('a', 3, 'b', 1)
    assert a['x_mean'] == 2.0 and a['x_std'] == 1.0
    assert a['y_mean'] is None and a['y_std'] is None
    assert b['x_mean'] == 10.0 and b['x_std'] is None  # one seed: no std
    assert b['y_mean'] == 4.0


@settings(max_examples=50)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=6))
def test_aggregate_matches_the_statistics_module(values):
    _, (row,) = table([result('g', i, x=v) for i, v in enumerate(values)],
                      columns=('x',))
    assert row['x_mean'] == pytest.approx(statistics.fmean(values),
                                          abs=1e-9)
    assert row['x_std'] == pytest.approx(statistics.stdev(values), abs=1e-6)


def test_markdown_table_formats_and_marks_no_best():
    _, rows = table(
        [result('a', s, final_val_mlm_l=v, pairs_per_sec=5)
         for s, v in enumerate([6.0, 7.0, 8.0])] +
        [result('b', s, final_val_mlm_l=v, pairs_per_sec=5)
         for s, v in enumerate([6.0, 6.0, 6.0])])
    lines = [' '.join(line.split()) for line in
             X.markdown_table(rows).splitlines()]  # tabulate pads cells
    assert lines[0] == '| group | n | val MLM loss | pairs/s |'
    assert lines[2] == '| a | 3 | 7.000 ± 1.000 | 5 ± 0 |'
    assert lines[3] == '| b | 3 | 6.000 ± 0.000 | 5 ± 0 |'
    assert '**' not in X.markdown_table(rows)


def test_a_column_shown_if_varying_ignores_runs_without_it():
    # runs written before a column existed have no value: '-' is not a size
    def rows_with(*params):
        return table([result(label, 0, final_val_mlm_l=6.0, pairs_per_sec=5,
                             **({} if p is None else
                                {'params_non_embedding': p}))
                      for label, p in zip('abc', params)])[1]
    assert 'non-emb. params' not in X.markdown_table(rows_with(None, 7, 7))
    assert 'non-emb. params' in X.markdown_table(rows_with(None, 7, 9))


BASE = {'mlm_l': 6.7, 'mlm_acc': 0.05, 'nsp_l': 0.69, 'nsp_acc': 0.5}


def test_interpret_reads_paired_intervals():
    # Per-seed differences -1.0, -1.1, -0.9: mean -1.0, sd 0.1, t(2) 4.303
    e = make(baseline='nsp_weight=1')
    frame, rows = table(
        [result('nsp_weight=1', s, final_val_mlm_l=v, final_val_mlm_acc=0.1,
                final_val_nsp_acc=nsp, pairs_per_sec=100.0)
         for s, (v, nsp) in enumerate([(6.0, 0.8), (6.2, 0.82),
                                       (6.1, 0.78)])] +
        [result('nsp_weight=0', s, final_val_mlm_l=v, final_val_mlm_acc=0.1,
                final_val_nsp_acc=0.5, pairs_per_sec=100.0)
         for s, v in enumerate([5.0, 5.1, 5.2])])
    text = read(e, frame, rows, 'At size:', BASE)
    assert text.startswith('At size: Against the baseline arm '
                           '`nsp_weight=1`, paired by seed over 3 seeds')
    half = 4.302653 * 0.1 / 3 ** 0.5
    assert (f'`nsp_weight=0` Δ val MLM loss -1.000 [{-1 - half:+.3f}, '
            f'{-1 + half:+.3f}]') in text
    assert 'did not clear' not in text
    assert 'NSP accuracy is above 0.55, its 95% interval above chance, for ' \
        '`nsp_weight=1` (0.800)' in text


def test_arms_pair_at_mask_slots_only_where_the_runs_were_scored_so():
    e = make(baseline='nsp_weight=1')
    runs = [result(label, s, final_val_mlm_l=5.0 + d + 0.01 * s,
                   final_val_mlm_acc=0.2, probe_val_mask_l=5.5 + d / 2)
            for label, d in (('nsp_weight=1', 0.0), ('nsp_weight=0', 0.4))
            for s in range(3)]
    frame, rows = table(runs)
    diffs = R.compared(frame, rows, 'nsp_weight=1', BASE)
    at_mask = diffs['nsp_weight=0']['probe_val_mask_l']
    assert (at_mask.n, at_mask.mean) == (3, pytest.approx(0.2))
    text = re.sub(' +', ' ', X.paired_markdown(diffs, 'nsp_weight=1'))
    assert '| Δ val MLM loss at <mask> |' in text and '+0.200' in text
    readme = X.readme(e, frame, rows, diffs, [], ProbeConfig(), 'cmd',
                      'At size:', BASE)
    assert '*at <mask>*: on the validation slots whose input is' in readme
    # and a table of each arm's numbers by slot kind, only those measured
    slots = readme.split('### Validation by slot kind')[1].split('###')[0]
    assert re.search(r'\| nsp_weight=0 +\| 3 +\| 5\.700 ± 0\.000 +\|$',
                     slots, re.MULTILINE)
    assert 'loss at <mask>' in slots and 'loss at kept' not in slots
    # runs without the slot probe: no such column, no such sentence
    frame, rows = table([{**r, 'metrics': {
        k: v for k, v in r['metrics'].items() if k != 'probe_val_mask_l'}}
        for r in runs])
    diffs = R.compared(frame, rows, 'nsp_weight=1', BASE)
    assert 'probe_val_mask_l' not in diffs['nsp_weight=0']
    assert 'at <mask>' not in X.paired_markdown(diffs, 'nsp_weight=1')
    readme = X.readme(e, frame, rows, diffs, [], ProbeConfig(), 'cmd',
                      'At size:', BASE)
    assert '*at <mask>*' not in readme
    assert 'by slot kind' not in readme


def test_an_arm_with_a_reference_is_paired_with_it_everywhere():
    # lr=3 differs from lr=1 by +0.5 and from its reference lr=2 by +0.2
    e = make(grid={'train.lr': [1.0, 2.0, 3.0]},
             references={'lr=3': 'lr=2'})
    runs = [result(f'lr={lr:g}', s, final_val_mlm_l=5.0 + d + 0.01 * s * s,
                   final_val_mlm_acc=0.2)
            for lr, d in ((1.0, 0.0), (2.0, 0.3), (3.0, 0.5))
            for s in range(3)]
    frame, rows = table(runs)
    diffs = R.compared(frame, rows, e.baseline_label, BASE, e.references)
    assert diffs['lr=3']['final_val_mlm_l'].mean == pytest.approx(0.2)
    assert diffs['lr=2']['final_val_mlm_l'].mean == pytest.approx(0.3)
    text = re.sub(' +', ' ', X.paired_markdown(diffs, e.baseline_label,
                                                e.references))
    assert '| arm − reference | seeds |' in text
    assert '| lr=3 − lr=2 | 3 | +0.200 [+0.200, +0.200] * |' in text
    assert '| lr=2 − lr=1 | 3 | +0.300 [+0.300, +0.300] * |' in text
    reading = re.sub(' +', ' ', R.interpret(e, frame, rows, 'At size:',
                                            BASE, diffs))
    assert 'Against the baseline arm `lr=1` (or, where the table names ' \
        'one, the arm it differs from in one factor)' in reading
    assert '`lr=3` − `lr=2` Δ val MLM loss +0.200' in reading
    assert '`lr=2` Δ val MLM loss +0.300' in reading
    readme = X.readme(e, frame, rows, diffs, [], ProbeConfig(), 'cmd',
                      'At size:', BASE)
    assert '### Paired differences from the baseline arm or a reference' \
        in readme
    # predictions: an arm's is of arm − its reference; a pair's against
    # the baseline names it when the arm has another reference
    e = make(grid={'train.lr': [1.0, 2.0, 3.0]},
             references={'lr=3': 'lr=2'},
             predictions={'lr=3': ('final_val_mlm_l', 1, 'A'),
                          ('lr=3', 'lr=1'): ('final_val_mlm_l', 1, 'B'),
                          'lr=2': ('final_val_mlm_l', 1, 'C')})
    lines = re.sub(' +', ' ', X.literature_markdown(e, frame, rows, BASE))
    assert '| lr=3 − lr=2 | Δ val MLM loss: higher (A) | +0.200' in lines
    assert '| lr=3 − lr=1 | Δ val MLM loss: higher (B) | +0.500' in lines
    assert '| lr=2 | Δ val MLM loss: higher (C) | +0.300' in lines
    # without references: the baseline for every arm, as before
    diffs = R.compared(frame, rows, e.baseline_label, BASE)
    assert diffs['lr=3']['final_val_mlm_l'].mean == pytest.approx(0.5)
    assert X.paired_markdown(diffs, 'lr=1').startswith('| arm − baseline ')


def test_paired_table_counts_the_seeds_of_each_cell():
    # the slot probe on seeds 1 and 2 only: the loss pairs over 3 seeds,
    # the loss at <mask> over 2, and the table says so
    runs = [result(label, s, final_val_mlm_l=5.0 + d + 0.01 * s,
                   final_val_mlm_acc=0.2,
                   **({'probe_val_mask_l': 5.5 + d / 2} if s else {}))
            for label, d in (('nsp_weight=1', 0.0), ('nsp_weight=0', 0.4))
            for s in range(3)]
    frame, rows = table(runs)
    diffs = R.compared(frame, rows, 'nsp_weight=1', BASE)
    assert diffs['nsp_weight=0']['probe_val_mask_l'].n == 2
    line = [l for l in X.paired_markdown(diffs, 'nsp_weight=1').splitlines()
            if l.startswith('| nsp_weight=0')][0]
    cells = [c.strip() for c in line.strip('|').split('|')]
    assert cells[1] == '3' and cells[2].startswith('+0.400 [')
    assert cells[-1] == '+0.200 [+0.200, +0.200] (2 seeds)'
    # the table by slot kind counts the seeds it has, not the runs
    readme = X.readme(make(baseline='nsp_weight=1'), frame, rows, diffs, [],
                      ProbeConfig(), 'cmd', 'At size:', BASE)
    slots = readme.split('### Validation by slot kind')[1].split('###')[0]
    assert re.search(r'^\| nsp_weight=0 +\| 2 +\| 5\.700 ± 0\.000 +\|$',
                     slots, re.MULTILINE)
    # the slot probe on the baseline arm only: no seed in common
    runs = [r if r['label'] == 'nsp_weight=1' else {**r, 'metrics': {
        k: v for k, v in r['metrics'].items() if k != 'probe_val_mask_l'}}
        for r in runs]
    frame, rows = table(runs)
    diffs = R.compared(frame, rows, 'nsp_weight=1', BASE)
    assert diffs['nsp_weight=0']['probe_val_mask_l'].n == 0
    line = X.paired_markdown(diffs, 'nsp_weight=1').splitlines()[-1]
    assert line.rstrip(' |').endswith('–')
    text = re.sub(' +', ' ', read(make(baseline='nsp_weight=1'), frame,
                                  rows, 'At size:', BASE))
    assert 'paired by seed over 3 seeds' in text


def test_interpret_reads_the_probes_of_arms_past_the_gate_only():
    # nsp_weight=0 stays at the unigram (6.7 - 0.05): its self-similarity
    # of 1.0 is collapse, not context, and is left out of the range
    e = make(baseline='nsp_weight=1')
    frame, rows = table(
        [result(label, s, final_val_mlm_l=loss, final_val_mlm_acc=acc,
                probe_self_sim=sim, probe_anisotropy=aniso)
         for label, loss, acc, sim, aniso in (
             ('nsp_weight=1', 5.5, 0.2, 0.6, 0.2),
             ('nsp_weight=0.5', 5.6, 0.2, 0.7, 0.3),
             ('nsp_weight=0', 6.65, 0.05, 1.0, 1.0))
         for s in range(3)])
    text = read(e, frame, rows, 'At size:', BASE)
    assert ("a word's vectors across sentences have mean cosine 0.60 "
            "(`nsp_weight=1`) to 0.70 (`nsp_weight=0.5`), against an "
            "anisotropy baseline of 0.20-0.30.") in text


def test_interpret_names_an_overfit_arm_and_speeds_on_one_machine_only():
    e = make(baseline='nsp_weight=1')
    runs = [result(label, s, final_val_mlm_l=final, best_val_mlm_l=best,
                   final_val_mlm_acc=0.2, final_val_nsp_acc=0.5,
                   pairs_per_sec=speed)
            for label, final, best, speed in (
                ('nsp_weight=1', 6.5, 5.5, 100.0),
                ('nsp_weight=0', 5.0, 4.95, 200.0))
            for s in range(3)]
    frame, rows = table(runs)
    text = read(e, frame, rows, 'At size:', BASE)
    assert ('`nsp_weight=1` overfits: its validation MLM loss ends 1.000 '
            'nats above its best (6.500 against 5.500, means over seeds).'
            ) in text
    assert 'nsp_weight=0` overfits' not in text  # 0.05 above: noise
    assert 'not corrected for the 1 arm compared' in text
    # speeds of unrecorded machines are not compared; of one machine, are
    assert 'Training speed' not in text
    for r in runs:
        r['machine'] = 'AMD EPYC, 2 CPUs, AVX2'
    frame, rows = table(runs)
    assert ('Training speed ranges 100 pairs/s (`nsp_weight=1`) to 200 '
            '(`nsp_weight=0`), all on AMD EPYC, 2 CPUs, AVX2.') in \
        read(e, frame, rows, 'At size:', BASE)
    assert 'Runs of one size' not in read(e, frame, rows, 'At size:', BASE)
    # runs that shared the machine (a sharded sweep): their speeds say so
    runs[1]['metrics']['others_cpu_share'] = 0.5
    frame, rows = table(runs)
    assert ('all on AMD EPYC, 2 CPUs, AVX2; 1 of 6 runs shared the machine '
            '(other work took over 10% of its CPU time), so these speeds are '
            'partly its load\'s.') in read(e, frame, rows, 'At size:', BASE)
    runs[1]['metrics']['others_cpu_share'] = 0.0
    # arms of one size that ran at different speeds: the load, not the arm
    for r in runs:
        r['metrics']['params_non_embedding'] = 1000.0
    frame, rows = table(runs)
    assert ('Runs of one size (1,000 non-embedding parameters) range 100 to '
            '200 pairs/s too, so the spread records the load on the machine '
            'while each ran, not the arms.') in read(
                e, frame, rows, 'At size:', BASE)
    runs[0]['machine'] = 'Intel Xeon, 2 CPUs, AVX2'
    frame, rows = table(runs)
    assert 'Training speed' not in read(e, frame, rows, 'At size:', BASE)


def test_the_collapse_sentence_counts_the_seeds_that_collapsed():
    e = make(baseline='nsp_weight=1')
    runs = [result(label, s, final_val_mlm_l=5.0, final_val_mlm_acc=0.2,
                   final_val_nsp_acc=0.5, pairs_per_sec=100.0,
                   probe_collapsed=float(label == 'nsp_weight=0' and s == 3))
            for label in ('nsp_weight=1', 'nsp_weight=0') for s in range(5)]
    text = read(e, *table(runs), 'At size:', BASE)
    assert 'The collapse check fires for `nsp_weight=0` (1 of its 5 seeds):' \
        in text
    for r in runs:
        r['metrics']['probe_collapsed'] = 1.0
    text = read(e, *table(runs), 'At size:', BASE)
    assert 'The collapse check fires for every group:' in text


def test_interpret_names_unequal_seed_counts():
    # A sweep still running: the baseline and one arm at 2 seeds, one at 1
    e = make(baseline='nsp_weight=1')

    def runs(label, values, nsp):
        return [result(label, s, final_val_mlm_l=v, final_val_mlm_acc=0.1,
                       final_val_nsp_acc=a, pairs_per_sec=100.0)
                for s, (v, a) in enumerate(zip(values, nsp))]
    frame, rows = table(runs('nsp_weight=1', [6.0, 6.2], [0.8, 0.82]) +
                        runs('nsp_weight=0.5', [5.0], [0.7]) +
                        runs('nsp_weight=0', [5.0, 5.1], [0.5, 0.5]))
    text = read(e, frame, rows, 'At size:', BASE)
    assert 'paired by seed over 1-2 seeds' in text
    assert 'with fewer than 3 seeds no difference is claimed' in text
    assert ('NSP accuracy is above 0.55, its 95% interval above chance '
            'where an arm has 2 seeds or more, for `nsp_weight=1` (0.810), '
            '`nsp_weight=0.5` (0.700, one seed).') in text


def test_no_arm_is_compared_before_the_baseline_arm_has_finished():
    e = make(baseline='nsp_weight=1')
    frame, rows = table([result(label, s, final_val_mlm_l=5.0 + s / 10,
                                final_val_mlm_acc=0.2)
                         for label in ('nsp_weight=0.5', 'nsp_weight=0')
                         for s in range(3)])
    text = read(e, frame, rows, 'At size:', BASE)
    assert ('The baseline arm `nsp_weight=1` has no finished run yet, so '
            'no arm is compared with it.') in text
    assert 'Against the baseline arm' not in text


def test_the_size_note_counts_seeds_per_arm():
    runs = make().runs(seeds=[0, 1, 2])  # 2 arms x 3 seeds
    note = X.size_note(runs, quick=False)
    assert note == ('At standard size (1800 steps of 128 pairs of up to 64 '
                    'tokens, 3 seeds):')
    # a sweep still running: one arm's third seed is not finished
    assert '2-3 seeds per arm' in X.size_note(runs[:-1], quick=False)
    assert ', 1 seed):' in X.size_note(runs[:1], quick=True)
    # on a wall-clock budget the step count is only a cap
    timed = make(settings={'train.time_budget': 8.0}).runs(seeds=[0])
    assert X.size_note(timed, quick=False).startswith(
        'At standard size (8 minutes of steps (at most 1800) of 128 pairs')
    # equal budgets in steps: each arm its own count
    by_arm = make(full_by_group={'nsp_weight=0': {
        'train.num_steps': 2400}}).runs(seeds=[0])
    assert X.size_note(by_arm, quick=False).startswith(
        'At standard size (1800-2400 steps by arm of 128 pairs')


def test_a_budget_axis_is_the_share_of_each_runs_own_steps():
    run = {'metrics': [{'step': 100, 'mlm_l': 7.0}, {'step': 400,
                                                     'mlm_l': 6.0}],
           'config': {'train': {'num_steps': 400}}}
    assert [r['x'] for r in X.curve_rows(run, 'budget')] == [0.25, 1.0]
    assert [r['x'] for r in X.curve_rows(run, 'step')] == [100, 400]


def test_an_untrained_nsp_head_is_never_shown():
    results = [{**result('w=0', s, final_val_mlm_l=5.0, final_val_mlm_acc=0.2,
                         final_val_nsp_acc=0.9),
                'configs': {'train': {'nsp_weight': 0.0}}} for s in range(3)]
    frame, rows = table(results)
    assert frame['final_val_nsp_acc'].isna().all()
    assert rows[0]['final_val_nsp_acc_mean'] is None
    assert 'val NSP acc' not in X.markdown_table(rows)
    assert not R.nsp_learned(frame, 'w=0')


def test_the_gate_refuses_a_collapsed_arm():
    e = make(baseline='nsp_weight=1')
    frame, rows = table(
        [result(label, s, final_val_mlm_l=loss + 0.01 * s,
                final_val_mlm_acc=acc, final_val_nsp_acc=0.5,
                pairs_per_sec=100.0)
         for label, loss, acc in (('nsp_weight=1', 6.65, 0.2),
                                  ('nsp_weight=0', 5.0, 0.074))
         for s in range(3)])
    base = {'mlm_l': 6.7, 'mlm_acc': 0.074, 'nsp_l': 0.69, 'nsp_acc': 0.5}
    assert not R.clears_gate(rows[0], base)  # loss not 0.1 under
    assert not R.clears_gate(rows[1], base)  # accuracy the unigram's
    assert R.compared(frame, rows, 'nsp_weight=1', base) == {}
    text = read(e, frame, rows, 'At size:', base)
    assert '`nsp_weight=1`, `nsp_weight=0` did not clear the unigram gate' \
        in text
    assert 'they have learned little beyond word frequencies and are not' \
        in text
    assert 'no arm is compared with it' in text
    assert 'paired by seed' not in text
    assert 'nothing is compared' in read(e, frame, rows, 'At size:')
    assert 'at chance' in text
    # one arm under the gate: the sentence speaks of it alone
    frame, rows = table([result('nsp_weight=1', s, final_val_mlm_l=6.65,
                                final_val_mlm_acc=0.2, pairs_per_sec=100.0)
                         for s in range(3)])
    text = read(e, frame, rows, 'At size:', base)
    assert '`nsp_weight=1` did not clear the unigram gate' in text
    assert 'it has learned little beyond word frequencies and is not ' \
        'compared' in text
    assert '`nsp_weight=1` trains no NSP head: its accuracy' in text
    frame, rows = table([result(label, s, final_val_mlm_l=6.65,
                                final_val_mlm_acc=0.2, pairs_per_sec=100.0)
                         for label in ('nsp_weight=1', 'nsp_weight=0')
                         for s in range(3)])
    assert 'train no NSP head: their accuracy' in read(
        e, frame, rows, 'At size:', base)


def test_on_a_wall_clock_budget_arms_pair_only_on_one_machine():
    # per-seed differences -1.0, -1.1, -0.9 as above; seed 2's arms ran
    # on two machines, so only seeds 0 and 1 pair
    e = make(baseline='nsp_weight=1')
    runs = [result(label, s, final_val_mlm_l=v, final_val_mlm_acc=0.3,
                   pairs_per_sec=1.0)
            for label, values in (('nsp_weight=1', (6.0, 6.2, 6.1)),
                                  ('nsp_weight=0', (5.0, 5.1, 5.2)))
            for s, v in enumerate(values)]
    for r in runs:
        r['machine'] = 'Intel' if r['seed'] < 2 or r['label'].endswith(
            '1') else 'AMD'
    frame, rows = table(runs)
    assert R.compared(frame, rows, 'nsp_weight=1', BASE)['nsp_weight=0'][
        'final_val_mlm_l'].n == 3  # on a step count, machines do not matter
    assert 'minutes of steps' not in read(e, frame, rows, 'At:', BASE)
    for r in runs:
        r['configs'] = {'train': {'time_budget': 8.0}}
    frame, rows = table(runs)
    diff = R.compared(frame, rows, 'nsp_weight=1', BASE)['nsp_weight=0'][
        'final_val_mlm_l']
    assert (diff.n, round(diff.mean, 9)) == (2, -1.05)
    text = read(e, frame, rows, 'At:', BASE)
    assert ('Every arm trained for 8 minutes of steps, so a seed\'s arms are '
            'paired only where they ran on one recorded machine (seed 2 ran '
            'on several: its arms pair only where they shared one) with no '
            'other work on it. The machine\'s load was not recorded') in text
    # seed 1's baseline run shared its machine (12% of its CPU time taken
    # by others): seed 0 alone pairs
    for r in runs:
        r['metrics'].update(others_cpu_share=0.02, steal_share=0.01)
    runs[1]['metrics'].update(others_cpu_share=0.1)
    frame, rows = table(runs)
    diff = R.compared(frame, rows, 'nsp_weight=1', BASE)['nsp_weight=0'][
        'final_val_mlm_l']
    assert (diff.n, round(diff.mean, 9)) == (1, -1.0)
    assert ('Other processes and the hypervisor took at most 11% of the '
            'machine\'s CPU time during a run; above 10%, `nsp_weight=1` '
            'seed 1 (11%) shared the machine and pair with no other run.') \
        in read(e, frame, rows, 'At:', BASE)
    runs[1]['metrics'].update(others_cpu_share=0.02)
    del runs[2]['metrics']['others_cpu_share']
    frame, rows = table(runs)
    assert ('took at most 3% of the machine\'s CPU time during a run (1 run '
            'not recorded).') in read(e, frame, rows, 'At:', BASE)


def test_differences_below_three_seeds_are_not_claimed():
    e = make(baseline='nsp_weight=1')
    frame, rows = table(
        [result(label, s, final_val_mlm_l=v + s, final_val_mlm_acc=0.3,
                pairs_per_sec=1.0)
         for label, v in (('nsp_weight=1', 5.0), ('nsp_weight=0', 4.0))
         for s in range(2)])
    diffs = R.compared(frame, rows, 'nsp_weight=1', BASE)
    assert diffs['nsp_weight=0']['final_val_mlm_l'].n == 2
    text = read(e, frame, rows, 'At size:', BASE)
    assert 'with fewer than 3 seeds no difference is claimed' in text
    assert R.MIN_SEEDS_TO_RANK == 3


def test_verdicts_read_the_interval_against_the_prediction():
    from sandbox.experiment.stats import PairedDifference as D
    lower = D(3, -0.2, -0.3, -0.1, 0.01)
    unclear = D(3, -0.05, -0.2, 0.1, 0.4)
    assert R.verdict(lower, -1) == 'agrees'
    assert R.verdict(lower, 1) == 'contradicts'
    assert R.verdict(lower, 0) == 'contradicts'
    assert R.verdict(unclear, -1).startswith('not established')
    assert R.verdict(unclear, 0) == ('consistent: no difference found, '
                                     'effects up to ±0.200 not excluded')
    assert R.verdict(D(2, -0.2, -0.3, -0.1, 0.01), -1).startswith(
        'not tested')
    assert R.verdict(None, -1).startswith('not tested')


def test_a_gate_split_needs_every_seed_on_one_side():
    # the unigram gate at BASE: loss under 6.6 and accuracy at least 0.1
    runs = [result(label, s, final_val_mlm_l=loss, final_val_mlm_acc=acc)
            for label, per_seed in (
                ('a', ((5.0, 0.2), (5.1, 0.2), (5.0, 0.2))),
                ('b', ((6.7, 0.05), (6.5, 0.09), (6.8, 0.05))),
                ('c', ((6.7, 0.05), (5.0, 0.2), (6.8, 0.05))))
            for s, (loss, acc) in enumerate(per_seed)]
    frame = F.results_frame(runs)
    split = R.gate_split(frame, 'b', 'a', BASE)
    assert split == ('a', 'b', [0, 1, 2])
    assert R.gate_split(frame, 'a', 'b', BASE) == split
    assert R.gate_split(frame, 'c', 'a', BASE) is None  # seed 1 learned
    assert R.gate_split(frame, 'b', 'a', None) is None
    # a run without a validation loss (not finished) has not failed it
    unfinished = runs + [result('d', s, final_val_mlm_l=6.7,
                                final_val_mlm_acc=0.05) for s in (0, 1)]
    unfinished.append(result('d', 2))
    assert R.gate_split(F.results_frame(unfinished), 'd', 'a', BASE) == (
        'a', 'd', [0, 1])
    assert R.gate_verdict(split, 'b', 'final_val_mlm_l', 1).startswith(
        'agrees: `b` stays under the unigram gate in all 3 seeds')
    assert R.gate_verdict(split, 'b', 'final_val_mlm_acc', 1).startswith(
        'contradicts')
    assert R.gate_verdict(split, 'a', 'final_val_mlm_acc', 1).startswith(
        'agrees')
    assert R.gate_verdict(split, 'b', 'final_val_mlm_l', 0).startswith(
        'contradicts')
    assert R.gate_verdict(split, 'b', 'final_val_nsp_acc', 1) is None
    # on a wall-clock budget, only seeds run on one machine count
    for r in runs:
        r['configs'] = {'train': {'time_budget': 8.0}}
        r['machine'] = 'AMD' if (r['label'], r['seed']) == ('b', 2) else 'x'
    assert R.gate_split(F.results_frame(runs), 'b', 'a', BASE) == (
        'a', 'b', [0, 1])
    two = R.gate_split(frame[frame['seed'] < 2], 'b', 'a', BASE)
    assert two == ('a', 'b', [0, 1])
    assert R.gate_verdict(two, 'b', 'final_val_mlm_l', 1) is None


def test_predictions_compare_an_arm_with_the_baseline_or_another_arm():
    # per-seed differences from the baseline -1.0, -1.1, -0.9 (mean -1.0,
    # t(2) 4.303 x sd 0.1 / sqrt(3)); arm 0 - arm 0.5: +0.5 at every seed
    e = make(baseline='nsp_weight=1',
             grid={'train.nsp_weight': [1.0, 0.5, 0.0]}, predictions={
                 'nsp_weight=0': ('final_val_mlm_l', -1, 'a paper'),
                 ('nsp_weight=0', 'nsp_weight=0.5'): (
                     'final_val_mlm_l', -1, 'another')})
    frame, rows = table(
        [result(label, s, final_val_mlm_l=v, final_val_mlm_acc=0.2)
         for label, values in (('nsp_weight=1', (6.0, 6.1, 5.9)),
                               ('nsp_weight=0.5', (4.5, 4.5, 4.5)),
                               ('nsp_weight=0', (5.0, 5.0, 5.0)))
         for s, v in enumerate(values)])
    text = re.sub(' +', ' ', X.literature_markdown(e, frame, rows, BASE))
    half = 4.303 * 0.1 / 3 ** 0.5
    assert (f'| nsp_weight=0 | Δ val MLM loss: lower (a paper) | -1.000 '
            f'[{-1 - half:.3f}, {-1 + half:.3f}] * | agrees |') in text
    assert ('| nsp_weight=0 − nsp_weight=0.5 | Δ val MLM loss: lower '
            '(another) | +0.500 [+0.500, +0.500] * | contradicts |') in text
    # an arm under the gate is not compared in size, with either arm; but
    # where the other arm clears it in every seed (0.5, not 1), that
    # difference in kind is read against the prediction
    gated = {**BASE, 'mlm_l': 5.05}
    text = re.sub(' +', ' ', X.literature_markdown(e, frame, rows, gated))
    assert text.count('not tested (the arm or the metric is not past') == 1
    assert ('| nsp_weight=0 − nsp_weight=0.5 | Δ val MLM loss: lower '
            '(another) | 5.000 vs 4.500 (means) | contradicts: '
            '`nsp_weight=0` stays under the unigram gate in all 3 seeds, '
            '`nsp_weight=0.5` clears it in all (a difference in kind: no '
            'interval) |') in text
    # an arm without a finished run is not run yet, not gated
    frame, rows = table([r for r in (
        result('nsp_weight=1', s, final_val_mlm_l=6.0, final_val_mlm_acc=0.2)
        for s in range(3))])
    text = re.sub(' +', ' ', X.literature_markdown(e, frame, rows, BASE))
    assert text.count('| not run yet (nsp_weight=0) |') == 1
    assert '| not run yet (nsp_weight=0 and nsp_weight=0.5) |' in text
    with pytest.raises(ValueError, match='a pair of two groups'):
        make(predictions={('nsp_weight=0', 'nsp_weight=0'): (
            'final_val_mlm_l', 0, 'x')})
    with pytest.raises(ValueError, match='not a group'):
        make(predictions={'nsp_weight=1': ('final_val_mlm_l', 0, 'x')})
