"""d2l's PyTorch step against ours, alternating in separate processes.

Runs `d2l_torch_step.py` (with --torch-python, an interpreter that has
PyTorch) and `train_step.py` in turn at d2l's config for --rounds rounds,
their order reversed every other round, and prints each round's pairs/s,
both libraries' float32 matmul peaks and the ratio within the round, then
BENCHMARKS.md's first table's row: medians with their ranges. The
environment passes through, so an instruction-set cap applies to both:

    python benchmarks/versus_d2l.py --torch-python ../torchenv/bin/python \\
        --data-dir ../shared/data/wikitext-2
    ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        ATEN_CPU_CAPABILITY=avx2 python benchmarks/versus_d2l.py ...
"""
import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys

from sandbox import machine  # no TensorFlow

HERE = pathlib.Path(__file__).resolve().parent
# What each script prints: its pairs/s, and its 2048^3 matmul peak
PATTERNS = {
    'd2l': {'pairs': r'^pairs/sec ([\d.]+)',
            'peak': r'matmul peak ([\d.]+) GFLOP/s'},
    'ours': {'pairs': r'optimised:\s+([\d.]+) pairs/sec',
             'peak': r'matmul peak ([\d.]+) GFLOP/s',
             'of_peak': r'optimised:.*= (\d+)% of peak'},
}


def parse(name, output):
    """The figures PATTERNS[name] finds in a script's output, as floats."""
    found = {}
    for key, pattern in PATTERNS[name].items():
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f'{name}: no {key!r} in its output')
        found[key] = float(match.group(1))
    return found


def commands(args):
    """The two scripts' command lines, by name."""
    steps = ['--steps', str(args.steps), '--warmup', str(args.warmup)]
    data = ['--data-dir', args.data_dir] if args.data_dir else []
    return {'d2l': [args.torch_python, str(HERE / 'd2l_torch_step.py'),
                    *steps],
            'ours': [sys.executable, str(HERE / 'train_step.py'), *steps,
                     *data]}


def run(cmd):
    """A script's standard output; one line naming it if it fails."""
    root = str(HERE.parent)  # d2l_torch_step imports sandbox.machine
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(
        filter(None, [root, os.environ.get('PYTHONPATH')]))}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ['(no output)'])[-1]
        raise RuntimeError(f'{pathlib.Path(cmd[1]).name} failed: {last}')
    return done.stdout


def rounds(cmds, n, runner=run):
    """n rounds of both scripts' figures, the order reversed every other."""
    out = []
    for i in range(n):
        order = ['d2l', 'ours'] if i % 2 == 0 else ['ours', 'd2l']
        out.append({name: parse(name, _output(name, cmds[name], runner))
                    for name in order})
    return out


def _output(name, cmd, runner):
    """runner(cmd), its failure naming the flag that may mend it."""
    try:
        return runner(cmd)
    except RuntimeError as e:
        if name == 'd2l':
            raise RuntimeError(f'{e} (--torch-python {cmd[0]} must import '
                               'torch)') from None
        raise


def spread(values):
    """'median (low–high)' of values, rounded."""
    return (f'{statistics.median(values):.0f} '
            f'({min(values):.0f}–{max(values):.0f})')


def table_row(results, label):
    """BENCHMARKS.md's first table's row for these rounds."""
    d2l = [r['d2l']['pairs'] for r in results]
    ours = [r['ours']['pairs'] for r in results]
    ratios = [o / d for o, d in zip(ours, d2l)]
    peaks = [r['ours']['peak'] for r in results]
    torch_peaks = [r['d2l']['peak'] for r in results]
    of_peak = [r['ours']['of_peak'] for r in results]
    n = len(results)
    return (f'| {label} ({n} round{"s" * (n > 1)}) | {min(peaks):.0f}–'
            f'{max(peaks):.0f} (torch\'s: {min(torch_peaks):.0f}–'
            f'{max(torch_peaks):.0f}) | {spread(d2l)} | {spread(ours)} | '
            f'**{statistics.median(ratios):.2f}x** ({min(ratios):.2f}–'
            f'{max(ratios):.2f}) | {min(of_peak):.0f}–{max(of_peak):.0f}% |')


def main(argv=None, runner=run):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--torch-python', default=sys.executable,
                   help='a Python interpreter that can import torch')
    p.add_argument('--data-dir', default=None)
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--warmup', type=int, default=3)
    args = p.parse_args(argv)
    for flag in ('rounds', 'steps'):
        if getattr(args, flag) < 1:
            p.error(f'--{flag} must be at least 1')
    label = machine.describe()
    print(f'machine: {label}')
    try:
        results = rounds(commands(args), args.rounds, runner)
    except (RuntimeError, ValueError) as e:
        sys.exit(f'versus_d2l: {e}')
    for i, r in enumerate(results, 1):
        d, o = r['d2l'], r['ours']
        print(f'round {i}: d2l {d["pairs"]:.1f} pairs/s (torch peak '
              f'{d["peak"]:.0f} GFLOP/s), ours {o["pairs"]:.1f} (peak '
              f'{o["peak"]:.0f}, {o["of_peak"]:.0f}% of it): '
              f'{o["pairs"] / d["pairs"]:.2f}x')
    print('| machine (2 cores each) | f32 matmul peak | d2l\'s PyTorch | '
          'ours | ours ÷ d2l | ours, % of peak |')
    print(table_row(results, label))


if __name__ == '__main__':
    main()
