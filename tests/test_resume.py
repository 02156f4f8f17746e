"""Checkpoints and exact resume, including after a real SIGKILL."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from sandbox.checkpoint import latest_step
from sandbox.config import RECIPES
from sandbox.runs import read_metrics

STEPS = 12
ARGS = ['--preset', 'tiny', '--steps', str(STEPS), '--checkpoint-every', '3',
        '--batch-size', '16', '--max-len', '24', '--val-every', '4',
        '--val-batches', '1', '--masking', 'dynamic', '--no-verify',
        '--quiet', '--set', 'model.dropout=0.1', '--seed', '7']


def _cli(*args):
    """The pretrain command line in a fresh Python process."""
    return [sys.executable, '-m', 'sandbox', 'pretrain', *args]


def _losses(run_dir):
    """(step, MLM loss, NSP loss, validation MLM loss) of every row."""
    return np.array([[r['step'], r['mlm_l'], r['nsp_l'],
                      r['val_mlm_l'] or 0.0] for r in read_metrics(run_dir)])


@pytest.fixture(scope='module')
def uninterrupted(synthetic_dir, tmp_path_factory):
    """The metrics of a run that was never stopped."""
    out = tmp_path_factory.mktemp('whole') / 'run'
    subprocess.run(_cli('--data-dir', str(synthetic_dir), '--out', str(out),
                        *ARGS), check=True, capture_output=True)
    return _losses(out)


def _kill_and_resume(synthetic_dir, out, *extra):
    """SIGKILL a run after its checkpoint of step 6, resume it, return
    the metrics of all its steps."""
    process = subprocess.Popen(
        _cli('--data-dir', str(synthetic_dir), '--out', str(out), *ARGS,
             *extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while latest_step(out / 'checkpoints') < 6:
        assert process.poll() is None, 'the run ended before it was killed'
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = latest_step(out / 'checkpoints')
    assert 6 <= killed_at < STEPS
    assert not (out / 'model.keras').exists()
    # the run folder remembers its corpus: no --data-dir needed
    result = subprocess.run(_cli('--resume', str(out), '--no-verify',
                                 '--quiet'), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    resumed = _losses(out)
    np.testing.assert_array_equal(resumed[:, 0], np.arange(1, STEPS + 1))
    return resumed


def test_sigkill_then_resume_matches(uninterrupted, synthetic_dir, tmp_path):
    out = tmp_path / 'run'
    resumed = _kill_and_resume(synthetic_dir, out)
    np.testing.assert_allclose(resumed, uninterrupted, rtol=0, atol=1e-6)
    assert (out / 'model.keras').exists()
    # TensorBoard holds each step once, the recomputed ones included
    assert _tensorboard_steps(out, 'mlm_l') == list(range(1, STEPS + 1))


def test_pairs_drawn_every_epoch_resume_exactly(synthetic_dir, tmp_path):
    # Batches of 64: about 5 steps an epoch, so the kill comes in the
    # second epoch, whose pairs the resumed run must draw again
    extra = ('--batch-size', '64', '--pairing', 'dynamic')
    subprocess.run(_cli('--data-dir', str(synthetic_dir), '--out',
                        str(tmp_path / 'whole'), *ARGS, *extra),
                   check=True, capture_output=True)
    resumed = _kill_and_resume(synthetic_dir, tmp_path / 'run', *extra)
    np.testing.assert_allclose(resumed, _losses(tmp_path / 'whole'),
                               rtol=0, atol=1e-6)


def _tensorboard_steps(run_dir, tag):
    """The steps of `tag`'s scalars in a run's TensorBoard events."""
    import tensorflow as tf
    steps = []
    for path in sorted((run_dir / 'tensorboard').iterdir()):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            steps += [event.step for v in event.summary.value
                      if v.tag == tag]
    return sorted(steps)


def test_other_config_is_refused(uninterrupted, synthetic_dir, tmp_path):
    out = tmp_path / 'run'
    subprocess.run(_cli('--data-dir', str(synthetic_dir), '--out', str(out),
                        *ARGS[:1], 'tiny', '--steps', '2', *ARGS[4:]),
                   check=True, capture_output=True)
    before = (out / 'metrics.csv').read_bytes()
    result = subprocess.run(
        _cli('--data-dir', str(synthetic_dir), '--out', str(out), *ARGS,
             '--lr', '0.02'), capture_output=True, text=True)
    assert result.returncode != 0
    assert 'holds a run of another config' in result.stderr
    lr = RECIPES['default']['train.lr']  # the folder's: the recipe's
    assert f'train.lr: {lr!r} -> 0.02' in result.stderr
    assert (out / 'metrics.csv').read_bytes() == before
