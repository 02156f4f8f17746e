"""Tests of locating, downloading, verifying and reading WikiText-2."""
import functools
import http.server
import shutil
import threading

import numpy as np
import pytest

from sandbox import corpus, data
from tests import d2l_reference


@pytest.fixture(scope='module')
def wiki_train(wikitext_dir):
    """WikiText-2 train, encoded, with its vocabulary."""
    paragraphs = corpus.read_paragraphs(wikitext_dir, 'train')
    return paragraphs, *data.encode_corpus(paragraphs)


def test_wikitext_figures(wiki_train):
    paragraphs, enc, vocab = wiki_train
    assert len(paragraphs) == 15_496
    assert len(enc.sentence_lens) == 74_631
    assert len(vocab) == 20_256
    assert enc.paragraph_lens.sum() == 74_631


def test_encoding_matches_d2l_reading(wiki_train, wikitext_dir):
    _, enc, vocab = wiki_train
    reference = d2l_reference.read_wiki(wikitext_dir / 'wiki.train.tokens')
    sentences = [s for p in reference for s in p]
    assert enc.paragraph_lens.tolist() == [len(p) for p in reference]
    assert enc.sentence_lens.tolist() == [len(s) for s in sentences]
    expected = [vocab[w] for s in sentences for w in s]
    np.testing.assert_array_equal(enc.ids, expected)
    # The vocabulary is d2l's: words with >= 5 occurrences, counted exactly
    counts = dict(vocab.token_freqs)
    assert counts['the'] == sum(s.count('the') for s in sentences)


def test_valid_split_reads_with_train_vocab(wiki_train, wikitext_dir):
    _, _, vocab = wiki_train
    paragraphs = corpus.read_paragraphs(wikitext_dir, 'valid')
    enc, same = data.encode_corpus(paragraphs, vocab)
    assert same is vocab
    reference = d2l_reference.read_wiki(wikitext_dir / 'wiki.valid.tokens')
    expected = [vocab[w] for p in reference for s in p for w in s]
    np.testing.assert_array_equal(enc.ids, expected)


def test_synthetic_corpus_is_seeded(tmp_path):
    a = corpus.write_synthetic_corpus(tmp_path / 'a', seed=3)
    b = corpus.write_synthetic_corpus(tmp_path / 'b', seed=3)
    c = corpus.write_synthetic_corpus(tmp_path / 'c', seed=4)
    for name in corpus.FILES.values():
        assert (a / name).read_text() == (b / name).read_text()
    assert (a / 'wiki.train.tokens').read_text() != \
        (c / 'wiki.train.tokens').read_text()
    paragraphs = corpus.read_paragraphs(a, verify=False)
    assert len(paragraphs) == 200
    assert paragraphs == [p.strip() for p in paragraphs]


@pytest.mark.parametrize('split', corpus.SPLITS)
def test_official_files_verify(wikitext_dir, split):
    assert corpus.sha1sum(wikitext_dir / corpus.FILES[split]) == \
        corpus.SHA1[split]


def test_missing_directory_names_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match='data_dir.*nowhere'):
        corpus.find_data_dir(tmp_path / 'nowhere')


def test_missing_env_directory_names_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(corpus.ENV_DIR, str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match=corpus.ENV_DIR):
        corpus.find_data_dir()


def test_env_directory_is_used(synthetic_dir, monkeypatch):
    monkeypatch.setenv(corpus.ENV_DIR, str(synthetic_dir))
    assert corpus.find_data_dir() == synthetic_dir


def test_nothing_found_without_download(tmp_path, monkeypatch):
    monkeypatch.delenv(corpus.ENV_DIR, raising=False)
    monkeypatch.setenv(corpus.ENV_CACHE, str(tmp_path))
    with pytest.raises(FileNotFoundError, match='none cached'):
        corpus.find_data_dir(download_missing=False)


def test_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='wiki.valid.tokens'):
        corpus.read_paragraphs(tmp_path, 'valid', verify=False)


