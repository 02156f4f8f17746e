"""Locate, download, verify and read the WikiText-2 corpus."""
import hashlib
import os
import pathlib
import tempfile
import urllib.request

import numpy as np

SPLITS = ('train', 'valid', 'test')
FILES = {split: f'wiki.{split}.tokens' for split in SPLITS}
# sha1 of the official tokenized release (v1), as the shared README lists.
SHA1 = {
    'train': '863f29c46ef9d167fff4940ec821195882fe29d1',
    'valid': '0418625c8b4da6e4b5c7a0b9e78d4ae8f7ee5422',
    'test': 'c7b8ce0aa086fb34dab808c5c49224211eb2b172',
}
# A live, byte-identical mirror (d2l's own zip URL now answers 403).
MIRROR = ('https://raw.githubusercontent.com/pytorch/examples/main/'
          'word_language_model/data/wikitext-2/')
MIRROR_NAMES = {'train': 'train.txt', 'valid': 'valid.txt',
                'test': 'test.txt'}
ENV_DIR = 'SANDBOX_WIKITEXT_DIR'
ENV_MIRROR = 'SANDBOX_WIKITEXT_MIRROR'
ENV_CACHE = 'SANDBOX_CACHE_DIR'


class CorpusError(ValueError):
    """A corpus file is missing, corrupt, empty or has no usable paragraph."""


def sha1sum(path):
    """Return the hex sha1 of the file at `path`."""
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir():
    """Return the local cache directory for downloaded corpora."""
    root = os.environ.get(ENV_CACHE) or os.path.join(
        os.path.expanduser('~'), '.cache', 'sandbox')
    return pathlib.Path(root) / 'wikitext-2'


def _verify(path, split):
    """Raise CorpusError unless `path` has the official sha1 of `split`."""
    actual = sha1sum(path)
    if actual != SHA1[split]:
        raise CorpusError(
            f'{path}: sha1 {actual} does not match the official WikiText-2 '
            f'{split} file ({SHA1[split]}); the file is corrupt or truncated '
            '(pass verify=False / --no-verify to read a corpus of your own)')


def download(target, splits=SPLITS, mirror=None):
    """Download `splits` into `target`, verify their sha1, write atomically."""
    mirror = mirror or os.environ.get(ENV_MIRROR) or MIRROR
    target = pathlib.Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for split in splits:
        final = target / FILES[split]
        if final.exists():
            continue
        url = mirror.rstrip('/') + '/' + MIRROR_NAMES[split]
        fd, tmp = tempfile.mkstemp(dir=target, prefix=f'.{split}.',
                                   suffix='.part')
        try:
            with os.fdopen(fd, 'wb') as f, urllib.request.urlopen(
                    url, timeout=60) as response:
                for chunk in iter(lambda: response.read(1 << 20), b''):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            _verify(tmp, split)
            os.replace(tmp, final)  # atomic: complete or absent
        except Exception as e:
            os.unlink(tmp)
            if isinstance(e, CorpusError):
                raise
            raise CorpusError(f'could not download {url}: {e}') from e
    return target


def find_data_dir(data_dir=None, download_missing=True):
    """Return the WikiText-2 directory: argument, environment, cache, download.

    Args:
        data_dir: a directory the user names; it must exist.
        download_missing: fetch into the cache when nothing else is found.
    """
    named = data_dir or os.environ.get(ENV_DIR)
    if named:
        path = pathlib.Path(named).expanduser()
        if not path.is_dir():
            source = 'data_dir' if data_dir else ENV_DIR
            raise FileNotFoundError(
                f'{source}: WikiText-2 directory {path} does not exist')
        return path
    cached = cache_dir()
    if all((cached / FILES[s]).exists() for s in SPLITS):
        return cached
    if not download_missing:
        raise FileNotFoundError(
            f'no WikiText-2 directory given (data_dir or {ENV_DIR}) and none '
            f'cached at {cached}')
    return download(cached)


def read_paragraphs(data_dir, split='train', verify=True):
    """Read d2l's paragraphs: lines with >= 2 ' . ' sentences, lower-cased.

    Returns each paragraph as one stripped, lower-cased string whose
    sentences are separated by ' . ', as d2l's `_read_wiki` keeps them before
    splitting (unshuffled).
    """
    check_split(split)
    path = pathlib.Path(data_dir) / FILES[split]
    if not path.is_file():
        raise FileNotFoundError(f'data_dir: {path} does not exist')
    if verify:
        _verify(path, split)
    try:
        text = path.read_text(encoding='utf-8')
    except UnicodeDecodeError as e:
        raise CorpusError(f'{path} is not UTF-8 text: {e}') from e
    if not text.strip():
        raise CorpusError(f'{path} is empty')
    paragraphs = [line.strip() for line in text.lower().split('\n')
                  if ' . ' in line]
    if not paragraphs:
        raise CorpusError(f'{path} has no paragraph of two or more '
                          "sentences separated by ' . '")
    return paragraphs


def check_split(split):
    """Raise ValueError naming `split` unless it is a WikiText split."""
    if split not in SPLITS:
        raise ValueError(f'split must be one of {list(SPLITS)}, '
                         f'got {split!r}')


def write_synthetic_corpus(target, num_paragraphs=200, vocab_size=50,
                           seed=0, topics=1):
    """Write a small seeded WikiText-like corpus (three splits) to `target`.

    Words follow a Zipf-like law; paragraphs hold 2 to 6 sentences of 3 to 12
    words, separated by ' . ' as in WikiText, with headings and blank lines
    between paragraphs. With `topics` > 1 the words split into that many
    groups and each paragraph draws from one: the context then tells which
    words can be masked, and a random B sentence mostly changes the topic,
    so both MLM and NSP have something to learn beyond word frequencies.
    """
    rng = np.random.default_rng(seed)
    words = np.array([f'w{i}' for i in range(vocab_size)])
    probs = 1.0 / np.arange(1, vocab_size + 1)
    probs /= probs.sum()
    topic_of = np.arange(vocab_size) % topics
    target = pathlib.Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for split, n in zip(SPLITS, (num_paragraphs, max(2, num_paragraphs // 10),
                                 max(2, num_paragraphs // 10))):
        lines = [' \n', ' = Synthetic = \n', ' \n']
        for _ in range(n):
            p = probs if topics == 1 else np.where(
                topic_of == rng.integers(topics), probs, 0.0)
            sentences = [' '.join(rng.choice(words, rng.integers(3, 13),
                                             p=p / p.sum()))
                         for _ in range(rng.integers(2, 7))]
            lines.append(' ' + ' . '.join(sentences) + ' . \n')
            lines.append(' \n')
        (target / FILES[split]).write_text(''.join(lines), encoding='utf-8')
    return target
