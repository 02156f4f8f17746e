"""Benchmark the WikiText-2 pipeline: read, vocabulary, examples, tf.data.

Prints medians over --repeats runs in one process:
    python benchmarks/data_pipeline.py --data-dir ../shared/data/wikitext-2
"""
import argparse
import resource
import statistics
import time

import numpy as np
import tensorflow as tf

from sandbox import corpus, data, machine
from sandbox.config import DataConfig
from sandbox.pairs import make_sentence_pairs


def build_once(data_dir, config):
    """Time one cold build; return (read+vocab s, examples s, pairs)."""
    start = time.perf_counter()
    paragraphs = corpus.read_paragraphs(data_dir)
    enc, vocab = data.encode_corpus(paragraphs, None, config.min_freq)
    mid = time.perf_counter()
    pairs = make_sentence_pairs(enc, vocab, config.max_len,
                                np.random.default_rng(config.seed))
    masked = data.mask_tokens(pairs.tokens, pairs.valid_lens,
                              tf.constant([config.seed, 0]), vocab,
                              config.mask_rate, config.mask_split,
                              config.num_pred_slots)
    masked[0].numpy()
    end = time.perf_counter()
    return mid - start, end - mid, len(pairs.tokens)


def pipeline_rate(data_dir, config, epochs):
    """Examples/sec of iterating the tf.data pipeline for `epochs`."""
    ds, _ = data.load_data_wiki(config.batch_size, config.max_len, data_dir,
                                config=config)
    for _ in ds.take(2):  # warm-up: trace the map functions
        pass
    n, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in ds:
            n += int(batch.tokens.shape[0])
    return n / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--max-len', type=int, default=64)
    parser.add_argument('--batch-size', type=int, default=512)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--epochs', type=int, default=2)
    args = parser.parse_args()
    print(f'machine: {machine.describe()}')
    data_dir = corpus.find_data_dir(args.data_dir)
    print(f'TensorFlow {tf.__version__}, max_len {args.max_len}, '
          f'batch {args.batch_size}, medians of {args.repeats} runs')
    for masking in ('static', 'dynamic'):
        config = DataConfig(batch_size=args.batch_size, max_len=args.max_len,
                            masking=masking)
        builds = [build_once(data_dir, config) for _ in range(args.repeats)]
        rates = [pipeline_rate(data_dir, config, args.epochs)
                 for _ in range(args.repeats)]
        read = statistics.median(b[0] for b in builds)
        build = statistics.median(b[1] for b in builds)
        print(f'[{masking}] read + vocabulary {read:.3f} s | all '
              f'{builds[0][2]:,} examples {build:.3f} s | total '
              f'{read + build:.3f} s (first run {sum(builds[0][:2]):.3f} s) | '
              f'tf.data {statistics.median(rates):,.0f} examples/s')
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'peak RSS {peak:,.0f} MiB')


if __name__ == '__main__':
    main()
