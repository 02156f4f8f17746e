"""WikiText-2 sentence-pair batches for BERT pretraining (d2l's semantics)."""
import collections
import contextlib
import pathlib
from typing import NamedTuple

import numpy as np
import pandas as pd
import tensorflow as tf
from d2l import tensorflow as d2l

from sandbox import corpus
from sandbox.config import DataConfig
from sandbox.pairs import (make_sentence_pairs, num_sentence_pairs,
                           pair_drawer)

RESERVED_TOKENS = ['<pad>', '<mask>', '<cls>', '<sep>']
# The validation set every run and every arm is scored on: the whole
# validation split at d2l's settings (15% masking, 80/10/10, NSP at 50%,
# max_len 64), drawn once with a seed of its own
VALIDATION = DataConfig(seed=20_256)
_MARKERS = {'\x00': -1, '\x01': -2}  # sentence and paragraph breaks
_CORPUS_CACHE = {}  # load_corpus' reads: (file, vocab) -> (corpus, vocab)


class BERTBatch(NamedTuple):
    """One batch in d2l's order; unpacks like d2l's 7-tuple."""
    tokens: tf.Tensor          # (batch, max_len) int32, <pad>-padded
    segments: tf.Tensor        # (batch, max_len) int32, 0 then 1, 0-padded
    valid_lens: tf.Tensor      # (batch,) int32, tokens before padding
    pred_positions: tf.Tensor  # (batch, num_slots) int32, 0-padded
    mlm_weights: tf.Tensor     # (batch, num_slots) float32, 1 real / 0 pad
    mlm_Y: tf.Tensor           # (batch, num_slots) int32, 0-padded labels
    nsp_y: tf.Tensor           # (batch,) int32, 1 if B follows A


class EncodedCorpus(NamedTuple):
    """A corpus as one flat id array with sentence and paragraph bounds."""
    ids: np.ndarray              # (num_tokens,) int32
    sentence_starts: np.ndarray  # (num_sentences,) offset into ids
    sentence_lens: np.ndarray    # (num_sentences,)
    paragraph_starts: np.ndarray  # (num_paragraphs,) first sentence index
    paragraph_lens: np.ndarray   # (num_paragraphs,) sentences per paragraph


def get_tokens_and_segments(tokens_a, tokens_b=None):
    """Return BERT input tokens and segment ids for one or two sentences."""
    tokens = ['<cls>'] + tokens_a + ['<sep>']
    # 0 and 1 mark segments A and B
    segments = [0] * (len(tokens_a) + 2)
    if tokens_b is not None:
        tokens += tokens_b + ['<sep>']
        segments += [1] * (len(tokens_b) + 1)
    return tokens, segments


def encode_corpus(paragraphs, vocab=None, min_freq=5):
    """Tokenize paragraphs into words and ids; build d2l's vocab if None.

    Tokens are d2l's: paragraphs split on ' . ' into sentences, sentences on
    whitespace. The corpus is split once as a whole, with marker tokens
    between sentences and paragraphs, and factorized by pandas (a C hash
    table) instead of looked up word by word: the result is the same.

    Returns:
        (EncodedCorpus, vocab).
    """
    # Markers that str.split() keeps as words: \x00 between sentences,
    # \x01 between paragraphs
    words = ' \x01 '.join(p.replace(' . ', ' \x00 ')
                          for p in paragraphs).split()
    codes, uniques = pd.factorize(np.asarray(words, dtype=object))
    del words
    if vocab is None:
        counts = np.bincount(codes, minlength=len(uniques))
        # d2l.Vocab counts its tokens with collections.Counter, which takes
        # a mapping of counts as well as a list of words
        vocab = d2l.Vocab(collections.Counter(
            {w: int(c) for w, c in zip(uniques, counts)
             if w not in _MARKERS}), min_freq=min_freq,
            reserved_tokens=RESERVED_TOKENS)
    lookup, unk = vocab.token_to_idx.get, vocab.unk
    table = np.array([_MARKERS.get(w, None) or lookup(w, unk)
                      for w in uniques], dtype=np.int32)
    all_ids = table[codes]  # (num_words + num_markers,)
    is_word = all_ids >= 0
    markers = all_ids[~is_word]
    # Sentence k of the corpus follows the k-th marker
    sentence_lens = np.bincount(np.cumsum(~is_word)[is_word],
                                minlength=len(markers) + 1)
    paragraph_of_sentence = np.concatenate(
        [[0], np.cumsum(markers == _MARKERS['\x01'])])
    paragraph_lens = np.bincount(paragraph_of_sentence)
    return EncodedCorpus(
        all_ids[is_word], np.cumsum(sentence_lens) - sentence_lens,
        sentence_lens, np.cumsum(paragraph_lens) - paragraph_lens,
        paragraph_lens), vocab


