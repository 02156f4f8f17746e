"""Command line: python -m sandbox {pretrain,probe,experiment,compare} -h.

pretrain trains a BERT into its own run folder; probe reads a run's model
(`probing` is `probe --suite`); experiment runs an ablation file; compare
draws run folders. The modules that need TensorFlow are imported in the
subcommands that train or probe, so that compare, experiment --dry-run
and --help start without it.
"""
import argparse
import dataclasses
import json
import pathlib
import sys

from sandbox import plots, runs
from sandbox.baseline import format_baselines
from sandbox.config import (MODEL_PRESETS, RECIPES, SECTIONS, SEED_KEYS,
                            SETTING_KEYS, ProbeConfig, configs_from_settings,
                            parse_settings, parse_value)
from sandbox.experiment.spec import load_experiment, shard_runs

# pretrain's flag -> setting; each flag's default is the --recipe's
FLAGS = {
    'steps': 'train.num_steps', 'lr': 'train.lr',
    'warmup_steps': 'train.warmup_steps', 'decay': 'train.decay',
    'mlm_weight': 'train.mlm_weight', 'nsp_weight': 'train.nsp_weight',
    'clip_norm': 'train.clip_norm', 'val_every': 'train.val_every',
    'val_batches': 'train.val_batches', 'dtype': 'train.dtype_policy',
    'checkpoint_every': 'train.checkpoint_every',
    'batch_size': 'data.batch_size', 'max_len': 'data.max_len',
    'mask_rate': 'data.mask_rate', 'masking': 'data.masking',
    'pairing': 'data.pairing',
}
# What pretrain's --set may change (--preset names the model size)
PRETRAIN_KEYS = tuple(k for k in SETTING_KEYS
                      if k.split('.')[0] in ('data', 'model', 'train'))
# Flags that do not change what an experiment's runs train
RERUN_FLAGS = ('--report-only', '--reprobe', '--rerun')


def positive_int(text):
    """An integer >= 1, for --top-k."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be an integer >= 1, got '
                                         f'{text!r}')
    return value


def ema_weight(text):
    """--smooth's value: an EMA weight in [0, 1)."""
    try:
        weight = float(text)
    except ValueError:
        weight = None
    if weight is None or not 0 <= weight < 1:
        raise argparse.ArgumentTypeError(
            f'must be an EMA weight in [0, 1) (0.6 smooths like '
            f'TensorBoard\'s default), got {text!r}')
    return weight


def add_corpus_arguments(p, default):
    """--data-dir (`default` says what it falls back to) and --no-verify."""
    p.add_argument('--data-dir', help=f'WikiText-2 folder (default: '
                   f'{default})')
    p.add_argument('--no-verify', dest='verify', action='store_false',
                   help='read a corpus of your own (no sha1 check)')


# --------------------------------------------------------------- pretrain

