"""Benchmark the training step: pairs/sec, GFLOP/s, first step, pipeline, RSS.

Times train.make_train_step (forward, loss, backward, Adam) on WikiText-2
batches, at d2l's config by default, and prints for one dtype policy:
pairs/sec (median of timed steps after warm-up), achieved GFLOP/s and the
fraction of a matmul peak measured in the same run, the first step's time
(tracing, plus XLA compilation with --xla), the input pipeline's overhead
(real batches vs the same batches held in memory) and the peak RSS.

    python benchmarks/train_step.py --data-dir ../shared/data/wikitext-2
    python benchmarks/train_step.py --dtype mixed_bfloat16 --xla
    python benchmarks/train_step.py --max-len 256 --blocks 4 --steps 6
    python benchmarks/train_step.py --set model.norm_first=True
    python benchmarks/train_step.py --step both        # vs the unoptimised
    python benchmarks/train_step.py --breakdown        # where the time goes
    python benchmarks/train_step.py --set train.unpad=False  # padding kept
    python benchmarks/train_step.py --set train.length_groups=4

Variants compared in one run (--step both, --breakdown) alternate step by
step, so a machine shared with other work slows them alike.
"""
import argparse
import os
import resource
import statistics
import sys
import time

import keras
import tensorflow as tf

from sandbox import data, layers, machine
from sandbox.config import configs_from_settings, parse_settings
from sandbox.loss import get_batch_loss_bert
from sandbox.pretrain import build_model
from sandbox.optim import make_optimizer
from sandbox.train import make_reference_step, make_train_step

# The optimised step computes the MLM head at the real slots only
SLOTS = {'reference': 'all', 'optimised': 'real'}
# Attention's length groups that --breakdown times beside the step's own
GROUPS = (1, 2, 4, 8)


def parse_args(argv=None):
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data-dir', default=None)
    p.add_argument('--dtype', default='float32',
                   help='train.dtype_policy: float32, mixed_bfloat16 or '
                   'mixed_float16')
    p.add_argument('--xla', action='store_true', help='jit_compile the step')
    p.add_argument('--batch-size', type=int, default=512)
    p.add_argument('--max-len', type=int, default=64)
    p.add_argument('--blocks', type=int, default=2)
    p.add_argument('--hidden', type=int, default=128)
    p.add_argument('--heads', type=int, default=2)
    p.add_argument('--ffn', type=int, default=256)
    p.add_argument('--set', action='append', default=[],
                   metavar='SECTION.FIELD=VALUE',
                   help='any other config field, as `python -m sandbox '
                   'pretrain --set` (repeatable)')
    p.add_argument('--steps', type=int, default=20, help='timed steps')
    p.add_argument('--warmup', type=int, default=3,
                   help='untimed steps after the first')
    p.add_argument('--step', default='optimised',
                   choices=['optimised', 'reference', 'both'],
                   help='reference: train.make_reference_step (d2l-style '
                   'loss on all logits) with Keras dropout; both: alternate '
                   'them')
    p.add_argument('--breakdown', action='store_true',
                   help='also time ablations: forward only, no MLM slots, '
                   'no dropout')
    p.add_argument('--intra-threads', type=int, default=None)
    p.add_argument('--inter-threads', type=int, default=None)
    p.add_argument('--profile', default=None, metavar='DIR',
                   help='write a TensorBoard profile of 3 steps to DIR')
    return p.parse_args(argv)


def configs_from_args(args):
    """(DataConfig, ModelConfig, TrainConfig) of the flags and --set."""
    settings = {
        'data.batch_size': args.batch_size, 'data.max_len': args.max_len,
        'model.num_blks': args.blocks, 'model.num_hiddens': args.hidden,
        'model.num_heads': args.heads, 'model.ffn_num_hiddens': args.ffn,
        'model.max_len': max(1000, args.max_len),
        'train.dtype_policy': args.dtype, 'train.jit_compile': args.xla}
    try:
        configs = configs_from_settings({**settings,
                                         **parse_settings(args.set)})
    except ValueError as e:
        sys.exit(f'error: {e}')
    return configs.data, configs.model, configs.train


def step_flops(batch_size, max_len, num_slots, vocab_size, hidden, ffn,
               blocks, slot_fraction=1.0, token_fraction=1.0):
    """Matmul FLOPs of one train step (3 x forward), at a fraction of the
    MLM slots (1: all, as d2l computes them) and, outside attention's
    scores, of the tokens (1: padding included, as d2l)."""
    T, H = max_len, hidden
    block = (token_fraction * (4 * T * H * H + 2 * T * H * ffn) +
             2 * T * T * H) * 2
    mlm = slot_fraction * num_slots * (H * H + H * vocab_size) * 2
    nsp = (H * H + 2 * H) * 2
    return 3 * batch_size * (blocks * block + mlm + nsp)