def num_mlm_preds(valid_lens, num_candidates, mask_rate, num_slots):
    """Predictions per sequence: d2l's max(1, round(rate * len)), bounded.

    Python's and TensorFlow's round both round half to even. At mask_rate 0
    there are no predictions (d2l's max(1, ...) would force one).
    """
    n = tf.cast(tf.round(mask_rate * tf.cast(valid_lens, tf.float32)),
                tf.int32)
    if mask_rate > 0:
        n = tf.maximum(n, 1)
    return tf.minimum(tf.minimum(n, num_candidates), num_slots)


def mask_tokens(tokens, valid_lens, seed, vocab, mask_rate=0.15,
                mask_split=(0.8, 0.1, 0.1), num_slots=10, corrupt_rate=None):
    """Draw MLM predictions for sequences; return masked tokens and targets.

    Positions are drawn uniformly among the non-special tokens (never <cls>,
    <sep> or <pad>) and sorted, as d2l does. Each becomes <mask>, a random
    token or stays, by `mask_split`. Unlike d2l, which may draw any token
    including the specials, the random token comes from the non-special
    vocabulary (<unk> is a corpus word and counts as non-special).

    With a `corrupt_rate` other than `mask_rate` (Wettig et al. 2022), that
    share of the tokens is replaced by `mask_split` and `mask_rate` of them
    are predicted: both are prefixes of one random order, so the predicted
    tokens are corrupted ones when corrupt_rate > mask_rate, and include
    every corrupted one otherwise.

    Args:
        tokens: (batch, max_len) int32 ids.
        valid_lens: (batch,) int32 lengths before padding.
        seed: a stateless seed, shape (2,) int.
    Returns:
        (masked tokens, pred_positions, mlm_weights, mlm_Y).
    """
    tokens = tf.convert_to_tensor(tokens, tf.int32)
    valid_lens = tf.convert_to_tensor(valid_lens, tf.int32)
    seeds = tf.random.experimental.stateless_split(seed, 3)  # (3, 2)
    max_len = tf.shape(tokens)[1]
    pos = tf.range(max_len)[None, :]  # (1, max_len)
    is_candidate = ((tokens != vocab['<cls>']) & (tokens != vocab['<sep>'])
                    & (pos < valid_lens[:, None]))
    num_candidates = tf.reduce_sum(tf.cast(is_candidate, tf.int32), 1)
    num_preds = num_mlm_preds(valid_lens, num_candidates, mask_rate,
                              num_slots)  # (batch,)
    # A random order of the candidates first, non-candidates after them
    keys = tf.random.stateless_uniform(tf.shape(tokens), seeds[0])
    keys = tf.where(is_candidate, keys, 2.0)
    order = tf.argsort(keys, axis=1, stable=True)  # (batch, max_len)
    drawn = order[:, :num_slots]
    is_pred = tf.range(num_slots)[None, :] < num_preds[:, None]
    # Sorted positions, the predictions first: (batch, num_slots)
    pred_positions = tf.sort(tf.where(is_pred, drawn, max_len), axis=1)
    pred_positions = tf.where(is_pred, pred_positions, 0)
    labels = tf.gather(tokens, pred_positions, batch_dims=1)  # (batch, slots)
    labels = tf.where(is_pred, labels, 0)
    non_special = tf.constant(
        [i for i, t in enumerate(vocab.idx_to_token)
         if t not in RESERVED_TOKENS], tf.int32)
    if corrupt_rate is not None and corrupt_rate != mask_rate:
        masked = _corrupt(tokens, valid_lens, num_candidates, order,
                          seeds[1:], non_special, vocab['<mask>'],
                          corrupt_rate, mask_split)
        return (masked, pred_positions, tf.cast(is_pred, tf.float32),
                labels)
    # Replacement of each prediction: <mask>, a random token, or itself
    u = tf.random.stateless_uniform(tf.shape(pred_positions), seeds[1])
    p_mask, p_random, _ = mask_split
    random_tokens = tf.gather(non_special, tf.random.stateless_uniform(
        tf.shape(pred_positions), seeds[2], maxval=tf.size(non_special),
        dtype=tf.int32))  # (batch, slots)
    replacement = tf.where(
        u < p_mask, vocab['<mask>'],
        tf.where(u < p_mask + p_random, random_tokens, labels))
    # Scatter the replacements of real predictions into the sequences
    rows = tf.broadcast_to(tf.range(tf.shape(tokens)[0])[:, None],
                           tf.shape(pred_positions))  # (batch, slots)
    index = tf.boolean_mask(tf.stack([rows, pred_positions], -1), is_pred)
    masked = tf.tensor_scatter_nd_update(
        tokens, index, tf.boolean_mask(replacement, is_pred))
    return masked, pred_positions, tf.cast(is_pred, tf.float32), labels