def add_pretrain(sub):
    """The `pretrain` subcommand's arguments."""
    p = sub.add_parser(
        'pretrain', help='pretrain BERT on WikiText-2 with a live loss plot',
        description='Pretrain BERT (MLM + NSP) on WikiText-2. The default '
        "recipe learns (docs/recipe.md); --recipe d2l is the book's run "
        '(batch 512, Adam at lr 0.01, 50 steps), which learns nothing but '
        'word frequencies. The model size is d2l\'s (2 blocks, 128 hidden, '
        '2 heads, ffn 256) unless --preset says otherwise. The run '
        'folder gets config.json, baseline.json, metrics.csv, loss.png '
        '(rewritten as training goes: open it to watch), loss.gif, '
        'TensorBoard scalars, model.keras and vocab.txt.')
    p.add_argument('--recipe', default='default', choices=sorted(RECIPES),
                   help='training recipe (default: default; d2l: the '
                   "book's run)")
    p.add_argument('--preset', default='d2l', choices=sorted(MODEL_PRESETS),
                   help='model size (default: d2l)')
    add_corpus_arguments(p, '$SANDBOX_WIKITEXT_DIR, the cache, or a '
                         'download')
    p.add_argument('--out', help='run folder (default: plots/runs/<time>-'
                   '<recipe>); one with a checkpoint of the same config '
                   'resumes, one of another config is refused')
    p.add_argument('--resume', metavar='RUN_DIR',
                   help="continue RUN_DIR's run from its newest checkpoint, "
                   'with the config and corpus folder it saved (other '
                   'config flags ignored)')
    for flag, key in FLAGS.items():
        section, field = key.split('.')
        f = {f.name: f for f in dataclasses.fields(SECTIONS[section])}[field]
        kind = {'int': int, 'float': float}.get(
            getattr(f.type, '__name__', str(f.type)), parse_value)
        p.add_argument('--' + flag.replace('_', '-'), type=kind,
                       default=None, metavar=field.upper(),
                       help=f'{key} (default recipe: '
                       f'{RECIPES["default"].get(key, f.default)}; d2l: '
                       f'{f.default})')
    p.add_argument('--seed', type=int, default=None,
                   help='data.seed and train.seed (default: 0)')
    p.add_argument('--mask-split', type=float, nargs=3, default=None,
                   metavar=('MASK', 'RANDOM', 'KEEP'),
                   help='data.mask_split (default: 0.8 0.1 0.1)')
    p.add_argument('--no-nsp', action='store_true',
                   help='MLM only: no random pairs, nsp_weight 0')
    p.add_argument('--xla', action='store_true',
                   help='XLA-compile the train step (train.jit_compile)')
    p.add_argument('--set', action='append', default=[],
                   metavar='SECTION.FIELD=VALUE',
                   help='any config field, e.g. --set model.num_blks=4 '
                   '(repeatable)')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.set_defaults(run=run_pretrain)


def configs_from_args(args):
    """Build (DataConfig, ModelConfig, TrainConfig) from parsed arguments.

    Flags and --set apply over the recipe, which applies over the model
    preset; --seed sets data.seed (pairs, masks, order) and train.seed
    (init, dropout) alike.
    """
    settings = parse_settings(args.set, PRETRAIN_KEYS)
    settings.update({key: getattr(args, flag) for flag, key in FLAGS.items()
                     if getattr(args, flag) is not None})
    if args.seed is not None:
        settings.update(dict.fromkeys(SEED_KEYS, args.seed))
    if args.mask_split is not None:
        settings['data.mask_split'] = tuple(args.mask_split)
    if args.no_nsp:
        settings.update({'data.nsp': False, 'train.nsp_weight': 0.0})
    if args.xla:
        settings['train.jit_compile'] = True
    configs = configs_from_settings(settings, args.preset, args.recipe)
    return configs.data, configs.model, configs.train


def run_pretrain(args):
    """Pretrain; print the validation, the baselines and a few probes."""
    from sandbox import probe  # TensorFlow: loaded by the commands it needs
    from sandbox.pretrain import pretrain
    data_dir = args.data_dir
    if args.resume:
        data, model, train = runs.load_run_config(args.resume)
        run_dir = args.resume
        data_dir = data_dir or runs.load_run_data_dir(args.resume)
    else:
        data, model, train = configs_from_args(args)
        run_dir = args.out or runs.new_run_dir(name=args.recipe)
    out = pretrain(data, model, train, data_dir=data_dir, run_dir=run_dir,
                   verify=args.verify, verbose=not args.quiet)
    last = out['history'][-1]
    if 'val_mlm_l' in last:
        print(f"validation: MLM loss {last['val_mlm_l']:.3f} (perplexity "
              f"{last['val_ppl']:.1f}), MLM accuracy "
              f"{last['val_mlm_acc']:.3f}, NSP accuracy "
              f"{last['val_nsp_acc']:.3f}")
    print(format_baselines(out['baseline']))
    print(f"crane probe: cosine "
          f"{probe.crane_probe(out['net'], out['vocab']):.3f} "
          'between "a crane is flying" and "a crane driver came"')
    for sentence in probe.FILL_SENTENCES:
        top = probe.fill_mask(out['net'], out['vocab'], sentence.split(),
                              k=5)[0]
        print(f'fill-mask {sentence!r}: ' +
              ', '.join(token for token, _ in top))
    print(f"run folder: {out['run_dir']} (loss.png, loss.gif, metrics.csv)")