def test_unknown_split_names_argument(synthetic_dir):
    with pytest.raises(ValueError, match='split must be one of'):
        corpus.read_paragraphs(synthetic_dir, 'dev', verify=False)


def test_wrong_checksum_is_refused(synthetic_dir):
    with pytest.raises(corpus.CorpusError, match='sha1.*wiki.train.tokens|'
                       'wiki.train.tokens.*sha1'):
        corpus.read_paragraphs(synthetic_dir, 'train', verify=True)


def test_truncated_official_file_is_refused(wikitext_dir, tmp_path):
    path = tmp_path / 'wiki.train.tokens'
    path.write_bytes((wikitext_dir / 'wiki.train.tokens').read_bytes()[:-100])
    with pytest.raises(corpus.CorpusError, match='corrupt or truncated'):
        corpus.read_paragraphs(tmp_path, 'train')


@pytest.mark.parametrize('text, message', [
    ('', 'is empty'),
    ('  \n \n', 'is empty'),
    (' = Heading = \n one sentence only .\n', 'no paragraph of two'),
])
def test_unusable_corpus_is_refused(tmp_path, text, message):
    (tmp_path / 'wiki.train.tokens').write_text(text)
    with pytest.raises(corpus.CorpusError, match=message):
        corpus.read_paragraphs(tmp_path, verify=False)


def test_binary_corpus_is_refused(tmp_path):
    (tmp_path / 'wiki.train.tokens').write_bytes(b'\xff\xfe\x00 . \x80\n')
    with pytest.raises(corpus.CorpusError, match='not UTF-8'):
        corpus.read_paragraphs(tmp_path, verify=False)


class _Mirror:
    """A loopback HTTP server with mirror file names for a directory."""

    def __init__(self, directory):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                    directory=str(directory))
        handler.log_message = lambda *args: None
        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      handler)
        self.url = f'http://127.0.0.1:{self.server.server_port}/'
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _mirror_layout(source, target):
    """Copy `source`'s corpus files under the mirror's names into `target`."""
    target.mkdir()
    for split in corpus.SPLITS:
        shutil.copy(source / corpus.FILES[split],
                    target / corpus.MIRROR_NAMES[split])
    return target


def test_download_verifies_and_caches(wikitext_dir, tmp_path, monkeypatch):
    mirror = _Mirror(_mirror_layout(wikitext_dir, tmp_path / 'mirror'))
    monkeypatch.delenv(corpus.ENV_DIR, raising=False)
    monkeypatch.setenv(corpus.ENV_CACHE, str(tmp_path / 'cache'))
    monkeypatch.setenv(corpus.ENV_MIRROR, mirror.url)
    try:
        found = corpus.find_data_dir()
    finally:
        mirror.close()
    assert found == tmp_path / 'cache' / 'wikitext-2'
    assert sorted(p.name for p in found.iterdir()) == sorted(
        corpus.FILES.values())
    for split in corpus.SPLITS:
        assert corpus.sha1sum(found / corpus.FILES[split]) == \
            corpus.SHA1[split]
    # Now cached: found again with no mirror at all
    monkeypatch.setenv(corpus.ENV_MIRROR, 'http://127.0.0.1:9/')
    assert corpus.find_data_dir() == found


def test_bad_download_leaves_nothing(synthetic_dir, tmp_path):
    mirror = _Mirror(_mirror_layout(synthetic_dir, tmp_path / 'mirror'))
    try:
        with pytest.raises(corpus.CorpusError, match='sha1'):
            corpus.download(tmp_path / 'cache', mirror=mirror.url)
    finally:
        mirror.close()
    assert list((tmp_path / 'cache').iterdir()) == []


def test_unreachable_mirror_names_url(tmp_path):
    with pytest.raises(corpus.CorpusError, match='127.0.0.1:9'):
        corpus.download(tmp_path / 'cache', mirror='http://127.0.0.1:9/')
    assert list((tmp_path / 'cache').iterdir()) == []
