"""Every command the READMEs show runs, at a tiny size, so none of them rots.

Each shell command of a ```bash block must appear in TINY with the flags
that shrink it (flags given later win in argparse). A command added to a
README without an entry here fails the test.
"""
import os
import pathlib
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import ROOT

DOCS = [ROOT / 'README.md', ROOT / 'experiments' / 'README.md',
        ROOT / 'docs' / 'recipe.md']
PRETRAIN_TINY = ['--preset', 'tiny', '--steps', '3', '--batch-size', '16',
                 '--max-len', '24', '--val-every', '0', '--quiet']
# README command -> extra arguments that make it tiny (None: see the test)
TINY = {
    'make run': None,
    'make test': None,
    'python -m sandbox pretrain --recipe d2l --data-dir '
    '../shared/data/wikitext-2': PRETRAIN_TINY,
    'tensorboard --logdir plots/runs': None,
    'python -m sandbox pretrain --help': [],
    'python -m sandbox pretrain --steps 200 --mask-rate 0.4 --no-nsp --set '
    'model.tie_weights=True --data-dir ../shared/data/wikitext-2 --out '
    'plots/runs/tied': PRETRAIN_TINY,
    'python -m sandbox probe RUN_DIR --word bank --context "the river bank" '
    '--context "the bank loan" --fill "the <mask> of the united states"': [],
    'python -m sandbox experiment experiments/nsp.py --quick --data-dir '
    '../shared/data/wikitext-2': [
        '--seeds', '0', '--set', 'preset=tiny', '--set', 'train.num_steps=2',
        '--set', 'data.batch_size=16', '--no-probe',  # probed: runner tests
        '--out', 'plots/_readme_nsp'],
    **{f'TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 python -m '
       f'sandbox experiment experiments/nsp.py --quick --shard {i}/2 '
       f'--data-dir ../shared/data/wikitext-2{tail}': [
           '--seeds', '0', '--set', 'preset=tiny', '--set',
           'train.num_steps=2', '--set', 'data.batch_size=16',
           '--no-probe', '--out', 'plots/_readme_shards']
       for i, tail in ((1, ' &'), (2, ''))},
    'python -m sandbox compare curves plots/recipe/runs/* --smooth 0.6':
        ['--out', 'plots/_readme_curves'],
    'python -m sandbox probe RUN_DIR --suite --data-dir '
    '../shared/data/wikitext-2':
        ['--num-sentences', '20'],
    'python -m sandbox experiment experiments/recipe.py --no-probe '
    '--data-dir ../shared/data/wikitext-2 --out plots/recipe': ['--dry-run'],
    'python -m sandbox compare learning plots/recipe/runs/*seed=0 --out '
    'docs/learning_curves': ['--out', 'plots/_readme_learning'],
}


def readme_commands(path):
    """The shell commands of a Markdown file's ```bash blocks."""
    blocks = re.findall(r'```bash\n(.*?)```', path.read_text(), re.S)
    commands = []
    for block in blocks:
        for line in block.replace('\\\n', ' ').splitlines():
            line = re.sub(r'\s+#.*$', '', line).strip()
            if line and not line.startswith('#'):
                commands.append(' '.join(line.split()))
    return commands


def test_every_readme_command_has_a_tiny_version():
    shown = {c for path in DOCS for c in readme_commands(path)}
    assert shown == set(TINY), (
        f'README commands without a tiny version: {sorted(shown - set(TINY))}'
        f'; tiny versions of commands no longer shown: '
        f'{sorted(set(TINY) - shown)}')


@pytest.fixture(scope='module')
def project(tmp_path_factory, wikitext_dir):
    """A scratch project folder with ../shared beside it, as the READMEs'
    relative paths expect, and a tiny finished run for RUN_DIR."""
    root = tmp_path_factory.mktemp('readme')
    (root / 'shared').symlink_to(ROOT.parent / 'shared')
    project = root / 'main'
    (project / 'plots').mkdir(parents=True)
    (project / 'experiments').symlink_to(ROOT / 'experiments')
    (project / 'plots' / 'recipe').symlink_to(ROOT / 'plots' / 'recipe')
    run_dir = project / 'plots' / 'runs' / 'tiny'
    _run([sys.executable, '-m', 'sandbox', 'pretrain', '--data-dir',
          str(wikitext_dir), '--out', str(run_dir), *PRETRAIN_TINY],
         project)
    return project, run_dir


def _run(argv, cwd, timeout=600, env=None):
    """Run a command; fail with its stderr's end if it fails."""
    env = {**os.environ, 'MPLBACKEND': 'Agg', **(env or {})}
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, env=env)
    assert result.returncode == 0, (argv, result.stderr[-3000:])
    return result


@pytest.mark.parametrize('command', [c for c, extra in TINY.items()
                                     if extra is not None])
def test_readme_command_runs(command, project):
    project, run_dir = project
    argv = shlex.split(command.replace('RUN_DIR', str(run_dir)))
    env = {}  # leading NAME=VALUE words; a trailing & runs it here too
    while re.fullmatch(r'[A-Z_]+=\S*', argv[0]):
        name, _, value = argv.pop(0).partition('=')
        env[name] = value
    argv = [sys.executable if a == 'python' else a for a in argv
            if a != '&']
    if '*' in command:  # the shell expands the glob
        argv = [str(p) for a in argv for p in
                (sorted(project.glob(a)) if '*' in a else [a])]
    _run(argv + TINY[command], project, env=env)


def test_make_run_and_make_test_are_the_two_commands():
    # make run would train for minutes and make test would run this test:
    # check what they execute (the commands tested above)
    run = _run(['make', '-n', 'run'], ROOT).stdout
    assert '-m sandbox pretrain --data-dir ../shared/data/wikitext-2' in run
    assert '-m pytest' in _run(['make', '-n', 'test'], ROOT).stdout
    assert 'make test' in (ROOT / '.ci' / 'run').read_text()


def test_tensorboard_serves_the_runs(project):
    project, run_dir = project
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [str(pathlib.Path(sys.executable).parent / 'tensorboard'),
         '--logdir', 'plots/runs',
         '--host', '127.0.0.1', '--port', str(port)], cwd=project,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, runs = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                        f'http://127.0.0.1:{port}/data/runs', timeout=5) as r:
                    runs = r.read().decode()
                if 'tiny' in runs:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert runs is not None and 'tiny' in runs, runs
    finally:
        server.terminate()
        server.wait(timeout=30)

