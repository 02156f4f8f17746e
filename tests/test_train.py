"""Tests of the train step, train_bert, validation and the run folder."""
import math

import keras
import numpy as np
import pytest

from sandbox import data, optim, train
from sandbox.config import MODEL_PRESETS, TrainConfig
from sandbox.pretrain import build_model

TINY = MODEL_PRESETS['tiny']


def _fit(batches, steps, **config):
    """Train a fresh tiny model; return (net, history)."""
    train_iter, vocab = batches
    config = TrainConfig(num_steps=steps, **config)
    net = build_model(TINY, len(vocab), config)
    return net, train.train_bert(train_iter, net, len(vocab), config=config,
                                 verbose=False)


def test_loss_falls(batches):
    _, history = _fit(batches, 40, lr=0.01)
    first = np.mean([row['mlm_l'] for row in history[:5]])
    last = np.mean([row['mlm_l'] for row in history[-5:]])
    assert last < first - 0.3
    assert [row['step'] for row in history] == list(range(1, 41))


def test_same_seed_same_losses(synthetic_dir):
    def losses(seed):
        # A fresh pipeline each run (a dataset reshuffles every iteration),
        # built after the global seed, which tf.data's shuffle reads too
        keras.utils.set_random_seed(seed)
        batches = data.load_data_wiki(32, 24, synthetic_dir, verify=False,
                                      seed=seed, masking='dynamic')
        config = dict(seed=seed, lr=0.01)
        model = TINY.replace(dropout=0.1, attention_dropout=0.1)
        net = build_model(model, len(batches[1]), TrainConfig(**config))
        history = train.train_bert(*batches[:1], net, len(batches[1]),
                                   config=TrainConfig(num_steps=6, **config),
                                   verbose=False)
        return [(r['mlm_l'], r['nsp_l']) for r in history]

    assert losses(3) == losses(3)
    assert losses(3) != losses(4)


def test_nsp_weight_zero_leaves_nsp_head_untouched(batches):
    train_iter, vocab = batches
    config = TrainConfig(num_steps=5, nsp_weight=0.0)
    net = build_model(TINY, len(vocab), config)
    net.build()
    before = [w.numpy() for w in net.nsp.weights]
    history = train.train_bert(train_iter, net, len(vocab), config=config,
                               verbose=False)
    for old, new in zip(before, net.nsp.weights):
        np.testing.assert_array_equal(old, new.numpy())
    assert all(row['l'] == row['mlm_l'] for row in history)


def test_loss_weights_combine(batches):
    _, history = _fit(batches, 3, mlm_weight=0.5, nsp_weight=2.0)
    for row in history:
        assert row['l'] == pytest.approx(0.5 * row['mlm_l'] +
                                         2.0 * row['nsp_l'], rel=1e-6)


def test_evaluate_weights_batches_exactly(synthetic_dir):
    train_iter, vocab = data.load_data_wiki(32, 24, synthetic_dir,
                                            verify=False, shuffle=False)
    net = build_model(TINY, len(vocab), TrainConfig())
    two = list(train_iter.take(2))
    joined = train_iter.take(2).unbatch().batch(64)
    split = train.evaluate(net, train_iter, num_batches=2)
    whole = train.evaluate(net, joined)
    for key in split:
        assert split[key] == pytest.approx(whole[key], rel=1e-5)
    assert split['val_ppl'] == pytest.approx(math.exp(split['val_mlm_l']))
    assert sum(int(b.tokens.shape[0]) for b in two) == 64


def test_validation_rows(batches):
    train_iter, vocab = batches
    config = TrainConfig(num_steps=4, val_every=2, val_batches=1)
    net = build_model(TINY, len(vocab), config)
    history = train.train_bert(train_iter, net, len(vocab), config=config,
                               val_iter=train_iter, verbose=False)
    assert ['val_mlm_l' in row for row in history] == [False, True] * 2


def test_warmup_and_decay_schedule():
    config = TrainConfig(num_steps=10, lr=1.0, warmup_steps=4,
                         decay='linear')
    schedule = optim.learning_rate(config)
    lrs = [float(schedule(step)) for step in range(10)]
    # the decay reaches 0 one step after the last: every step learns
    np.testing.assert_allclose(lrs, [0.25, 0.5, 0.75, 1.0, 1.0, 5 / 6,
                                     4 / 6, 3 / 6, 2 / 6, 1 / 6], atol=1e-6)
    cosine = optim.learning_rate(config.replace(decay='cosine'))
    np.testing.assert_allclose(
        [float(cosine(step)) for step in range(4, 10)],
        [(1 + math.cos(math.pi * j / 6)) / 2 for j in range(6)], atol=1e-6)
    flat = optim.learning_rate(config.replace(decay='constant'))
    assert [float(flat(s)) for s in (0, 3, 9)] == [0.25, 1.0, 1.0]
    assert optim.learning_rate(TrainConfig(lr=0.5)) == 0.5


def test_logged_lr_is_the_rate_of_its_step(batches):
    _, history = _fit(batches, 5, lr=1.0, warmup_steps=4)
    assert [row['lr'] for row in history] == [0.25, 0.5, 0.75, 1.0, 1.0]


