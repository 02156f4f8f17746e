"""Running an experiment: train and probe each run, skip what finished.

Every run trains into its own folder, <out>/runs/<run>/. result.json,
written last, marks a run finished: a sweep that was stopped resumes where
it left off, and a run stopped mid-way resumes from its checkpoint.
"""
import gc
import json
import math
import pathlib
import shutil
import time
import warnings
from typing import Callable, NamedTuple, Optional

import keras

from sandbox import machine, plots
from sandbox.callbacks import write_hparams
from sandbox.config import SEED_KEYS
from sandbox.data import load_corpus
from sandbox.experiment.estimate import expected_seconds, format_duration
from sandbox.experiment.report import (summarize_history, write_report,
                                       write_tables)
from sandbox.experiment.spec import format_value, shard_runs
from sandbox.pretrain import load_run_model, pretrain
from sandbox.probe import CollapseWarning, probe_model, summarize
from sandbox.runs import (RunDirError, config_differences, read_config,
                          read_part, write_part)


class RunOptions(NamedTuple):
    """How each run of an experiment is trained and probed."""
    data_dir: Optional[str] = None  # the WikiText-2 folder
    verify: bool = True             # check the corpus files' sha1
    probe: bool = True              # run the probing suite after training
    keep_models: bool = True        # keep model.keras (needed to re-probe)
    verbose: bool = False           # show each run's progress bar
    log: Callable = print           # where the progress lines go


def default_out(experiment, quick):
    """plots/<name> at standard size (what is shipped), else <name>-quick."""
    return pathlib.Path('plots') / (f'{experiment.name}-quick' if quick
                                    else experiment.name)


def default_command(experiment, quick):
    """The command that runs `experiment`, for its README."""
    return (f'python -m sandbox experiment experiments/{experiment.name}.py'
            + (' --quick' if quick else ''))


def run_experiment(experiment, *, quick=False, out=None, data_dir=None,
                   seeds=None, overrides=None, rerun=False,
                   reprobe_all=False, probe=True, keep_models=True,
                   verify=True, verbose=False, command=None, shard=None,
                   log=print):
    """Run (or resume) every run of `experiment`, then write its report.

    Args:
        quick: the QUICK size and quick_seeds.
        out: results folder (default plots/<name>, or plots/<name>-quick).
        seeds, overrides: see Experiment.runs.
        rerun: train finished runs again.
        reprobe_all: probe finished runs again from their model.keras
            (runs whose model was not kept are left as they were).
        probe, keep_models, verify, verbose, log: see RunOptions.
        command: the command shown in the README (default_command's).
        shard: (index, count): train only the runs of shard_runs(runs,
            index, count), so that `count` processes or machines sharing
            `out` split the sweep; the last to finish writes the report.
    Returns:
        The aggregated rows of the results table ([] while another
        shard's runs are unfinished).
    """
    runs = experiment.runs(quick, seeds, overrides)  # validates first
    mine = shard_runs(runs, *shard) if shard else runs
    out = pathlib.Path(out) if out else default_out(experiment, quick)
    (out / 'runs').mkdir(parents=True, exist_ok=True)
    options = RunOptions(data_dir, verify, probe, keep_models, verbose, log)
    log_expected_time(mine, out, rerun, options, may_time=not quick)
    start = time.perf_counter()
    grid = grid_hparams(runs)
    for i, run in enumerate(runs, 1):
        if run not in mine:
            continue
        head = f'[{i}/{len(runs)}] {run.label}, seed {run.seed}'
        result = run_or_skip(run, out / 'runs' / run.name, head, options,
                             rerun, reprobe_all)
        write_run_hparams(out / 'runs' / run.name, run, result, grid[i - 1])
        write_tables(out, finished_results(runs, out))
    results = finished_results(runs, out)
    if len(results) < len(runs):  # another shard's runs are unfinished
        log(f'{len(mine)} runs of this shard in '
            f'{time.perf_counter() - start:.0f} s; {len(results)} of '
            f'{len(runs)} finished: the shard that finishes last writes '
            'the report (or --report-only)')
        return []
    rows = write_report(experiment, out, runs, results, quick,
                        command or default_command(experiment, quick))
    log(f'{len(mine)} runs in {time.perf_counter() - start:.0f} s; '
        f'results in {out}/ (README.md, results.md, results.csv)')
    return rows


def finished_results(runs, out):
    """The stored results of the finished runs among `runs`, in order."""
    return [r for r in (finished(run, out / 'runs' / run.name)
                        for run in runs) if r is not None]


