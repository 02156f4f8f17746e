"""The encoder's elementwise ops alone: GELU and LayerNorm, forward and
backward, as the step runs them and fused by XLA.

About 40% of a step is not matmuls (BENCHMARKS.md). This times the
elementwise ops of every block at the `default` recipe's unpadded shape
(batch 128 x 64 tokens x 72% valid), each variant alternating with the
others in one process, and checks each variant's gradient against
Keras's:

- GELU: Keras's exact (erf) GELU with autodiff (the step before
  `layers.gelu`); `layers.gelu`, its hand-written gradient (the step
  now); and that gradient with its forward and backward each one XLA
  cluster;
- the residual add and `layers.LayerNorm`, as a post-LN block runs them.

XLA compiles once per shape; the unpadded step's token count changes
every batch, so the XLA row is a bound for a step that would pad its
tokens to a few fixed sizes, not a step one can run as is.

    python benchmarks/elementwise.py
"""
import argparse
import statistics
import time

import keras
import tensorflow as tf

from sandbox import layers, machine


def xla_gelu():
    """layers.gelu with its forward and its backward each one XLA cluster."""
    @tf.function(jit_compile=True)
    def forward(x):
        cdf = layers.normal_cdf(x)
        return x * cdf, cdf

    backward = tf.function(layers.gelu_grad, jit_compile=True)

    @tf.custom_gradient
    def gelu(x):
        y, cdf = forward(x)
        return y, lambda dy: backward(x, cdf, dy)
    return gelu


def gradient_step(fn):
    """A tf.function: the gradients of fn(*inputs) for output gradient dy."""

    @tf.function
    def step(inputs, dy):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = fn(*inputs)
        return tape.gradient(y, inputs, output_gradients=dy)
    return step


def residual_norm(x, residual, gamma, beta):
    """LayerNorm(x + residual), as a post-LN block's AddNorm."""
    return layers._layer_norm(x + residual, gamma, beta, 1e-5)


def variants(tokens, hidden, ffn):
    """{name: (step, inputs, output gradient, reference name)}."""
    x, dy = tf.random.normal((tokens, ffn)), tf.random.normal((tokens, ffn))
    h = [tf.random.normal((tokens, hidden)), tf.random.normal((tokens, hidden)),
         1 + 0.1 * tf.random.normal((hidden,)), tf.random.normal((hidden,))]
    dh = tf.random.normal((tokens, hidden))
    keras_gelu = 'GELU, Keras (autodiff)'
    return {
        keras_gelu: (gradient_step(
            lambda x: keras.activations.gelu(x, approximate=False)),
            [x], dy, None),
        'GELU, layers.gelu': (gradient_step(layers.gelu), [x], dy,
                              keras_gelu),
        'GELU, layers.gelu, XLA': (gradient_step(xla_gelu()), [x], dy,
                                   keras_gelu),
        'add + LayerNorm, layers.LayerNorm': (gradient_step(residual_norm),
                                              h, dh, None),
    }


def largest_difference(grads, others):
    """The largest absolute difference between two lists of gradients."""
    return max(float(tf.reduce_max(tf.abs(a - b)))
               for a, b in zip(grads, others))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--tokens', type=int, default=round(128 * 64 * 0.72),
                   help='rows: the unpadded tokens of a batch')
    p.add_argument('--hidden', type=int, default=128)
    p.add_argument('--ffn', type=int, default=256)
    p.add_argument('--rounds', type=int, default=30)
    args = p.parse_args(argv)
    runs = variants(args.tokens, args.hidden, args.ffn)
    grads = {name: step(inputs, dy)
             for name, (step, inputs, dy, _) in runs.items()}  # + tracing
    times = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, (step, inputs, dy, _) in runs.items():
            start = time.perf_counter()
            [g.numpy() for g in step(inputs, dy)]
            times[name].append(time.perf_counter() - start)
    print(f'machine: {machine.describe()} (TensorFlow {tf.__version__})')
    print(f'{args.tokens} tokens, hidden {args.hidden}, ffn {args.ffn}; '
          f'forward + backward, median of {args.rounds} alternating rounds')
    for name, (*_, ref) in runs.items():
        diff = '' if ref is None else (', largest gradient difference '
                                       f'{largest_difference(grads[name], grads[ref]):.1e}')
        print(f'  {name:36s} {1e3 * statistics.median(times[name]):6.2f} '
              f'ms{diff}')


if __name__ == '__main__':
    main()