# ------------------------------------------------------------------ probe

def add_probe(sub):
    """The `probe` subcommand's arguments (`probing`: probe --suite)."""
    p = sub.add_parser(
        'probe', aliases=['probing'], help='probe a pretrained model '
        '(probing: probe --suite)',
        description='Load a run folder (model.keras + vocab.txt) and print '
        'the "crane" probe, the cosine of a word across two contexts, and '
        'top-k fill-mask predictions. Sentences are space-separated words; '
        'words outside the vocabulary are read as <unk> with a warning. '
        'With --suite (or as `probing`), the probing suite on held-out '
        'sentences instead of the crane probe: per-layer similarities, '
        'MLM top-k, the collapse check; it writes probe.json and plots. '
        'With --calibration, the validation MLM loss by the frequency of '
        'the word to predict and under post-hoc temperatures.')
    p.add_argument('run_dir', help='a finished pretraining run folder')
    p.add_argument('--word', help='a word to compare across --context A '
                   '--context B')
    p.add_argument('--context', action='append', default=[],
                   help='a sentence containing --word (give two)')
    p.add_argument('--fill', action='append', default=[],
                   help='a sentence with <mask> tokens to fill (repeatable)')
    p.add_argument('--top-k', type=positive_int, default=5)
    suite = p.add_argument_group('the probing suite')
    suite.add_argument('--suite', action='store_true',
                       help='run the probing suite')
    add_corpus_arguments(suite, 'the one the run was trained on')
    suite.add_argument('--out', help='folder for probe.json and the plots '
                       '(default: the run folder)')
    suite.add_argument('--num-sentences', type=int,
                       default=ProbeConfig.num_sentences)
    suite.add_argument('--split', default=ProbeConfig.split)
    suite.add_argument('--no-plots', dest='plots', action='store_false')
    p.add_argument('--calibration', action='store_true',
                   help='validation MLM loss by the training-frequency '
                   'rank of the word to predict, and the best post-hoc '
                   'temperature (reads the corpus as --suite does)')
    p.set_defaults(run=run_probe)


def run_probe(args):
    """Print the requested probes of a saved model."""
    from sandbox import probe  # TensorFlow: loaded by the commands it needs
    from sandbox.pretrain import load_run_model
    if args.word and len(args.context) != 2:
        raise ValueError('--word needs exactly two --context sentences')
    net, vocab = load_run_model(args.run_dir)
    if args.calibration:
        run_calibration(args, net, vocab)
    elif args.suite or args.command == 'probing':
        run_suite(args, net, vocab)
    else:
        print(f'crane probe: cosine {probe.crane_probe(net, vocab):.3f}')
    if args.word:
        vectors = probe.word_in_contexts(
            net, vocab, args.word, [(c.lower().split(), None)
                                    for c in args.context])
        print(f'{args.word!r}: cosine {probe.cosine(*vectors):.3f} across '
              'the two contexts')
    for sentence in args.fill:
        for i, top in enumerate(probe.fill_mask(
                net, vocab, sentence.lower().split(), k=args.top_k)):
            print(f'{sentence!r} mask {i + 1}: ' + ', '.join(
                f'{token} {p:.3f}' for token, p in top))


def run_calibration(args, net, vocab):
    """Print the validation MLM loss by word frequency and temperature."""
    from sandbox import data
    from sandbox.probe.calibration import calibration, format_calibration
    data_dir = args.data_dir or runs.load_run_data_dir(args.run_dir)
    report = calibration(
        net, data.load_validation(vocab, data_dir, args.verify),
        data.unigram_counts(vocab, data_dir, args.verify))
    print('\n'.join(format_calibration(report)))


