"""The expected wall time of an experiment's runs, before they start.

A run's time is its steps times its step time: the median time a step
took in finished runs of the same shape in the results folder, else a few
steps timed here on a random batch of that shape, plus VALIDATION_SHARE
for validation, checkpoints and probes.
"""
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from sandbox.data import BERTBatch
from sandbox.model import bert_from_config
from sandbox.optim import make_optimizer
from sandbox.train import make_train_step

# What validation, checkpoints and probes add to the steps' time
VALIDATION_SHARE = 0.1


def shape_key(configs):
    """What a step's time depends on: model, batch shape, dtype, XLA."""
    d = configs.data
    return (configs.model, d.batch_size, d.max_len, d.num_pred_slots,
            configs.train.dtype_policy, configs.train.jit_compile,
            configs.train.unpads)


def random_batch(configs, vocab_size, seed=0):
    """A full-length BERTBatch of random tokens in `configs`' shape."""
    d = configs.data
    rng = np.random.default_rng(seed)
    slots = d.num_pred_slots
    return BERTBatch(
        tf.constant(rng.integers(5, vocab_size, (d.batch_size, d.max_len)),
                    tf.int32),
        tf.constant(np.repeat([[0] * (d.max_len // 2) +
                               [1] * (d.max_len - d.max_len // 2)],
                              d.batch_size, 0), tf.int32),
        tf.fill([d.batch_size], d.max_len),
        tf.constant(np.sort(rng.integers(1, d.max_len, (d.batch_size,
                                                        slots))), tf.int32),
        tf.ones([d.batch_size, slots]),
        tf.constant(rng.integers(5, vocab_size, (d.batch_size, slots)),
                    tf.int32),
        tf.constant(rng.integers(0, 2, d.batch_size), tf.int32))


def timed_step_seconds(configs, vocab_size, repeats=3):
    """Median seconds of a training step of `configs`, timed here."""
    net = bert_from_config(configs.model, vocab_size,
                           dtype=configs.train.dtype_policy)
    step = make_train_step(net, make_optimizer(configs.train), configs.train,
                           tf.distribute.get_strategy())
    batch = random_batch(configs, vocab_size)
    times = []
    for i in range(repeats + 1):  # the first traces
        start = time.perf_counter()
        float(step(batch)['l'])
        times.append(time.perf_counter() - start)
    keras.backend.clear_session()
    return statistics.median(times[1:])


def expected_seconds(pending, finished, vocab_size, may_time=True):
    """(seconds, how) the pending runs should take on this machine.

    Args:
        pending: spec.Run's still to train.
        finished: [(Run, result)] of the folder's finished runs.
        vocab_size: the corpus vocabulary's size.
        may_time: time steps of shapes no finished run has; if False,
            such shapes give (None, why).
    """
    measured = {}
    for run, result in finished:
        m = result['metrics']
        if m.get('wall_time') and m.get('steps'):
            measured.setdefault(shape_key(run.configs), []).append(
                m['wall_time'] / m['steps'])
    per_step, timed = {}, 0
    for run in pending:
        key = shape_key(run.configs)
        if key not in per_step:
            if key in measured:
                per_step[key] = statistics.median(measured[key])
            elif not may_time:
                return None, 'no finished run of their shape to time them by'
            else:
                per_step[key] = (1 + VALIDATION_SHARE) * timed_step_seconds(
                    run.configs, vocab_size)
                timed += 1
    seconds = sum(_run_seconds(run, per_step[shape_key(run.configs)])
                  for run in pending)
    how = (f'{timed} shape(s) timed on a random batch here, '
           f'{len(per_step) - timed} from finished runs')
    return seconds, how


def _run_seconds(run, per_step):
    """A run's expected seconds: its steps, or its time budget if sooner."""
    seconds = run.configs.train.num_steps * per_step
    budget = run.configs.train.time_budget
    if budget:
        seconds = min(seconds, budget * 60 * (1 + VALIDATION_SHARE))
    return seconds


def format_duration(seconds):
    """'1 h 25 min', '9 min', '40 s'."""
    if seconds < 60:
        return f'{seconds:.0f} s'
    minutes = round(seconds / 60)
    return f'{minutes // 60} h {minutes % 60} min' if minutes >= 60 else \
        f'{minutes} min'
