"""The train step under tf.distribute: a global batch split over replicas.

TensorFlow fixes its devices when it first uses them, so the two logical
CPU devices are made in a fresh process, which trains the same tiny model
on the same global batches twice, as train_bert does: on one device, then
under MirroredStrategy over both (each replica takes half of each batch).
The step rescales each replica's mean losses to its share of the global
weights, so the summed losses and gradients are the global batch's, and
clips the summed gradient. On several machines the same step runs under
MultiWorkerMirroredStrategy (see BENCHMARKS.md).
"""
import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# The run shared by every mode: a tiny model, two global batches of 8
RUN = '''
import json
import numpy as np
import tensorflow as tf
import keras
from sandbox.config import TrainConfig
from sandbox.data import BERTBatch
from sandbox.model import BERTModel
from sandbox.optim import make_optimizer
from sandbox.train import (_distribute, evaluate, make_train_step,
                           strategy_for)

V, B, T, P, STEPS = 40, 8, 10, 3, 4
rng = np.random.default_rng(0)
n = 2 * B
valid = rng.integers(4, T + 1, n)
# Uneven MLM weights across the halves, so shares matter
num_preds = np.where(np.arange(n) % B < B // 2, P, 1)
weights = (np.arange(P)[None] < num_preds[:, None]).astype('float32')
columns = BERTBatch(
    rng.integers(0, V, (n, T)).astype('int32'),
    (np.arange(T)[None] > valid[:, None] // 2).astype('int32'),
    valid.astype('int32'),
    (rng.integers(1, 4, (n, P)) * weights).astype('int32'), weights,
    (rng.integers(0, V, (n, P)) * weights).astype('int32'),
    rng.integers(0, 2, n).astype('int32'))
dataset = tf.data.Dataset.from_tensor_slices(columns).batch(B)
# Clipping on: it must clip the global gradient, not each replica's
config = TrainConfig(lr=0.01, clip_norm=1.0)


def run(strategy):
    """What train_bert does, step by step, under `strategy`."""
    with strategy.scope():
        keras.utils.set_random_seed(0)
        net = BERTModel(V, 8, 16, 2, 2, 0.0, max_len=16)
        net.build()
        optimizer = make_optimizer(config)
        optimizer.build(net.trainable_variables)
    step = make_train_step(net, optimizer, config, strategy)
    # Global batches; with two replicas each takes half of each batch
    batches = iter(_distribute(dataset.repeat(), strategy))
    history = [{k: float(v) for k, v in step(next(batches)).items()}
               for _ in range(STEPS)]
    return {'replicas': strategy.num_replicas_in_sync, 'history': history,
            'val': evaluate(net, dataset, strategy=strategy)}
'''

# One process, two logical CPU devices: one device, then MirroredStrategy
MIRRORED = '''
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
''' + RUN + '''
print(json.dumps({'single': run(strategy_for(['/cpu:0'])),
                  'mirrored': run(strategy_for(['/cpu:0', '/cpu:1']))}))
'''

# One of two worker processes (TF_CONFIG says which): the same run under
# MultiWorkerMirroredStrategy, as on two machines
WORKER = '''
import tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()
''' + RUN + '''
print(json.dumps(run(strategy)))
'''


def run_python(script, **env):
    """Start `script` in a fresh Python with the project importable."""
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'TF_CPP_MIN_LOG_LEVEL': '2',
           **env}
    return subprocess.Popen([sys.executable, '-c', script], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def last_json(process, timeout=300):
    """The JSON a script printed last, once it has exited with 0."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def free_ports(n):
    """n free TCP ports on the loopback address."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope='module')
def runs():
    """Histories of the same training on one device and on two."""
    return last_json(run_python(MIRRORED))


def test_two_replicas_are_used(runs):
    assert runs['single']['replicas'] == 1
    assert runs['mirrored']['replicas'] == 2


def test_step_losses_equal_single_device_losses(runs):
    single, mirrored = runs['single']['history'], runs['mirrored']['history']
    assert len(single) == len(mirrored) == 4
    for a, b in zip(single, mirrored):
        for k in ('l', 'mlm_l', 'nsp_l', 'mlm_acc', 'nsp_acc'):
            assert b[k] == pytest.approx(a[k], abs=1e-5), k
    assert single[2]['l'] < single[0]['l']  # it trains (same batch)


def test_trained_models_validate_alike(runs):
    a, b = runs['single']['val'], runs['mirrored']['val']
    for k in ('val_mlm_l', 'val_mlm_acc', 'val_nsp_l', 'val_nsp_acc'):
        assert b[k] == pytest.approx(a[k], abs=1e-5), k


@pytest.mark.slow
def test_multi_worker_step_equals_single_device(runs):
    """Two worker processes on this machine, as two machines would run."""
    cluster = {'worker': [f'127.0.0.1:{p}' for p in free_ports(2)]}
    workers = [run_python(WORKER, TF_CONFIG=json.dumps(
        {'cluster': cluster, 'task': {'type': 'worker', 'index': i}}))
        for i in range(2)]
    results = [last_json(w) for w in workers]
    single = runs['single']['history']
    for result in results:  # every worker reports the global losses
        assert result['replicas'] == 2
        for a, b in zip(single, result['history']):
            for k in ('l', 'mlm_l', 'nsp_l', 'mlm_acc', 'nsp_acc'):
                assert b[k] == pytest.approx(a[k], abs=1e-5), k


TRAIN_BERT = '''
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from sandbox import data, train
from sandbox.config import MODEL_PRESETS, TrainConfig
from sandbox.pretrain import build_model

corpus_dir, checkpoint_dir = sys.argv[1], sys.argv[2]
histories = []
for steps in (6, 4, 6):  # whole; stopped at 4; resumed to 6
    keras.utils.set_random_seed(0)
    ds, vocab = data.load_data_wiki(16, 24, corpus_dir, verify=False,
                                    drop_remainder=True, masking='dynamic')
    strategy = train.strategy_for(['/cpu:0', '/cpu:1'])
    config = TrainConfig(num_steps=steps, checkpoint_every=2)
    with strategy.scope():
        net = build_model(MODEL_PRESETS['tiny'].replace(dropout=0.1),
                          len(vocab), config)
    histories.append(train.train_bert(
        ds, net, len(vocab), config=config, strategy=strategy,
        checkpoint_dir=None if steps == 6 and not histories else
        checkpoint_dir, verbose=False))
print(json.dumps([[r['step'], r['l'], r['lr']] for h in histories
                  for r in h]))
'''


def test_train_bert_resumes_under_mirrored_strategy(synthetic_dir,
                                                     tmp_path):
    process = subprocess.Popen(
        [sys.executable, '-c', TRAIN_BERT, str(synthetic_dir),
         str(tmp_path / 'checkpoints')],
        env={**os.environ, 'PYTHONPATH': str(ROOT)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    rows = last_json(process)
    whole, first, resumed = rows[:6], rows[6:10], rows[10:]
    assert [r[0] for r in first + resumed] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(whole, first + resumed):
        assert a[0] == b[0] and a[1] == pytest.approx(b[1], abs=1e-6)