def _corrupt(tokens, valid_lens, num_candidates, order, seeds, non_special,
             mask_id, corrupt_rate, mask_split):
    """Replace the first corrupt_rate share of `order` by mask_split.

    Args:
        num_candidates: (batch,) positions that may be corrupted.
        order: (batch, max_len) mask_tokens' random order of the positions,
            candidates first.
        seeds: (2, 2) stateless seeds of the replacement draws.
    """
    num_corrupt = num_mlm_preds(valid_lens, num_candidates, corrupt_rate,
                                tf.shape(tokens)[1])  # (batch,)
    # Rank of each position in the order: (batch, max_len)
    rank = tf.argsort(order, axis=1)
    is_corrupt = rank < num_corrupt[:, None]
    u = tf.random.stateless_uniform(tf.shape(tokens), seeds[0])
    random_tokens = tf.gather(non_special, tf.random.stateless_uniform(
        tf.shape(tokens), seeds[1], maxval=tf.size(non_special),
        dtype=tf.int32))  # (batch, max_len)
    p_mask, p_random, _ = mask_split
    replacement = tf.where(
        u < p_mask, mask_id,
        tf.where(u < p_mask + p_random, random_tokens, tokens))
    return tf.where(is_corrupt, replacement, tokens)


def load_corpus(data_dir=None, split='train', vocab=None, min_freq=5,
                verify=True):
    """Read a split; return (encoded corpus, vocab built from it if None).

    A process reads and encodes each (file, vocabulary) once: the result is
    kept, read-only, under the file's path, size and modification time, so
    a sweep's runs, their validation and their probes share one read.
    """
    data_dir = corpus.find_data_dir(data_dir)
    corpus.check_split(split)
    path = pathlib.Path(data_dir).resolve() / corpus.FILES[split]
    # A missing file gets no key worth keeping: read_paragraphs names it
    stat = path.stat() if path.is_file() else None
    file_key = (str(path), stat and (stat.st_size, stat.st_mtime_ns), verify)
    vocab_key = ('min_freq', min_freq) if vocab is None else tuple(
        vocab.idx_to_token)
    if (file_key, vocab_key) in _CORPUS_CACHE:
        enc, built = _CORPUS_CACHE[file_key, vocab_key]
        return enc, built if vocab is None else vocab
    paragraphs = corpus.read_paragraphs(data_dir, split, verify=verify)
    enc, built = encode_corpus(paragraphs, vocab, min_freq)
    for array in enc:
        array.flags.writeable = False
    _CORPUS_CACHE[file_key, vocab_key] = enc, built
    _CORPUS_CACHE[file_key, tuple(built.idx_to_token)] = enc, built
    return enc, built


