"""Compare the loss curves of dtype policies over the same training run.

Trains d2l's BERT on WikiText-2 once per policy with train_bert, from the
same seed and batches, and prints how far each curve is from the first
(float32's): the largest relative gap of the 10-step moving averages of
the total loss, and the mean of the last 20 steps.

    python benchmarks/loss_curve.py --data-dir ../shared/data/wikitext-2 \\
        --steps 200 --dtypes float32 mixed_bfloat16
"""
import argparse
import os
import statistics
import sys


def moving_average(xs, n=10):
    """Means of the last `n` values (fewer at the start)."""
    return [statistics.fmean(xs[max(0, i - n + 1):i + 1])
            for i in range(len(xs))]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data-dir', default=None)
    p.add_argument('--steps', type=int, default=200)
    p.add_argument('--dtypes', nargs='+',
                   default=['float32', 'mixed_bfloat16'])
    p.add_argument('--xla', action='store_true')
    p.add_argument('--csv', default=None, help='write the curves here')
    args = p.parse_args(argv)
    from sandbox import machine
    print(f'machine: {machine.describe()}')
    from sandbox import data
    from sandbox.config import ModelConfig, TrainConfig
    from sandbox.pretrain import build_model
    from sandbox.train import train_bert

    train_iter, vocab = data.load_data_wiki(512, 64, args.data_dir,
                                            drop_remainder=True)
    curves = {}
    for dtype in args.dtypes:
        config = TrainConfig(num_steps=args.steps, dtype_policy=dtype,
                             jit_compile=args.xla)
        net = build_model(ModelConfig(), len(vocab), config)
        history = train_bert(train_iter, net, len(vocab), config=config,
                             verbose=False)
        curves[dtype] = history
        rate = statistics.median(r['pairs_per_sec'] for r in history[1:])
        print(f'{dtype}: loss {history[0]["l"]:.3f} -> '
              f'{statistics.fmean(r["l"] for r in history[-20:]):.3f} '
              f'(mean of the last 20 steps), {rate:.0f} pairs/sec')
    base = args.dtypes[0]
    smooth = {d: moving_average([r['l'] for r in h])
              for d, h in curves.items()}
    for dtype in args.dtypes[1:]:
        gaps = [abs(a - b) / b for a, b in
                zip(smooth[dtype][9:], smooth[base][9:])]
        last = [statistics.fmean(r['l'] for r in curves[d][-20:])
                for d in (dtype, base)]
        print(f'{dtype} vs {base}: 10-step moving averages of the loss '
              f'differ by at most {max(gaps):.2%} (step '
              f'{gaps.index(max(gaps)) + 10}), by {gaps[-1]:.2%} at the end;'
              f' last-20-step means {last[0]:.3f} vs {last[1]:.3f} '
              f'({last[0] / last[1] - 1:+.2%})')
    if args.csv:
        with open(args.csv, 'w') as f:
            f.write('step,' + ','.join(args.dtypes) + '\n')
            for i in range(args.steps):
                f.write(f'{i + 1},' + ','.join(
                    f'{curves[d][i]["l"]:.5f}' for d in args.dtypes) + '\n')


if __name__ == '__main__':
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
    main()