def grid_hparams(runs):
    """Each run's HParams: its grid point, the settings the grid varies
    and its seed (values TensorBoard can show: tuples as text)."""
    keys = sorted(k for k in set().union(*(r.settings for r in runs))
                  if k not in SEED_KEYS and len({
                      json.dumps(_setting(r, k)) for r in runs}) > 1)
    return [{**run.point, **{k: _hparam(_setting(run, k)) for k in keys},
             'seed': run.seed} for run in runs]


def _setting(run, key):
    """A run's value of 'section.field' (its config's, set or default)."""
    section, _, field = key.partition('.')
    if not field:  # 'preset'
        return run.settings.get(key)
    return getattr(getattr(run.configs, section), field)


def _hparam(value):
    """A setting as an HParams value: bool, number or str."""
    if value is None or isinstance(value, (list, tuple)):
        return format_value(value) if value is not None else 'none'
    return value


def write_run_hparams(run_dir, run, result, hparams):
    """The run's HParams summary with its final metrics (numbers only)."""
    metrics = {k: v for k, v in result['metrics'].items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)
               and v == v}
    write_hparams(run_dir, run.name, hparams, metrics,
                  int(result['metrics'].get('steps', 0)))


def log_expected_time(runs, out, rerun, options, may_time=True):
    """Say how long the runs still to train should take, before any starts.

    may_time=False (a smoke test) estimates from finished runs only.
    """
    done = [] if rerun else [(run, r) for run in runs
                             for r in [finished(run, out / 'runs' / run.name)]
                             if r is not None]
    pending = [run for run in runs if run not in [d for d, _ in done]]
    if not pending:
        return
    seconds, how = expected_seconds(
        pending, done, vocab_size(out, done, pending[0], options), may_time)
    if seconds is None:
        options.log(f'{len(pending)} of {len(runs)} runs to train ({how})')
        return
    options.log(f'{len(pending)} of {len(runs)} runs to train: expected '
                f'wall time about {format_duration(seconds)} on this '
                f'machine ({how})')


def vocab_size(out, done, run, options):
    """The vocabulary's size: a finished run's, else `run`'s corpus'."""
    for finished_run, _ in done:
        return read_config(out / 'runs' / finished_run.name)['vocab_size']
    _, vocab = load_corpus(options.data_dir, verify=options.verify,
                           min_freq=run.configs.data.min_freq)
    return len(vocab)


def run_or_skip(run, run_dir, head, options, rerun=False,
                reprobe_all=False):
    """A run's result: stored if it finished (probed again if asked)."""
    result = None if rerun else finished(run, run_dir)
    if result is not None and (reprobe_all or (
            options.probe and 'probe_self_sim' not in result['metrics'])):
        if not (run_dir / 'model.keras').is_file():
            options.log(f'{head}: finished; its model was not kept, so its '
                        'probe stays as it was')
            return result
        options.log(f'{head}: finished; probing again')
        return reprobe(run, run_dir, result, options)
    if result is not None:
        options.log(f'{head}: finished, skipped')
        return result
    options.log(f'{head}: training')
    result = execute(run, run_dir, options)
    m = result['metrics']
    options.log(f'    val MLM loss {m["final_val_mlm_l"]:.3f}, acc '
                f'{m["final_val_mlm_acc"]:.3f}, NSP acc '
                f'{m["final_val_nsp_acc"]:.3f}, {m["pairs_per_sec"]:.0f} '
                f'pairs/s, {m["wall_time"]:.0f} s'
                + (f', {m["others_cpu_share"]:.0%} of the CPU taken by other '
                   'processes' if 'others_cpu_share' in m else ''))
    return result


def report_only(experiment, *, quick=False, out=None, seeds=None,
                overrides=None, command=None):
    """Rewrite tables, plots and README from the finished runs on disk."""
    runs = experiment.runs(quick, seeds, overrides)
    out = pathlib.Path(out) if out else default_out(experiment, quick)
    results = finished_results(runs, out)
    if not results:
        raise FileNotFoundError(f'no finished run of {experiment.name} '
                                f'in {out / "runs"}')
    done = {r['name'] for r in results}
    return write_report(experiment, out, [r for r in runs if r.name in done],
                        results, quick,
                        command or default_command(experiment, quick))


# ------------------------------------------------------------- one run