def test_a_time_budget_stops_on_time_and_reads_its_share(batches,
                                                          monkeypatch):
    step = train._Meter.step

    def fixed_time(self, *args):  # every step takes 0.7 s
        out = step(self, *args)
        self.timer.times[-1] = 0.7
        return out

    monkeypatch.setattr(train._Meter, 'step', fixed_time)
    # 3 s of budget: 5 steps of 0.7 s (2.8 s spent after 4), cap 100
    _, history = _fit(batches, 100, lr=1.0, warmup_steps=20,
                      decay='linear', time_budget=0.05)
    assert len(history) == 5
    config = TrainConfig(num_steps=100, lr=1.0, warmup_steps=20,
                         decay='linear', time_budget=0.05)
    budget = 0.05 * 60
    assert [row['lr'] for row in history] == pytest.approx(
        [optim.budget_rate(config, k * 0.7 / budget) for k in range(5)])
    # Read at 0, 23%, 47%, ... of the schedule's 100 steps: warm-up for
    # the first 20%, then the linear decay
    assert history[0]['lr'] == pytest.approx(1 / 20)
    assert history[2]['lr'] == pytest.approx(1 - (140 / 3 - 21) / 80,
                                             abs=1e-5)


def test_adam_is_torch_adamw():
    # torch.optim.AdamW's update, written out: decay, moments, bias
    # corrections, eps added to sqrt(v_hat); biases are not decayed
    config = TrainConfig(lr=0.1, beta_2=0.98, epsilon=1e-3,
                         weight_decay=0.1)
    optimizer = optim.make_optimizer(config)
    kernel = keras.Variable(np.array([1.0, -2.0, 0.5]), name='kernel')
    bias = keras.Variable(np.array([0.3]), name='bias')
    optimizer.build([kernel, bias])
    grads = [np.array([0.1, -0.3, 2.0]), np.array([0.5])]
    p = [np.array([1.0, -2.0, 0.5]), np.array([0.3])]
    m, v = [np.zeros(3), np.zeros(1)], [np.zeros(3), np.zeros(1)]
    for t in range(1, 4):
        g = [x * t for x in grads]
        optimizer.apply_gradients(zip(g, [kernel, bias]))
        for i in range(2):
            if i == 0:
                p[i] = p[i] * (1 - 0.1 * 0.1)
            m[i] = 0.9 * m[i] + 0.1 * g[i]
            v[i] = 0.98 * v[i] + 0.02 * g[i] ** 2
            m_hat, v_hat = m[i] / (1 - 0.9 ** t), v[i] / (1 - 0.98 ** t)
            p[i] = p[i] - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-3)
    np.testing.assert_allclose(kernel.numpy(), p[0], atol=1e-6)  # float32
    np.testing.assert_allclose(bias.numpy(), p[1], atol=1e-6)


def test_d2l_devices_idiom_on_a_cpu(batches):
    # d2l.try_all_gpus() returns [] on a machine without GPUs
    train_iter, vocab = batches
    net = build_model(TINY, len(vocab), TrainConfig())
    history = train.train_bert(train_iter, net, len(vocab), [], 2,
                               verbose=False)
    assert [row['step'] for row in history] == [1, 2]
    assert train.strategy_for([]).num_replicas_in_sync == 1


@pytest.mark.parametrize('field, change, message', [
    ('tokens', lambda b: b._replace(tokens=b.tokens + 10_000),
     r'tokens: ids must lie in \[0, '),
    ('mlm_Y', lambda b: b._replace(mlm_Y=b.mlm_Y[:, :2]),
     'mlm_Y: shape'),
    ('nsp_y', lambda b: b._replace(nsp_y=b.nsp_y[:3]), 'nsp_y: shape'),
])
def test_bad_batches_raise_before_training(batches, field, change, message):
    train_iter, vocab = batches
    bad = train_iter.map(change)
    net = build_model(TINY, len(vocab), TrainConfig())
    with pytest.raises(ValueError, match=message):
        train.train_bert(bad, net, len(vocab), num_steps=1, verbose=False)


def test_max_len_beyond_positions_raises(batches):
    train_iter, vocab = batches
    net = build_model(TINY.replace(max_len=16), len(vocab), TrainConfig())
    with pytest.raises(ValueError, match='max_len.*16'):
        train.train_bert(train_iter, net, len(vocab), num_steps=1,
                         verbose=False)


def test_empty_epoch_raises(synthetic_dir):
    train_iter, vocab = data.load_data_wiki(
        10_000, 24, synthetic_dir, verify=False, drop_remainder=True)
    net = build_model(TINY, len(vocab), TrainConfig())
    with pytest.raises(ValueError, match='batch_size'):
        train.train_bert(train_iter, net, len(vocab), num_steps=1,
                         verbose=False)


def test_mixed_precision_validates_in_float32(batches):
    train_iter, vocab = batches
    config = TrainConfig(num_steps=2, val_every=2, val_batches=2,
                         dtype_policy='mixed_bfloat16')
    net = build_model(TINY, len(vocab), config)
    val_iter = train_iter.take(2).cache()  # the same batches every time
    history = train.train_bert(train_iter, net, len(vocab), config=config,
                               val_iter=val_iter, verbose=False)
    twin = train.float32_twin(net)
    assert twin.dtype_policy.compute_dtype == 'float32'
    assert train.float32_twin(twin) is None
    twin.set_weights(net.get_weights())
    expected = train.evaluate(twin, val_iter)
    assert history[-1]['val_mlm_l'] == pytest.approx(
        expected['val_mlm_l'], abs=1e-6)
    bf16 = train.evaluate(net, val_iter)  # through the bfloat16 head
    assert bf16['val_mlm_l'] != pytest.approx(expected['val_mlm_l'],
                                              abs=1e-6)


def test_device_names_from_d2l_and_tensorflow():
    import tensorflow as tf
    from d2l import tensorflow as d2l
    assert train._device_name(d2l.gpu(1)) == '/GPU:1'
    assert train._device_name(tf.config.list_logical_devices('CPU')[0]) \
        .endswith('CPU:0')
    with pytest.raises(ValueError, match='devices: 3 is not a device'):
        train._device_name(3)
