"""Shared fixtures: the WikiText-2 directory and small synthetic corpora."""
import os
import pathlib

import pytest

from sandbox import corpus

ROOT = pathlib.Path(__file__).resolve().parents[1]
WIKITEXT_DIR = ROOT.parent / 'shared' / 'data' / 'wikitext-2'


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
