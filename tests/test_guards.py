"""Numerical guards, unreadable checkpoints and validators under hypothesis."""
import dataclasses
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sandbox import config as cfg, data, optim, train
from sandbox.checkpoint import CheckpointError, latest_step
from sandbox.config import MODEL_PRESETS, ConfigError, TrainConfig
from sandbox.pretrain import build_model

TINY = MODEL_PRESETS['tiny']


class _Poison:
    """A callback that sets the token embeddings to NaN after `step`."""

    def __init__(self, net, step):
        self.net, self.step = net, step

    def on_step(self, step, row):
        if step == self.step:
            table = self.net.encoder.token_embedding.embeddings
            table.assign(np.full(table.shape, np.nan, np.float32))

    def on_end(self, history):
        pass


def test_non_finite_loss_stops_and_keeps_checkpoint(batches, tmp_path):
    train_iter, vocab = batches
    config = TrainConfig(num_steps=10, checkpoint_every=2)
    net = build_model(TINY, len(vocab), config)
    net.build()
    with pytest.raises(train.NonFiniteLossError) as e:
        train.train_bert(train_iter, net, len(vocab), config=config,
                         callbacks=[_Poison(net, 5)],
                         checkpoint_dir=tmp_path, verbose=False)
    message = str(e.value)
    assert 'non-finite loss at step 6' in message
    assert 'mlm_l=nan' in message and 'nsp_l=nan' in message
    assert 'checkpoint (step 4) is untouched' in message
    assert '--lr' in message and '--clip-norm' in message
    assert latest_step(tmp_path) == 4
    # The kept checkpoint is good: a fresh model resumes and trains on
    again = build_model(TINY, len(vocab), config)
    history = train.train_bert(train_iter, again, len(vocab),
                               config=config.replace(num_steps=6),
                               checkpoint_dir=tmp_path, verbose=False)
    assert [r['step'] for r in history] == [5, 6]
    assert all(np.isfinite(r['l']) for r in history)


def test_unreadable_checkpoint_is_named(batches, tmp_path):
    train_iter, vocab = batches
    config = TrainConfig(num_steps=2)
    net = build_model(TINY, len(vocab), config)
    train.train_bert(train_iter, net, len(vocab), config=config,
                     checkpoint_dir=tmp_path, verbose=False)
    for path in tmp_path.glob('ckpt-2.data-*'):
        path.write_bytes(path.read_bytes()[:100])  # truncated
    other = build_model(TINY, len(vocab), config)
    with pytest.raises(CheckpointError, match='ckpt-2 cannot be read'):
        train.train_bert(train_iter, other, len(vocab), config=config,
                         checkpoint_dir=tmp_path, verbose=False)


def test_checkpoint_of_another_model_is_refused(batches, tmp_path):
    train_iter, vocab = batches
    config = TrainConfig(num_steps=1)
    train.train_bert(train_iter, build_model(TINY, len(vocab), config),
                     len(vocab), config=config, checkpoint_dir=tmp_path,
                     verbose=False)
    wider = build_model(TINY.replace(num_hiddens=16), len(vocab), config)
    with pytest.raises(CheckpointError, match='config that wrote it'):
        train.train_bert(train_iter, wider, len(vocab), config=config,
                         checkpoint_dir=tmp_path, verbose=False)


def test_clipping_bounds_the_update(batches):
    train_iter, vocab = batches
    config = TrainConfig(num_steps=1, clip_norm=1e-3, lr=1.0)
    optimizer = optim.make_optimizer(config)
    assert optimizer.global_clipnorm == 1e-3


ANY = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                st.floats(allow_nan=True, allow_infinity=True),
                st.text(max_size=8),
                st.tuples(st.floats(-1, 2), st.floats(-1, 2),
                          st.floats(-1, 2)))


@pytest.mark.parametrize('cls', [cfg.DataConfig, cfg.ModelConfig,
                                 cfg.TrainConfig])
@settings(max_examples=300)
@given(data=st.data())
def test_validators_accept_or_name_the_field(cls, data):
    field = data.draw(st.sampled_from(dataclasses.fields(cls)))
    value = data.draw(ANY)
    try:
        made = cls(**{field.name: value})
    except ConfigError as e:
        assert field.name in str(e) or 'mlm_weight and nsp_weight' in str(e)
        return
    # Accepted: the value survives a round trip unchanged
    assert cls.from_dict(made.to_dict()) == made
    assert getattr(made, field.name) == value


def test_machine_reads_instruction_sets(tmp_path):
    from sandbox import machine
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nmodel name\t: AMD Ryzen 5 5600\n'
                    'flags\t\t: fpu sse avx avx2 fma\n\nprocessor\t: 1\n'
                    'flags\t\t: avx512f\n')
    model, flags = machine.cpu_info.__wrapped__(str(info))
    assert model == 'AMD Ryzen 5 5600'
    assert machine.instruction_sets(flags) == ['AVX2']
    assert not machine.native_bf16(flags)
    amx = {'avx2', 'avx512f', 'avx512_bf16', 'amx_tile', 'amx_bf16'}
    assert machine.instruction_sets(amx) == ['AVX2', 'AVX-512',
                                             'AVX512_BF16', 'AMX']
    assert machine.native_bf16(amx)
    assert machine.describe({}).count(',') >= 2
    assert 'capped' not in machine.describe({'ONEDNN_MAX_CPU_ISA': ''})
    assert machine.describe({'ONEDNN_MAX_CPU_ISA': 'AVX2',
                             'ATEN_CPU_CAPABILITY': 'avx2'}).endswith(
        ' (capped: ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2)')


def test_machine_load_reads_proc_stat(tmp_path, monkeypatch):
    from sandbox import machine
    hz = os.sysconf('SC_CLK_TCK')
    stat = tmp_path / 'stat'
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text(f'cpu  {3 * hz} {hz} {2 * hz} {10 * hz} {hz} 0 {hz} '
                    f'{2 * hz} 5 0\ncpu0 1 2 3\n')
    monkeypatch.setattr(machine.time, 'process_time', lambda: 4.0)
    clock = machine.cpu_clock(str(stat))
    assert clock == machine.CpuClock(busy=7.0, steal=2.0, total=20.0,
                                     own=4.0)
    for text in ('', 'intr 1 2\n', 'cpu 1 2\n', 'cpu a b c d e f g h\n'):
        stat.write_text(text)
        assert machine.cpu_clock(str(stat)) is None, text
    assert machine.cpu_clock(str(tmp_path / 'missing')) is None
    # 40 s of 2 CPUs: 30 busy, 24 of them this process's, 4 stolen
    later = machine.CpuClock(busy=37.0, steal=6.0, total=100.0, own=28.0)
    assert machine.load_between(clock, later) == {
        'others_cpu_share': 6 / 80, 'steal_share': 4 / 80}
    # this process's time counted at a finer grain than the machine's
    assert machine.load_between(clock, later._replace(own=40.0))[
        'others_cpu_share'] == 0.0
    assert machine.load_between(None, later) == {}
    assert machine.load_between(clock, clock) == {}


def test_emulated_bfloat16_warns_on_a_cpu_without_it(monkeypatch):
    import tensorflow as tf
    from sandbox import machine
    strategy = tf.distribute.get_strategy()
    monkeypatch.setattr(machine, 'native_bf16', lambda: False)
    with pytest.warns(train.EmulatedDtypeWarning, match='slower'):
        train.warn_if_emulated('mixed_bfloat16', strategy)
    monkeypatch.setattr(machine, 'native_bf16', lambda: True)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        train.warn_if_emulated('mixed_bfloat16', strategy)
        train.warn_if_emulated('float32', strategy)