def run_suite(args, net, vocab):
    """Probe a run's net; write probe.json and its plots; print the report."""
    from sandbox import probe  # TensorFlow: loaded by the commands it needs
    run_dir = pathlib.Path(args.run_dir)
    config = ProbeConfig(num_sentences=args.num_sentences, split=args.split)
    report = probe.probe_model(
        net, vocab, args.data_dir or runs.load_run_data_dir(run_dir), config,
        runs.read_config(run_dir)['data']['max_len'], args.verify)
    out = pathlib.Path(args.out) if args.out else run_dir
    out.mkdir(parents=True, exist_ok=True)
    runs.write_part(out, 'probe', report)
    print(probe.format_report(report))
    if args.plots:
        attention = report['attention']
        plots.save_figure(plots.plot_layers([(run_dir.name, [report])]),
                          out / 'probe_layers')
        plots.save_figure(plots.plot_attention(attention['tokens'],
                                               attention['weights']),
                          out / 'attention')
        print(f'wrote {out / "probe.json"}, probe_layers.png/.svg, '
              'attention.png/.svg', file=sys.stderr)


# ------------------------------------------------------------- experiment

def add_experiment(sub):
    """The `experiment` subcommand's arguments."""
    p = sub.add_parser(
        'experiment', help='run an ablation experiment file',
        description='Run (or resume) an ablation experiment and write its '
        'results table, plots and README. Finished runs are skipped.')
    p.add_argument('experiment', nargs='?',
                   help='an experiment file, e.g. experiments/nsp.py')
    p.add_argument('--quick', action='store_true',
                   help='minutes on a CPU: small batches, few steps, '
                   'quick_seeds')
    add_corpus_arguments(p, '$SANDBOX_WIKITEXT_DIR, the cache, or a '
                         'download')
    p.add_argument('--out', help='results folder (default plots/<name>, '
                   'plots/<name>-quick with --quick)')
    p.add_argument('--seeds', type=int, nargs='+')
    p.add_argument('--set', dest='overrides', action='append', default=[],
                   metavar='SECTION.FIELD=VALUE',
                   help='override a setting, e.g. --set train.lr=1e-3')
    p.add_argument('--shard', type=shard_arg, metavar='I/N',
                   help='train only every N-th run, from the I-th, so that '
                   'N processes or machines sharing --out split the sweep '
                   '(with TF_NUM_INTRAOP_THREADS and TF_NUM_INTEROP_THREADS '
                   'to share the cores); the last to finish writes the '
                   'report')
    p.add_argument('--no-probe', dest='probe', action='store_false')
    p.add_argument('--no-keep-models', dest='keep_models',
                   action='store_false',
                   help='delete model.keras once a run is probed')
    for flag, text in (
            ('--rerun', 'train finished runs again'),
            ('--reprobe', 'probe finished runs again from their model.keras '
             '(runs without one are left as they were)'),
            ('--dry-run', 'check the experiment and list its runs'),
            ('--report-only', 'rewrite tables/plots/README from finished '
             'runs'),
            ('--keys', 'list the settings an experiment may use'),
            ('--verbose', "show each run's progress bar")):
        p.add_argument(flag, action='store_true', help=text)
    p.set_defaults(run=run_experiment_file)


def shard_arg(text):
    """'2/3' -> (2, 3): a shard index from 1, and the number of shards."""
    index, slash, count = text.partition('/')
    if not (slash and index.isdigit() and count.isdigit()
            and 1 <= int(index) <= int(count)):
        raise argparse.ArgumentTypeError(
            f'{text!r} is not I/N with 1 <= I <= N, e.g. 1/2')
    return int(index), int(count)


def run_experiment_file(args):
    """Check an experiment file; list, report or run its runs."""
    if args.keys:
        print('\n'.join(SETTING_KEYS))
        return
    if not args.experiment:
        raise ValueError('experiment: an experiment file is required')
    experiment = load_experiment(args.experiment)
    overrides = parse_settings(args.overrides)
    planned = experiment.runs(args.quick, args.seeds, overrides)
    if args.dry_run and args.shard:
        planned = shard_runs(planned, *args.shard)
    if args.dry_run:
        for run in planned:
            print(run.name)
        print(f'{len(planned)} runs; settings of the first: '
              f'{json.dumps(planned[0].settings)}')
        return
    from sandbox.experiment import runner  # TensorFlow: only to run
    # the command that trains these runs, for the README
    command = 'python -m sandbox ' + ' '.join(
        a for a in drop_shard(args.argv) if a not in RERUN_FLAGS)
    common = dict(quick=args.quick, out=args.out, seeds=args.seeds,
                  overrides=overrides, command=command)
    if args.report_only:
        runner.report_only(experiment, **common)
        return
    runner.run_experiment(
        experiment, **common, data_dir=args.data_dir, rerun=args.rerun,
        reprobe_all=args.reprobe, probe=args.probe,
        keep_models=args.keep_models, verify=args.verify,
        verbose=args.verbose, shard=args.shard)


