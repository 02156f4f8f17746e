"""Shared fixtures: WikiText-2, a synthetic corpus, made-up runs, batches."""
import csv
import json
import os
import pathlib

import pytest
from hypothesis import settings

from sandbox import corpus, data
from sandbox.experiment import Experiment
from sandbox.runs import METRIC_COLUMNS

# No per-example deadline: a shared 2-core machine stalls for longer than
# hypothesis' 200 ms now and then, and a slow example is not a failure
settings.register_profile('sandbox', deadline=None)
settings.load_profile('sandbox')

ROOT = pathlib.Path(__file__).resolve().parents[1]
WIKITEXT_DIR = ROOT.parent / 'shared' / 'data' / 'wikitext-2'


# The test files that take longest, longest first (their tests' seconds
# summed from `--durations=45` on the 2-core Intel, 2026-12-05; 180 s for
# test_readme.py down to 21 s for test_pretrain.py). `make test` hands
# whole files to its two workers in collection order
# (--no-loadscope-reorder); starting with these keeps one long file from
# running alone at the end. A stale list costs minutes, never a result.
LONGEST_FILES = ('test_readme.py', 'test_experiment_runner.py',
                 'test_speed_equivalence.py', 'test_distribute.py',
                 'test_resume.py', 'test_notebook.py', 'test_benchmarks.py',
                 'test_pretrain.py')


def pytest_collection_modifyitems(items):
    """Collect the longest test files first, in LONGEST_FILES' order."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope='session')
def wikitext_dir():
    """The shared WikiText-2 directory; required in CI, skipped elsewhere."""
    if not (WIKITEXT_DIR / 'wiki.train.tokens').is_file():
        message = f'WikiText-2 not found at {WIKITEXT_DIR}'
        if os.environ.get('CI'):
            pytest.fail(message)
        pytest.skip(message)
    return WIKITEXT_DIR


@pytest.fixture(scope='session')
def synthetic_dir(tmp_path_factory):
    """A seeded synthetic corpus in WikiText's format."""
    return corpus.write_synthetic_corpus(
        tmp_path_factory.mktemp('synthetic'), num_paragraphs=120, seed=0)


@pytest.fixture(scope='session')
def synthetic(synthetic_dir):
    """The synthetic train split, encoded: (corpus, vocab)."""
    return data.load_corpus(synthetic_dir, verify=False)


@pytest.fixture(scope='session')
def batches(synthetic_dir):
    """Synthetic training batches (32 pairs of 24 tokens, static masks,
    full batches only) and their vocabulary."""
    return data.load_data_wiki(32, 24, synthetic_dir, verify=False,
                               drop_remainder=True)


def fake_run(path, nsp_weight, seed, losses, result=None):
    """A run folder as pretrain writes it, with made-up metrics."""
    path.mkdir(parents=True)
    (path / 'config.json').write_text(json.dumps({
        'data': {'batch_size': 8, 'seed': seed},
        'model': {'num_blks': 2},
        'train': {'nsp_weight': nsp_weight, 'seed': seed}}))
    with open(path / 'metrics.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, METRIC_COLUMNS)
        writer.writeheader()
        for step, l in enumerate(losses, 1):
            row = {'step': step, 'mlm_l': l, 'nsp_l': l / 10,
                   'pairs_per_sec': 100}
            if step % 2 == 0:
                row.update(val_mlm_l=l + 0.5, val_nsp_l=l / 10 + 0.1)
            writer.writerow(row)
    if result:
        (path / 'result.json').write_text(json.dumps(result))
    return path


@pytest.fixture
def fake_runs(tmp_path):
    """Two seeds of nsp_weight 1 and one of nsp_weight 0, made up."""
    return [fake_run(tmp_path / 'a0', 1.0, 0, [9, 8, 7, 6]),
            fake_run(tmp_path / 'a1', 1.0, 1, [9.5, 8.5, 7.5, 6.5]),
            fake_run(tmp_path / 'b0', 0.0, 0, [9, 7, 5, 3])]


def make_experiment(**kwargs):
    """An Experiment named 't' with a small default grid."""
    spec = dict(name='t', question='q?',
                grid={'train.nsp_weight': [1.0, 0.0]})
    spec.update(kwargs)
    return Experiment(**spec)