def make_dataset(pairs, vocab, config, shuffle=True, drop_remainder=False):
    """Return a shuffled, batched, prefetched tf.data.Dataset of BERTBatch.

    `pairs` are pairs.SentencePairs, or with config.pairing 'dynamic' a
    pair_drawer's function, which draws every epoch's pairs afresh.
    """
    if config.pairing == 'dynamic':
        with _global_seed(0):
            return _redrawn_batches(pairs, vocab, config, shuffle,
                                    drop_remainder)
    n = len(pairs.tokens)
    if config.masking == 'static':  # d2l: one draw of masks, kept for good
        pairs = _masked(pairs, tf.constant([config.seed, 0]),
                        _masker(vocab, config))
    columns = tf.nest.map_structure(tf.constant, pairs)
    with _global_seed(0):
        return _batches(columns, n, vocab, config, shuffle, drop_remainder)


def _masker(vocab, config):
    """mask_tokens' keyword arguments for a DataConfig."""
    return dict(vocab=vocab, mask_rate=config.mask_rate,
                mask_split=config.mask_split,
                num_slots=config.num_pred_slots,
                corrupt_rate=config.corrupt_rate)


def _gather(columns, idx):
    """The rows `idx` of every column."""
    return tf.nest.map_structure(lambda c: tf.gather(c, idx), columns)


def _masked(pairs, seed, masker):
    """A batch of SentencePairs with fresh masks: BERTBatch."""
    masked = mask_tokens(pairs.tokens, pairs.valid_lens, seed, **masker)
    return BERTBatch(masked[0], pairs.segments, pairs.valid_lens,
                     *masked[1:], pairs.nsp_y)


@contextlib.contextmanager
def _global_seed(seed):
    """Set TensorFlow's global seed for a while, then restore it.

    tf.data combines each op's seed with the global one, which
    keras.utils.set_random_seed(train.seed) sets: built under a fixed
    global seed, the shuffles and mask streams depend on data.seed alone.
    """
    from tensorflow.python.eager import context
    previous = context.global_seed()
    tf.random.set_seed(seed)
    try:
        yield
    finally:
        tf.random.set_seed(previous)