def drop_shard(argv):
    """argv without --shard and its value (a README's command runs all)."""
    out, skip = [], False
    for a in argv:
        if skip or a.startswith('--shard='):
            skip = False
        elif a == '--shard':
            skip = True
        else:
            out.append(a)
    return out


# ---------------------------------------------------------------- compare

def add_compare(sub):
    """The `compare` subcommand's figures and their arguments."""
    p = sub.add_parser(
        'compare', help='figures of run folders, grouped by config',
        description='Draw run folders as PNG and SVG. Runs that differ '
        'only in their seeds form a group: its mean, with a band of +-1 '
        'standard deviation over the seeds.')
    figures = p.add_subparsers(dest='figure', required=True)
    curves = figures.add_parser('curves', help='overlay loss curves of runs')
    curves.add_argument('--smooth', type=ema_weight, default=0.0,
                        help='EMA weight in [0, 1), as TensorBoard')
    curves.add_argument('--log', action='store_true', help='log-scale y')
    learning = figures.add_parser(
        'learning', help='validation accuracies against pairs seen and '
        'training time')
    learning.add_argument('--machine', default=None,
                          help='the machine, named under the time axis')
    layers = figures.add_parser(
        'layers', help='per-layer probe metrics of runs (their probe.json)')
    attention = figures.add_parser(
        'attention', help='attention heatmaps of a probed run')
    for f in (curves, learning, layers, attention):
        f.add_argument('run_dirs', nargs='+', help='run folders')
        f.add_argument('--out', default=None,
                       help='output path without extension '
                            '(default: ./<figure>)')
        f.add_argument('--title', default=None)
    p.set_defaults(run=run_compare)


def run_compare(args):
    """Draw the figure of run folders and print the files written."""
    missing = [d for d in args.run_dirs
               if not (pathlib.Path(d) / 'config.json').is_file()]
    if missing:
        raise ValueError(f'run_dirs: {missing} hold no config.json (not run '
                         'folders)')
    groups = runs.load_groups(args.run_dirs)
    loaded = [r for _, group in groups for r in group]
    if args.figure in ('layers', 'attention'):
        missing = [str(r['dir']) for r in loaded if r['probe'] is None]
        if missing:
            raise ValueError(f'no probe.json in {missing}: run python -m '
                             'sandbox probe RUN_DIR --suite first')
    if args.figure == 'curves':
        fig = plots.plot_curves(
            [(label, [r['metrics'] for r in group])
             for label, group in groups], args.smooth, args.log,
            title=args.title, baseline=loaded[0]['baseline'])
    elif args.figure == 'learning':
        fig = plots.plot_learning_curves(
            [(label, r) for label, group in groups for r in group],
            args.title, args.machine)
    elif args.figure == 'layers':
        fig = plots.plot_layers([(label, [r['probe'] for r in group])
                                 for label, group in groups],
                                title=args.title)
    else:
        att = loaded[0]['probe']['attention']
        fig = plots.plot_attention(att['tokens'], att['weights'], args.title)
    for path in plots.save_figure(fig, args.out or args.figure):
        print(path)


def main(argv=None):
    """Parse `argv` and run the subcommand; bad input exits 2, one line."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog='python -m sandbox',
        description='A d2l-style sandbox for pretraining BERT in TensorFlow.')
    parser.set_defaults(argv=argv)
    sub = parser.add_subparsers(dest='command', required=True)
    for add in (add_pretrain, add_probe, add_experiment, add_compare):
        add(sub)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as e:  # ConfigError included
        parser.exit(2, f'error: {e}\n')


if __name__ == '__main__':
    main()