def execute(run, run_dir, options=RunOptions()):
    """Train, plot and probe one run into a fresh `run_dir`; return result.

    result.json is written last: its presence marks a finished run.
    """
    if run_dir.exists() and not resumable(run, run_dir):
        shutil.rmtree(run_dir)  # an interrupted run: start it afresh
    start, clock = time.perf_counter(), machine.cpu_clock()
    out = pretrain(run.configs.data, run.configs.model, run.configs.train,
                   data_dir=options.data_dir, run_dir=run_dir, plot=False,
                   verbose=options.verbose, verify=options.verify)
    # A resumed run adds the step time of its steps before the resume
    # (their validations and set-up went unrecorded)
    wall_time = time.perf_counter() - start + out['seconds_before_resume']
    # What other work took of the machine while this run trained (since
    # its last resume): a wall-clock budget is fair only on a quiet one
    load = machine.load_between(clock, machine.cpu_clock())
    plots.save_loss_plot(out['history'], run_dir / 'loss',
                         run.configs.train.num_steps, out['baseline'])
    metrics = summarize_history(out['history'], run.configs.data.batch_size)
    metrics.update(wall_time=wall_time, **load,
                   **parameter_counts(out['net']))
    if options.probe:
        metrics.update(probe_run(run, run_dir, out['net'], out['vocab'],
                                 options))
    # model.keras holds the trained weights: the checkpoints are spent
    shutil.rmtree(run_dir / 'checkpoints', ignore_errors=True)
    if not options.keep_models:
        (run_dir / 'model.keras').unlink(missing_ok=True)
    result = {'name': run.name, 'label': run.label, 'seed': run.seed,
              'point': run.point, 'settings': _normal(run.settings),
              'configs': run.configs.to_dict(), 'metrics': metrics,
              'machine': machine.describe()}
    write_part(run_dir, 'result', result)
    del out
    keras.backend.clear_session()
    gc.collect()
    return result


def parameter_counts(net):
    """{'params': all weights, 'params_non_embedding': without the token,
    segment and position embeddings and the MLM decoder (Kaplan et al.
    2020 count non-embedding parameters)}."""
    enc = net.encoder
    embedding = [enc.token_embedding.embeddings,
                 enc.segment_embedding.embeddings, enc.pos_embedding]
    if net.mlm.decoder is not None:
        embedding += [net.mlm.decoder.kernel, net.mlm.decoder.bias]
    else:
        embedding.append(net.mlm.decoder_bias)
    total = sum(math.prod(w.shape) for w in net.weights)
    return {'params': total, 'params_non_embedding': total - sum(
        math.prod(w.shape) for w in embedding)}


def probe_run(run, run_dir, net, vocab, options):
    """Probe a trained net; write probe.json; return the summary scores."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', CollapseWarning)
        report = probe_model(net, vocab, options.data_dir, run.configs.probe,
                             run.configs.data.max_len, options.verify)
    for w in caught:
        if issubclass(w.category, CollapseWarning):
            options.log(f'    warning: {w.message}')
        else:
            warnings.warn_explicit(w.message, w.category, w.filename,
                                   w.lineno)
    write_part(run_dir, 'probe', report)
    # Every seed's attention on several inputs, beside its probe.json
    plots.save_figure(plots.plot_sentence_attention(
        report['attentions'], f'{run.name}: attention of the last block '
        '(each map its own scale)'), run_dir / 'attention', ('png',))
    return summarize(report)


def reprobe(run, run_dir, result, options):
    """Probe a finished run again from its model.keras; update result.json."""
    net, vocab = load_run_model(run_dir)
    result['metrics'].update(probe_run(run, run_dir, net, vocab, options))
    write_part(run_dir, 'result', result)
    keras.backend.clear_session()
    return result


def _normal(obj):
    """JSON round trip, so tuples and lists compare equal."""
    return json.loads(json.dumps(obj))


def resumable(run, run_dir):
    """Whether an unfinished run folder has a checkpoint of this config.

    pretrain resumes such a run where its newest checkpoint left off;
    anything else in the folder (no checkpoint, another config) is stale.
    """
    if not (run_dir / 'checkpoints').is_dir():
        return False
    try:
        stored = read_config(run_dir)
    except (FileNotFoundError, RunDirError):
        return False
    return not config_differences(stored, _normal(run.configs.to_dict()))


def finished(run, run_dir):
    """The stored result of a finished run with this config, else None.

    Raises ValueError if the folder holds a finished run of another config
    (the experiment changed since): delete it or pass rerun=True.
    """
    result = read_part(run_dir, 'result')
    if result is None:
        return None
    wanted = _normal(run.configs.to_dict())
    differ = config_differences(result.get('configs', {}), wanted,
                                sections=tuple(wanted))
    if differ:
        raise ValueError(f'{run_dir} holds a finished run whose config '
                         f'differs in {differ}; delete it or rerun '
                         '(--rerun)')
    return result
