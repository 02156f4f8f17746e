"""Command line: python -m sandbox {pretrain} --help."""
import argparse
import time

from sandbox import data


def summarise(args):
    """Build the WikiText-2 batches and print what they hold."""
    start = time.perf_counter()
    train_iter, vocab = data.load_data_wiki(args.batch_size, args.max_len,
                                            args.data_dir)
    batch = next(iter(train_iter))
    print(f'{len(vocab):,} tokens in the vocabulary, '
          f'{len(train_iter):,} batches of {args.batch_size} '
          f'(built in {time.perf_counter() - start:.2f} s)')
    for name, value in batch._asdict().items():
        print(f'{name:>15} {value.dtype.name:>8} {tuple(value.shape)}')
    tokens = vocab.to_tokens(batch.tokens[0][:batch.valid_lens[0]].numpy())
    print('first pair:', ' '.join(tokens))


def main(argv=None):
    """Parse `argv` and run the subcommand."""
    parser = argparse.ArgumentParser(prog='python -m sandbox')
    sub = parser.add_subparsers(dest='command', required=True)
    pretrain = sub.add_parser('pretrain', help='build batches (model: soon)')
    pretrain.add_argument('--data-dir', default=None)
    pretrain.add_argument('--batch-size', type=int, default=512)
    pretrain.add_argument('--max-len', type=int, default=64)
    args = parser.parse_args(argv)
    summarise(args)


if __name__ == '__main__':
    main()
