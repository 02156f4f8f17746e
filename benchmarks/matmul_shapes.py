"""A train step's matmuls by shape, and how fast each shape runs alone.

The matmul peak is a 2048^3 product's. At d2l's sizes most of a step's
matmuls have an inner or outer dimension of 128-256, where a CPU's matmul
library runs below that peak. Timing each of the step's shapes alone, in
one process with the peak, gives the step's ceiling: the share of the
peak that its executed matmuls reach even with nothing else in the step.

    python benchmarks/matmul_shapes.py            # d2l's config
    python benchmarks/matmul_shapes.py --batch-size 128 --valid 0.72
"""
import argparse
import statistics
from typing import NamedTuple

import tensorflow as tf


class Matmul(NamedTuple):
    """`count` products [batch, m, k] x [batch, k, n]."""
    batch: int
    m: int
    k: int
    n: int
    count: int

    @property
    def flops(self):
        """Multiply-adds of all `count` products, times 2."""
        return 2 * self.batch * self.m * self.k * self.n * self.count


def forward_matmuls(batch_size, max_len, num_slots, vocab_size, hidden, ffn,
                    blocks, heads, slot_fraction=1.0, token_fraction=1.0):
    """The forward pass's matmuls, as `step_flops` counts them."""
    T, H = max_len, hidden
    tokens = round(batch_size * T * token_fraction)
    slots = round(batch_size * num_slots * slot_fraction)
    return [Matmul(1, tokens, H, H, 4 * blocks),   # Q, K, V and output
            Matmul(1, tokens, H, ffn, blocks),     # FFN in
            Matmul(1, tokens, ffn, H, blocks),     # FFN out
            Matmul(batch_size * heads, T, H // heads, T, blocks),  # QK^T
            Matmul(batch_size * heads, T, T, H // heads, blocks),  # AV
            Matmul(1, slots, H, H, 1),             # MLM hidden
            Matmul(1, slots, H, vocab_size, 1),    # MLM decoder
            Matmul(1, batch_size, H, H, 1),        # pooler
            Matmul(1, batch_size, H, 2, 1)]        # NSP


def step_matmuls(*args, **kwargs):
    """Forward matmuls and both gradients of each: dX = dY W^T, dW = X^T dY."""
    out = []
    for f in forward_matmuls(*args, **kwargs):
        out += [f, f._replace(k=f.n, n=f.k), f._replace(m=f.k, k=f.m)]
    return out


def seconds_alone(mm, dtype=tf.float32, repeats=10):
    """Median seconds of one product of `mm`'s shape, timed alone."""
    from train_step import matmul_times  # the sibling benchmark's
    return statistics.median(matmul_times(
        (mm.batch, mm.m, mm.k), (mm.batch, mm.k, mm.n), dtype, repeats))


def ceiling(matmuls, dtype=tf.float32):
    """(seconds, rows) of the matmuls timed alone, one row per shape."""
    rows = [(mm, seconds_alone(mm, dtype) * mm.count) for mm in matmuls]
    return sum(s for _, s in rows), rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--batch-size', type=int, default=512)
    p.add_argument('--max-len', type=int, default=64)
    p.add_argument('--slots', type=int, default=10,
                   help='MLM prediction slots per pair')
    p.add_argument('--vocab', type=int, default=20256)
    p.add_argument('--hidden', type=int, default=128)
    p.add_argument('--ffn', type=int, default=256)
    p.add_argument('--blocks', type=int, default=2)
    p.add_argument('--heads', type=int, default=2)
    p.add_argument('--valid', type=float, default=1.0,
                   help='share of tokens the step computes (unpadding)')
    p.add_argument('--real-slots', type=float, default=1.0,
                   help='share of MLM slots the step computes')
    args = p.parse_args(argv)
    from sandbox import machine
    from train_step import matmul_peak  # the sibling benchmark's
    matmuls = step_matmuls(args.batch_size, args.max_len, args.slots,
                           args.vocab, args.hidden, args.ffn, args.blocks,
                           args.heads, args.real_slots, args.valid)
    peak = matmul_peak('float32')
    seconds, rows = ceiling(matmuls)
    print(f'machine: {machine.describe()}; float32 2048^3 matmul peak '
          f'{peak:.0f} GFLOP/s (TensorFlow {tf.__version__})')
    print('   batch x     m x     k x     n  count   ms   GFLOP/s  of peak')
    for mm, s in rows:
        rate = mm.flops / s / 1e9
        print(f'{mm.batch:>8} x {mm.m:>5} x {mm.k:>5} x {mm.n:>5} '
              f'{mm.count:>6} {s * 1e3:5.1f} {rate:8.0f} {rate / peak:8.0%}')
    flops = sum(mm.flops for mm in matmuls)
    rate = flops / seconds / 1e9
    print(f'ceiling: {flops / 1e9:.1f} GFLOP of matmuls take {seconds * 1e3:.0f}'
          f' ms alone: {rate:.0f} GFLOP/s = {rate / peak:.0%} of the peak, '
          f'the most a step of these shapes can reach')


if __name__ == '__main__':
    main()
