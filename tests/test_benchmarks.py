"""The benchmark scripts run and count FLOPs right; their speed is theirs.

No timing is asserted: the scripts print speed, and these tests only keep
them from rotting (a tiny run prints every figure it promises).
"""
import importlib.util
import sys

import pytest
from hypothesis import given, settings, strategies as st

from sandbox.config import configs_from_settings
from tests.conftest import ROOT


def load_script(name):
    """A benchmarks/ script as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(
        name, ROOT / 'benchmarks' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_step_flops_counts_the_matmuls():
    step_flops = load_script('train_step').step_flops
    # T=2, H=1, ffn=1, one block, no vocabulary, one slot, one pair
    block = (4 * 2 + 2 * 2 * 2 + 2 * 2) * 2  # projections, scores, FFN
    mlm, nsp = (1 + 0) * 2, (1 + 2) * 2
    assert step_flops(1, 2, 1, 0, 1, 1, 1) == 3 * (block + mlm + nsp)
    # half the tokens: the projections and the FFN halve, the scores stay
    assert step_flops(1, 2, 1, 0, 1, 1, 1, token_fraction=0.5) == \
        3 * ((6 + 8) * 2 + mlm + nsp)


@settings(max_examples=50)
@given(st.integers(1, 8), st.integers(1, 16), st.integers(1, 4),
       st.integers(2, 50), st.integers(1, 4), st.integers(1, 16),
       st.integers(1, 3), st.sampled_from([1, 2, 4]))
def test_the_step_matmuls_by_shape_are_the_flops_counted(
        batch, max_len, slots, vocab, head_dim, ffn, blocks, heads):
    step_flops = load_script('train_step').step_flops
    shapes = load_script('matmul_shapes')
    sizes = (batch, max_len, slots, vocab, head_dim * heads, ffn, blocks)
    # every shape counted once forward and once per gradient
    matmuls = shapes.step_matmuls(*sizes, heads)
    assert sum(mm.flops for mm in matmuls) == step_flops(*sizes)
    # half the tokens and half the slots, on an even batch
    half = shapes.step_matmuls(2 * batch, *sizes[1:], heads, 0.5, 0.5)
    assert sum(mm.flops for mm in half) == step_flops(
        2 * batch, *sizes[1:], slot_fraction=0.5, token_fraction=0.5)


def test_the_gradients_of_a_matmul_have_its_transposed_shapes():
    shapes = load_script('matmul_shapes')
    assert shapes.Matmul(1, 5, 3, 7, 2).flops == 2 * 5 * 3 * 7 * 2
    # the first forward matmul (Q, K, V, output) and its two gradients
    forward, dx, dw = shapes.step_matmuls(1, 2, 1, 7, 4, 1, 1, 2)[:3]
    assert (forward.m, forward.k, forward.n) == (2, 4, 4)
    assert (dx.m, dx.k, dx.n) == (forward.m, forward.n, forward.k)
    assert (dw.m, dw.k, dw.n) == (forward.k, forward.m, forward.n)


def test_matmul_shapes_benchmark_prints_the_ceiling(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / 'benchmarks'))
    load_script('matmul_shapes').main([
        '--batch-size', '4', '--max-len', '8', '--slots', '2', '--vocab',
        '50', '--hidden', '16', '--ffn', '32', '--blocks', '1'])
    out = capsys.readouterr().out
    assert 'machine: ' in out and 'matmul peak' in out
    assert 'ceiling: ' in out and 'of the peak' in out
    # one row per shape: 9 forward matmuls, 2 gradients each
    assert out.count(' x ') - 3 == 27 * 3


def test_train_step_benchmark_prints_its_figures(wikitext_dir, capsys):
    load_script('train_step').main([
        '--data-dir', str(wikitext_dir), '--batch-size', '8',
        '--max-len', '24', '--blocks', '1', '--hidden', '16', '--heads',
        '2', '--ffn', '32', '--steps', '1', '--warmup', '0', '--step',
        'both', '--breakdown'])
    out = capsys.readouterr().out
    for figure in ('machine: ', 'matmul peak', ' reference: ',
                   ' optimised: ', 'speed-up: ', 'breakdown: forward only',
                   'unpadding makes the step', 'input pipeline: ',
                   'peak RSS'):
        assert figure in out, figure
    assert 'unpad True' in out and 'tokens ' in out


def test_time_to_signal_stops_at_the_target_and_reports_it(capsys):
    tts = load_script('time_to_signal')
    stamps = tts.Stamps(target=0.2)
    rows = [{'step': 1, 'pairs_per_sec': 100.0},
            {'step': 2, 'pairs_per_sec': 100.0, 'val_mlm_acc': 0.15}]
    for row in rows:
        stamps.on_step(row['step'], row)
    with pytest.raises(tts.Reached):
        stamps.on_step(3, {'step': 3, 'pairs_per_sec': 50.0,
                           'val_mlm_acc': 0.21})
    configs = configs_from_settings({'data.batch_size': 100},
                                    recipe='default')
    crossing = tts.report(stamps.rows, configs, stamps, 0.2)
    out = capsys.readouterr().out
    # steps of 1 s, 1 s and 2 s (100 pairs at 100, 100 and 50 pairs/s)
    assert 'accuracy 0.210 >= 0.2 at step 3 (0k pairs)' in out
    assert '0.1 min of steps' in out and '3 steps run' in out
    # 3 s to step 1's row (1 s of it the step), 1.5 s more to step 2's
    # (1 s the step, 0.5 s its check), 3.5 s more to step 3's (2 s, 1.5 s)
    at = {1: 3.0, 2: 4.5, 3: 8.0}
    assert tts.wall_parts(stamps.rows, at, 100, 3) == (2.0, 2.0, 2)
    assert tts.wall_parts(stamps.rows, at, 100, 2) == (2.0, 0.5, 1)
    assert 'validation checks' in out
    # step 3, after 4 s of steps, its row stamped at 8 s of wall time
    assert crossing == (3, 4 / 60, stamps.at[3] / 60)


def test_time_to_signal_runs_once_per_seed(wikitext_dir, capsys,
                                           monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / 'benchmarks'))
    load_script('time_to_signal').main([
        '--data-dir', str(wikitext_dir), '--seeds', '3', '4', '--target',
        '0', '--val-every', '1', '--set', 'preset=tiny', '--set',
        'data.batch_size=8', '--set', 'data.max_len=16'])
    out = capsys.readouterr().out
    assert 'machine: ' in out and 'matmul peak' in out
    assert 'seed 3:' in out and 'seed 4:' in out
    assert out.count('time to signal: validation MLM accuracy') == 2
    # accuracy >= 0 at the first check, the first step
    assert 'over 2 seeds (3, 4), validation accuracy first >= 0.0 at ' \
        'step: 1, 1; median' in out


def test_time_to_signal_spread_over_seeds():
    tts = load_script('time_to_signal')
    crossings = [(1000, 3.0, 3.6), None, (1200, 4.2, 5.0), (1100, 3.3, 4.0)]
    assert tts.spread([0, 1, 2, 3], crossings, 0.2) == (
        'over 4 seeds (0, 1, 2, 3), validation accuracy first >= 0.2 at '
        'step: 1,000, never, 1,200, 1,100; median 3.3 min of steps (3.0-4.2), 4.0 min wall '
        '(3.6-5.0)')
    assert tts.spread([5], [None], 0.2) == (
        'over 1 seed (5), validation accuracy first >= 0.2 at step: never')


def test_budget_steps_give_each_arm_the_baselines_time(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / 'benchmarks'))
    budget = load_script('budget_steps').budget_steps
    seconds = {'a': 0.2, 'b': 0.1, 'c': 0.4, 'd': 0.3}
    assert budget(seconds, 'a', 1800) == {'a': 1800, 'b': 3600, 'c': 900,
                                          'd': 1200}


def test_budget_steps_benchmark_prints_the_steps(wikitext_dir, tmp_path,
                                                 capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / 'benchmarks'))
    script = load_script('budget_steps')
    path = tmp_path / 'tiny.py'
    path.write_text(
        'from sandbox.experiment import Experiment\n'
        "EXPERIMENT = Experiment(name='tiny', question='q?',\n"
        "    grid={'model.num_blks': [1, 2]}, baseline='num_blks=2',\n"
        "    settings={'preset': 'tiny', 'data.batch_size': 4,\n"
        "              'data.max_len': 16})\n")
    script.main([str(path), '--data-dir', str(wikitext_dir), '--rounds',
                 '2', '--warmup', '1', '--baseline-steps', '300'])
    out = capsys.readouterr().out
    assert 'machine: ' in out and 'matmul peak' in out
    assert 'budget: 300 steps of num_blks=2' in out
    lines = out.split('STEPS = {\n')[1].splitlines()
    assert lines[0].startswith("    'num_blks=2': 300,  # ")
    assert lines[1].startswith("    'num_blks=1': ")
    assert lines[2] == '}'
    path.write_text(path.read_text().replace(
        "'model.num_blks': [1, 2]", "'data.batch_size': [4, 8]").replace(
        'num_blks=2', 'batch_size=8').replace(
        "'data.batch_size': 4,", ''))
    with pytest.raises(SystemExit, match='differ in their data settings'):
        script.main([str(path), '--data-dir', str(wikitext_dir)])
    with pytest.raises(SystemExit, match='experiment file'):
        script.main([str(tmp_path / 'none.py')])


def test_versus_d2l_alternates_the_scripts_and_prints_the_row(capsys):
    versus = load_script('versus_d2l')
    d2l, ours = iter([200.0, 250.0, 220.0]), iter([600.0, 700.0, 440.0])
    calls = []

    def runner(cmd):
        name = 'd2l' if cmd[1].endswith('d2l_torch_step.py') else 'ours'
        calls.append(name)
        if name == 'd2l':
            return ('machine: x; torch float32 2048^3 matmul peak 400 '
                    f'GFLOP/s\nd2l PyTorch\npairs/sec {next(d2l)} (median '
                    'of 10 steps)\n')
        return ('matmul FLOP/step: 1 G; matmul peak 410 GFLOP/s (float32)\n'
                f' optimised: {next(ours)} pairs/sec (853 ms/step, median '
                'of 10);  50.0 GFLOP/s executed = 35% of peak\n')

    versus.main(['--torch-python', 'tp', '--rounds', '3'], runner=runner)
    assert calls == ['d2l', 'ours', 'ours', 'd2l', 'd2l', 'ours']
    out = capsys.readouterr().out
    assert 'round 2: d2l 250.0 pairs/s (torch peak 400 GFLOP/s), ours ' \
        '700.0 (peak 410, 35% of it): 2.80x' in out
    # ratios 3.0, 2.8, 2.0 within the rounds
    assert out.splitlines()[-1].endswith(
        '(3 rounds) | 410–410 (torch\'s: 400–400) | 220 (200–250) | '
        '600 (440–700) | **2.80x** (2.00–3.00) | 35–35% |')


def test_versus_d2l_names_the_flag_when_torch_is_missing(capsys):
    versus = load_script('versus_d2l')
    if importlib.util.find_spec('torch') is not None:
        pytest.skip('this interpreter has torch')
    with pytest.raises(SystemExit) as e:
        versus.main(['--torch-python', sys.executable, '--rounds', '1'])
    assert 'd2l_torch_step.py failed' in str(e.value)
    assert f'--torch-python {sys.executable} must import torch' in \
        str(e.value)