def rss_mib():
    """The current resident set size, MiB."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def main(argv=None):
    """Build the steps, time them alternately, print the figures."""
    args = parse_args(argv)
    if args.intra_threads:
        tf.config.threading.set_intra_op_parallelism_threads(
            args.intra_threads)
    if args.inter_threads:
        tf.config.threading.set_inter_op_parallelism_threads(
            args.inter_threads)
    data_config, model_config, train_config = configs_from_args(args)
    train_iter, vocab = data.load_data_wiki(
        data_config.batch_size, data_config.max_len, args.data_dir,
        config=data_config, drop_remainder=True)
    it = iter(train_iter)
    held = [next(it) for _ in range(8)]  # batches held in memory
    del it
    rss_data = rss_mib()
    names = {'optimised': ['optimised'], 'reference': ['reference'],
             'both': ['reference', 'optimised']}[args.step]
    steps, first = {}, {}
    for name in names:
        steps[name] = build_step(name, model_config, train_config,
                                 len(vocab))
        first[name] = timed(steps[name], held[0])
    variants = {name: (steps[name], held) for name in names}
    if args.breakdown:
        variants.update(breakdown_steps(model_config, train_config,
                                        len(vocab), held))
    times, peaks = time_alternately(variants, steps[names[-1]], train_iter,
                                    args, train_config.dtype_policy)
    if args.profile:
        tf.profiler.experimental.start(args.profile)
        for i in range(3):
            float(steps[names[-1]](held[i])['l'])
        tf.profiler.experimental.stop()
    print_figures(names, times, first, statistics.median(peaks),
                  (data_config, model_config, train_config), held,
                  len(vocab), rss_data)


class KerasDropout(keras.layers.Dropout):
    """Keras's Dropout, on the padded tensors the reference step has."""

    def call(self, inputs, training=False, unpadded=None):
        """Keras's dropout (the reference never unpads)."""
        return super().call(inputs, training=training)


def build_step(name, model_config, train_config, vocab_size):
    """A fresh model, Adam and step: train's optimised one or the reference.

    The reference's model has Keras's Dropout, as before the faster one.
    """
    fast_dropout = layers.Dropout
    if name == 'reference':
        layers.Dropout = KerasDropout
    try:
        net = build_model(model_config, vocab_size, train_config)
        net.build()
    finally:
        layers.Dropout = fast_dropout
    optimizer = make_optimizer(train_config)
    optimizer.build(net.trainable_variables)
    if name == 'reference':
        return make_reference_step(net, optimizer, train_config.jit_compile)
    return make_train_step(net, optimizer, train_config,
                           tf.distribute.get_strategy())


def breakdown_steps(model_config, train_config, vocab_size, held):
    """Ablations of the optimised step: {name: (step, batches)}."""
    net = build_model(model_config, vocab_size, train_config)
    net.build()

    @tf.function(reduce_retracing=True)
    def forward(batch):
        loss = get_batch_loss_bert(net, batch, fused=True)
        return {'l': loss.l}

    no_mlm = [b._replace(mlm_weights=tf.zeros_like(b.mlm_weights))
              for b in held]
    no_dropout = model_config.replace(dropout=0.0, attention_dropout=0.0)
    step = build_step('optimised', model_config, train_config, vocab_size)
    padded = train_config.replace(unpad=not train_config.unpad)
    variants = {'forward only': (forward, held),
                'no MLM slots': (step, no_mlm),
                'no dropout': (build_step('optimised', no_dropout,
                                          train_config, vocab_size), held),
                f'unpad {padded.unpad}': (build_step(
                    'optimised', model_config, padded, vocab_size), held)}
    for groups in GROUPS:  # attention by length groups, other counts
        if groups != train_config.length_groups:
            variants[f'length_groups {groups}'] = (build_step(
                'optimised', model_config,
                train_config.replace(length_groups=groups), vocab_size),
                held)
    return variants


def time_alternately(variants, main_step, train_iter, args, dtype):
    """Warm up, then time one step of each variant in turn, and one of
    `main_step` on the pipeline's batches; the matmul peak every 5 rounds.

    Returns ({variant or 'pipeline': [seconds]}, [peak GFLOP/s]).
    """
    for step, batches in variants.values():
        for i in range(args.warmup):
            float(step(batches[i % len(batches)])['l'])
    pipeline = _endless(train_iter)
    times = {name: [] for name in [*variants, 'pipeline']}
    peaks = []
    for i in range(args.steps):
        for name, (step, batches) in variants.items():
            times[name].append(timed(step, batches[i % len(batches)]))
        times['pipeline'].append(timed(main_step, None, pipeline))
        if i % 5 == 0:  # the matmul peak, under the same conditions
            peaks.append(matmul_peak(dtype))
    return times, peaks


