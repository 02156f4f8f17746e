"""Steps of an equal time budget: each arm's, timed side by side.

For an experiment whose arms should train for equal time (depth_width),
builds every group's model and training step at standard size, times them
alternately, one step each in turn (the order reversed every other round),
on the same WikiText-2 batches, and prints each group's median step time
and the steps it takes in the time the baseline group needs for its own
steps (the recipe's 1,800): the experiment's STEPS, ready to paste, with
the machine line and the float32 matmul peak they were measured on.
Timed in one process, the ratios hold on a machine whose speed drifts.

    python benchmarks/budget_steps.py experiments/depth_width.py \
        --data-dir ../shared/data/wikitext-2
"""
import argparse
import statistics
import sys

import tensorflow as tf

from sandbox import data, machine
from sandbox.experiment.spec import load_experiment
from train_step import build_step, matmul_peak, timed  # the sibling's


def parse_args(argv=None):
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('experiment', help='an experiment file')
    p.add_argument('--data-dir', default=None)
    p.add_argument('--rounds', type=int, default=20,
                   help='timed steps of each group')
    p.add_argument('--warmup', type=int, default=3,
                   help='untimed steps of each group after the first')
    p.add_argument('--baseline-steps', type=int, default=None,
                   help='the budget, in steps of the baseline group '
                   '(default: its train.num_steps)')
    args = p.parse_args(argv)
    for flag in ('rounds', 'warmup', 'baseline_steps'):
        value = getattr(args, flag)
        if value is not None and value < 1:
            p.error(f'--{flag.replace("_", "-")} must be at least 1')
    return args


def group_configs(experiment):
    """{group label: Configs} at standard size (seed 0), the baseline's
    first; all groups must share one data config (the same batches)."""
    runs = experiment.runs(seeds=[0])
    groups = experiment.baseline_first({r.label: r.configs for r in runs})
    if len({c.data for c in groups.values()}) != 1:
        sys.exit(f'error: the groups of {experiment.name} differ in their '
                 'data settings; their steps cannot be timed on one batch')
    return groups


def time_groups(groups, batches, vocab_size, rounds, warmup):
    """{label: [seconds]}: `rounds` steps of each group, one each in turn."""
    steps = {}
    for label, c in groups.items():
        steps[label] = build_step('optimised', c.model, c.train, vocab_size)
        for i in range(1 + warmup):  # tracing, then warm-up
            timed(steps[label], batches[i % len(batches)])
    times = {label: [] for label in groups}
    order = list(groups)
    for i in range(rounds):
        for label in (order if i % 2 == 0 else order[::-1]):
            times[label].append(timed(steps[label], batches[i % len(batches)]))
    return times


def budget_steps(seconds, base_label, base_steps):
    """{label: steps} taking the time of base_steps of the base group."""
    budget = base_steps * seconds[base_label]
    return {label: round(budget / s) for label, s in seconds.items()}


def main(argv=None):
    """Time the groups, print the steps of an equal budget."""
    args = parse_args(argv)
    try:
        experiment = load_experiment(args.experiment)
    except (OSError, ValueError) as e:
        sys.exit(f'error: experiment: {e}')
    groups = group_configs(experiment)
    d = next(iter(groups.values())).data
    train_iter, vocab = data.load_data_wiki(
        d.batch_size, d.max_len, args.data_dir, config=d,
        drop_remainder=True)
    it = iter(train_iter)
    batches = [next(it) for _ in range(8)]  # the same for every group
    peak_before = matmul_peak('float32')
    times = time_groups(groups, batches, len(vocab), args.rounds,
                        args.warmup)
    peak_after = matmul_peak('float32')
    seconds = {label: statistics.median(t) for label, t in times.items()}
    base = experiment.baseline_label
    base_steps = args.baseline_steps or groups[base].train.num_steps
    steps = budget_steps(seconds, base, base_steps)
    print(f'machine: {machine.describe()}; float32 2048^3 matmul peak '
          f'{peak_before:.0f} GFLOP/s before, {peak_after:.0f} after '
          f'(TensorFlow {tf.__version__})')
    print(f'{experiment.name}: {len(groups)} groups, batches of '
          f'{d.batch_size} pairs, median of {args.rounds} steps each, '
          f'alternating; budget: {base_steps} steps of {base} = '
          f'{base_steps * seconds[base] / 60:.1f} min here')
    print('STEPS = {')
    for label, n in steps.items():
        spread = (min(times[label]) * 1e3, max(times[label]) * 1e3)
        print(f'    {label!r}: {n},  # {seconds[label] * 1e3:.0f} ms/step '
              f'({spread[0]:.0f}-{spread[1]:.0f})')
    print('}')


if __name__ == '__main__':
    main()
