"""Time to signal: wall time until validation MLM accuracy reaches a target.

Trains the `default` recipe (or --recipe) on WikiText-2, validating on the
fixed validation set every --val-every steps, and prints the machine (CPU,
instruction sets, float32 matmul peak), the training speed and the wall
time at which validation MLM accuracy first reached --target (0.20: about
2.7x the unigram baseline's 0.074): the wall time from the start (data
loading, model building, tracing and the validation checks included) and
the time of the training steps alone. It stops there (--whole-run: at
the recipe's last step; the schedule is the recipe's either way).
--seeds runs once per seed (data order and initialisation) and ends with
the spread over the seeds: the crossing moves with the seed.

    python benchmarks/time_to_signal.py --data-dir ../shared/data/wikitext-2
"""
import argparse
import time


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data-dir', default=None)
    p.add_argument('--recipe', default='default')
    p.add_argument('--target', type=float, default=0.20)
    p.add_argument('--val-every', type=int, default=100)
    p.add_argument('--set', action='append', default=[],
                   metavar='SECTION.FIELD=VALUE')
    p.add_argument('--whole-run', action='store_true',
                   help='train all the steps, not only until the target')
    p.add_argument('--seeds', type=int, nargs='+', default=None,
                   help='one run per seed (data.seed and train.seed)')
    args = p.parse_args(argv)
    import tensorflow as tf

    from sandbox import machine
    from sandbox.config import parse_settings
    from train_step import matmul_peak  # the sibling benchmark's
    print(f'machine: {machine.describe()}; float32 2048^3 matmul peak '
          f'{matmul_peak("float32"):.0f} GFLOP/s (TensorFlow '
          f'{tf.__version__})')
    settings = {'train.val_every': args.val_every,
                'train.checkpoint_every': 0, **parse_settings(args.set)}
    crossings = []
    for seed in args.seeds or [None]:
        if seed is not None:
            print(f'seed {seed}:')
            settings.update({'data.seed': seed, 'train.seed': seed})
        crossings.append(time_to_signal(settings, args))
    if args.seeds:
        print(spread(args.seeds, crossings, args.target))


def time_to_signal(settings, args):
    """Train one run of the recipe under `settings`, print its report and
    return report's crossing."""
    from sandbox import data
    from sandbox.config import configs_from_settings
    from sandbox.pretrain import build_model
    from sandbox.train import train_bert
    c = configs_from_settings(settings, recipe=args.recipe)
    # from here: data, model, tracing, steps, checks
    stamps = Stamps(None if args.whole_run else args.target)
    train_iter, vocab = data.load_data_wiki(
        c.data.batch_size, c.data.max_len, args.data_dir, config=c.data,
        drop_remainder=True)
    val_iter = data.load_validation(vocab, args.data_dir)
    net = build_model(c.model, len(vocab), c.train)
    try:
        train_bert(train_iter, net, len(vocab), config=c.train,
                   val_iter=val_iter, callbacks=[stamps], verbose=False)
    except Reached:
        pass
    return report(stamps.rows, c, stamps, args.target)


class Reached(Exception):
    """Validation accuracy reached the target: the run can stop."""


class Stamps:
    """A callback: each step's row and the wall time since its creation;
    it stops the run (Reached) once validation accuracy reaches target."""

    def __init__(self, target=None):
        self.start, self.at, self.rows = time.perf_counter(), {}, []
        self.target = target

    def on_step(self, step, row):
        self.at[step] = time.perf_counter() - self.start
        self.rows.append(row)
        if self.target is not None and row.get(
                'val_mlm_acc', 0) >= self.target:
            raise Reached

    def on_end(self, history):
        pass


def report(history, configs, stamps, target):
    """Print the speed and when validation accuracy first reached target;
    return (step, minutes of steps, minutes of wall time), None if never."""
    from sandbox.plots import elapsed_seconds
    batch = configs.data.batch_size
    reached = None
    for row, seconds in zip(history, elapsed_seconds(history, batch)):
        acc = row.get('val_mlm_acc')
        if reached is None and acc is not None and acc >= target:
            reached = (row['step'], seconds, acc)
    # the first step traces: left out unless it is the only one
    rates = sorted(row['pairs_per_sec'] for row in history[1:] or history)
    last = history[-1]['step']
    print(f'recipe: {configs.train.num_steps} steps of {batch} pairs, '
          f'lr {configs.train.lr:g}; median {rates[len(rates) // 2]:.0f} '
          f'pairs/s; {last} steps run, {stamps.at[last] / 60:.1f} min wall')
    if reached is None:
        final = history[-1].get('val_mlm_acc')
        print(f'validation MLM accuracy never reached {target} (final '
              f'{final:.3f})')
        return None
    step, seconds, acc = reached
    print(f'time to signal: validation MLM accuracy {acc:.3f} >= {target} '
          f'at step {step} ({step * batch / 1e3:.0f}k pairs): '
          f'{stamps.at[step] / 60:.1f} min wall from the start (data, '
          f'model, checks included), {seconds / 60:.1f} min of steps')
    before, checks, count = wall_parts(history, stamps.at, batch, step)
    print(f'the rest of the wall time: {before:.0f} s before the first '
          f'step (data, model), {checks:.0f} s in {count} validation checks')
    return step, seconds / 60, stamps.at[step] / 60


def spread(seeds, crossings, target):
    """One line: each seed's crossing step and the medians over seeds."""
    import statistics
    reached = [c for c in crossings if c is not None]
    steps = ', '.join('never' if c is None else f'{c[0]:,}'
                      for c in crossings)
    plural = 's' if len(seeds) > 1 else ''
    line = (f'over {len(seeds)} seed{plural} ({", ".join(map(str, seeds))})'
            f', validation accuracy first >= {target} at step: {steps}')
    if reached:
        line += ('; median {:.1f} min of steps ({:.1f}-{:.1f}), {:.1f} min '
                 'wall ({:.1f}-{:.1f})').format(*(
                     f(c[i] for c in reached) for i in (1, 2)
                     for f in (statistics.median, min, max)))
    return line


def wall_parts(history, at, batch, upto):
    """(seconds before the first step, seconds in validation checks, the
    checks) of the wall time to step `upto`; at: {step: wall seconds}.

    A step's row follows its check, so the wall time between a checked
    step's row and the row before, less the step's own time, is the
    check's (a check at the first step counts as before it)."""
    import numpy as np
    from sandbox.plots import elapsed_seconds
    rows = [r for r in history if r['step'] <= upto]
    own = np.diff(elapsed_seconds(rows, batch), prepend=0.0)  # (steps,)
    gaps = np.diff([at[r['step']] for r in rows], prepend=0.0)  # (steps,)
    checked = ['val_mlm_acc' in r for r in rows[1:]]
    checks = sum(g - o for g, o, c in zip(gaps[1:], own[1:], checked) if c)
    return gaps[0] - own[0], checks, sum(checked)


if __name__ == '__main__':
    main()