def print_figures(names, times, first, peak, configs, held, vocab_size,
                  rss_data):
    """Print the machine, the config and every figure measured."""
    d, m, t = configs
    num_slots = held[0].pred_positions.shape[1]
    real = statistics.mean(float(tf.reduce_mean(b.mlm_weights))
                           for b in held)
    valid = statistics.mean(float(tf.reduce_mean(b.valid_lens)) / d.max_len
                            for b in held)
    sizes = (d.batch_size, d.max_len, num_slots, vocab_size, m.num_hiddens,
             m.ffn_num_hiddens, m.num_blks)
    executed = {'all': step_flops(*sizes),
                'real': step_flops(*sizes, slot_fraction=real,
                                   token_fraction=valid if t.unpads else 1.0)}
    print(f'machine: {machine.describe()}')
    print(f'TensorFlow {tf.__version__}, Keras {keras.__version__}, '
          f'{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f} '
          f'at the end), threads intra '
          f'{tf.config.threading.get_intra_op_parallelism_threads()} inter '
          f'{tf.config.threading.get_inter_op_parallelism_threads()}')
    print(f'config: batch {d.batch_size}, max_len {d.max_len}, '
          f'{m.num_blks} blocks, hidden {m.num_hiddens}, heads '
          f'{m.num_heads}, ffn {m.ffn_num_hiddens}, vocab {vocab_size}, '
          f'{num_slots} MLM slots ({real:.0%} real), tokens {valid:.0%} '
          f'valid, {t.dtype_policy}, xla {t.jit_compile}, unpad {t.unpads}'
          f', length groups {t.length_groups}')
    print(f'matmul FLOP/step: {executed["all"] / 1e9:.1f} G with all slots '
          f'and the padding (d2l), {executed["real"] / 1e9:.1f} G executed '
          f'by the optimised step; matmul peak {peak:.0f} GFLOP/s '
          f'({_mm_dtype(t.dtype_policy)} 2048^3, this run)')
    for name in names:
        seconds = statistics.median(times[name])
        rate = executed[SLOTS[name]] / seconds / 1e9
        print(f'{name:>10}: {d.batch_size / seconds:7.1f} pairs/sec '
              f'({seconds * 1e3:5.0f} ms/step, median of '
              f'{len(times[name])}); {rate:5.1f} GFLOP/s executed = '
              f'{rate / peak:.0%} of peak')
    if len(names) > 1:
        ref, opt = (statistics.median(times[name]) for name in names)
        print(f'speed-up: {ref / opt:.2f}x')
    print_breakdown(times, statistics.median(times[names[-1]]))
    compile_ = 'XLA compile' if t.jit_compile else 'trace'
    for name in names:
        print(f'first step ({name}): {first[name]:.2f} s ({compile_} + one '
              'step)')
    t_mem = statistics.median(times[names[-1]])
    t_pipe = statistics.median(times['pipeline'])
    print(f'input pipeline: {t_pipe * 1e3:.0f} ms/step on real batches vs '
          f'{t_mem * 1e3:.0f} held in memory: {t_pipe / t_mem - 1:+.1%}')
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'peak RSS {peak_rss:,.0f} MiB (RSS with the data loaded, before '
          f'the model: {rss_data:,.0f} MiB)')


def print_breakdown(times, t_main):
    """What each ablation says the step's parts cost."""
    for name, what in (('forward only', 'forward pass + loss'),
                       ('no MLM slots', 'MLM head + loss cost'),
                       ('no dropout', 'dropout costs')):
        if name in times:
            t = statistics.median(times[name])
            cost = t if name == 'forward only' else t_main - t
            print(f'breakdown: {name:>12} {t * 1e3:5.0f} ms/step -> {what} '
                  f'{cost * 1e3:4.0f} ms ({cost / t_main:.0%} of the step)')
    for name in ('unpad True', 'unpad False'):
        if name in times:
            t = statistics.median(times[name])
            ratio = t / t_main if name == 'unpad False' else t_main / t
            print(f'breakdown: {name:>12} {t * 1e3:5.0f} ms/step -> '
                  f'unpadding makes the step {ratio:.2f}x as fast')
    for groups in GROUPS:
        name = f'length_groups {groups}'
        if name in times:
            t = statistics.median(times[name])
            print(f'breakdown: {name:>12} {t * 1e3:5.0f} ms/step -> '
                  f'{t_main / t:.2f}x as fast as the step')


def timed(step, batch, source=None):
    """Seconds for one step on `batch` (or the next batch of `source`)."""
    start = time.perf_counter()
    float(step(next(source) if source is not None else batch)['l'])
    return time.perf_counter() - start


def _mm_dtype(dtype):
    """The compute dtype of a Keras dtype policy."""
    return {'mixed_bfloat16': 'bfloat16', 'mixed_float16': 'float16'}.get(
        dtype, 'float32')


def matmul_times(a_shape, b_shape, dtype='float32', repeats=5):
    """Seconds of each of `repeats` products [a_shape] x [b_shape] in
    `dtype`, after one untimed."""
    a = tf.cast(tf.random.normal(a_shape), dtype)
    b = tf.cast(tf.random.normal(b_shape), dtype)
    first = (0,) * (len(a_shape) - 1)  # the product's first row
    mm = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)[first]))
    mm(a, b).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        mm(a, b).numpy()
        times.append(time.perf_counter() - start)
    return times


def matmul_peak(dtype, n=2048, repeats=5):
    """GFLOP/s of an n x n x n matmul in the policy's compute dtype."""
    times = matmul_times((n, n), (n, n), _mm_dtype(dtype), repeats)
    return 2 * n ** 3 / min(times) / 1e9


def _endless(dataset):
    """Batches of `dataset` forever, epoch after epoch."""
    while True:
        yield from dataset


if __name__ == '__main__':
    main()
