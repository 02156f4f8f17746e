"""The benchmark scripts run and count FLOPs right; their speed is theirs.

No timing is asserted: the scripts print speed, and these tests only keep
them from rotting (a tiny run prints every figure it promises).
"""
import importlib.util

import pytest

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
    tts.report(stamps.rows, configs, stamps, 0.2)
    out = capsys.readouterr().out
    # steps of 1 s, 1 s and 2 s (100 pairs at 100, 100 and 50 pairs/s)
    assert 'accuracy 0.210 >= 0.2 at step 3 (0k pairs)' in out
    assert '0.1 min of steps' in out and '3 steps run' in out