def _batches(columns, n, vocab, config, shuffle, drop_remainder):
    """make_dataset's pipeline over `columns` (static masks applied)."""
    index = tf.data.Dataset.range(n)
    if shuffle:
        index = index.shuffle(n, seed=config.seed,
                              reshuffle_each_iteration=True)
    index = index.batch(config.batch_size, drop_remainder=drop_remainder)

    if config.masking == 'static':
        ds = index.map(lambda idx: _gather(columns, idx))
    else:  # fresh masks for every batch of every epoch, from the seed
        seeds = tf.data.Dataset.random(
            seed=config.seed, rerandomize_each_iteration=True).batch(2)
        masker = _masker(vocab, config)
        ds = tf.data.Dataset.zip(index, seeds).map(
            lambda idx, seed: _masked(_gather(columns, idx), seed, masker),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _redrawn_batches(draw, vocab, config, shuffle, drop_remainder):
    """make_dataset's pipeline when every epoch draws its own pairs."""
    masker = _masker(vocab, config)

    def epoch(seed):  # seed (2,) int64: this epoch's
        seeds = tf.random.experimental.stateless_split(seed, 3)  # (3, 2)
        pairs = draw(seeds[0])
        index = tf.range(tf.shape(pairs.nsp_y, out_type=tf.int64)[0])
        if shuffle:
            index = tf.random.experimental.stateless_shuffle(index,
                                                             seeds[1])
        index = tf.data.Dataset.from_tensor_slices(index).batch(
            config.batch_size, drop_remainder=drop_remainder)
        # One stateless mask seed a batch: (num_batches, 2)
        mask_seeds = tf.random.experimental.stateless_split(
            seeds[2], tf.cast(index.cardinality(), tf.int32))
        return tf.data.Dataset.zip(
            index, tf.data.Dataset.from_tensor_slices(mask_seeds)).map(
            lambda idx, s: _masked(_gather(pairs, idx), s, masker),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    # A fresh seed every time the dataset is iterated: every epoch
    epochs = tf.data.Dataset.random(
        seed=config.seed, rerandomize_each_iteration=True).batch(2).take(1)
    return epochs.flat_map(epoch).prefetch(tf.data.AUTOTUNE)


def load_data_wiki(batch_size, max_len, data_dir=None, *, split='train',
                   vocab=None, config=None, verify=True, shuffle=True,
                   drop_remainder=False, **overrides):
    """Load WikiText-2 as BERT pretraining batches; return (data_iter, vocab).

    Args:
        batch_size, max_len: as d2l's `load_data_wiki`.
        data_dir: the WikiText-2 directory; else $SANDBOX_WIKITEXT_DIR, the
            cache, or a verified download.
        split: 'train', 'valid' or 'test'.
        vocab: the vocabulary to use (pass the train one for valid/test);
            built from this split when None.
        config: a DataConfig; `batch_size`, `max_len` and `overrides`
            (any DataConfig field, e.g. mask_rate=0.4) replace its fields.
        verify: check the files' sha1 against the official release.
    """
    config = (config or DataConfig()).replace(
        batch_size=batch_size, max_len=max_len, **overrides)
    enc, vocab = load_corpus(data_dir, split, vocab, config.min_freq, verify)
    rng = np.random.default_rng(config.seed)
    if config.pairing == 'dynamic':
        # d2l's draw checks that some pair fits max_len
        num_sentence_pairs(enc, config.max_len, rng, config.nsp,
                           config.nsp_rate)
        pairs = pair_drawer(enc, vocab, config.max_len,
                            config.nsp_rate if config.nsp else 0.0)
    else:
        pairs = make_sentence_pairs(enc, vocab, config.max_len, rng,
                                    config.nsp, config.nsp_rate)
    return make_dataset(pairs, vocab, config, shuffle, drop_remainder), vocab


def steps_per_epoch(config, data_dir=None, verify=True):
    """Full batches in an epoch of training pairs (d2l's draw with
    config.seed; with dynamic pairing each epoch's draw has a few pairs
    more or fewer)."""
    enc, _ = load_corpus(data_dir, 'train', None, config.min_freq, verify)
    n = num_sentence_pairs(enc, config.max_len,
                           np.random.default_rng(config.seed), config.nsp,
                           config.nsp_rate)
    return n // config.batch_size


def load_validation(vocab, data_dir=None, verify=True, batch_size=512):
    """The fixed validation set (VALIDATION) as batches, in a fixed order.

    The same pairs and masks for every run of a vocabulary, whatever its
    seeds or data settings.
    """
    val_iter, _ = load_data_wiki(
        batch_size, VALIDATION.max_len, data_dir, split='valid', vocab=vocab,
        config=VALIDATION, verify=verify, shuffle=False)
    return val_iter


def unigram_counts(vocab, data_dir=None, verify=True):
    """Training-set count (len(vocab),) of each id: the unigram baseline's."""
    enc, _ = load_corpus(data_dir, 'train', vocab, verify=verify)
    return np.bincount(enc.ids, minlength=len(vocab))


def save_vocab(vocab, path):
    """Write the vocabulary's tokens, one per line in id order."""
    text = ''.join(f'{token}\n' for token in vocab.idx_to_token)
    pathlib.Path(path).write_text(text, encoding='utf-8')


def load_vocab(path):
    """Read a vocabulary saved by save_vocab (same ids, same tokens)."""
    tokens = pathlib.Path(path).read_text(encoding='utf-8').split('\n')[:-1]
    # d2l.Vocab sorts its tokens, and saved ones are sorted already
    vocab = d2l.Vocab(tokens, reserved_tokens=RESERVED_TOKENS)
    if vocab.idx_to_token != tokens:
        raise ValueError(f'{path} is not a vocabulary saved by save_vocab')
    return vocab
