"""An experiment's report: per-run numbers, tables, figures, README.

Pure bookkeeping on finished runs' results and folders (sandbox.runs and
sandbox.plots), with the judgement of sandbox.experiment.reading: no
TensorFlow, so a report can be rewritten anywhere.
"""
import collections

import pandas as pd

from sandbox import plots
from sandbox.experiment.frames import (aggregate, machines_note, records,
                                      results_frame)
from sandbox.experiment.reading import (MIN_SEEDS_TO_RANK, PAIRED_COLUMNS,
                                        SIGNS, compared, contrast,
                                        format_difference, gate_split,
                                        gate_verdict, interpret,
                                        is_finished, referred, verdict)
from sandbox.runs import load_run, write_text
from sandbox.scaling_plot import is_size_experiment, plot_scaling

# The validation set's MLM by the input at each slot (probe.slots)
SLOT_COLUMNS = (
    ('probe_val_mask_l', 'loss at <mask>', '.3f'),
    ('probe_val_mask_acc', 'acc at <mask>', '.3f'),
    ('probe_val_random_l', 'loss at random', '.3f'),
    ('probe_val_random_acc', 'acc at random', '.3f'),
    ('probe_val_kept_l', 'loss at kept', '.3f'),
    ('probe_val_kept_acc', 'acc at kept', '.3f'),
)

# Results-table columns: (column, header (None: results.csv only), format)
RESULT_COLUMNS = (
    ('final_val_mlm_l', 'val MLM loss', '.3f'),
    ('best_val_mlm_l', 'best val MLM loss', '.3f'),
    ('final_val_mlm_acc', 'val MLM acc', '.3f'),
    ('best_val_mlm_acc', 'best val MLM acc', '.3f'),
    ('final_val_nsp_acc', 'val NSP acc', '.3f'),
    ('probe_self_sim', 'self-sim', '.3f'),
    ('probe_intra_sim', 'intra-sim', '.3f'),
    ('probe_anisotropy', 'anisotropy', '.3f'),
    ('probe_mlm_top1', 'top-1', '.3f'),
    ('probe_mlm_top5', 'top-5', '.3f'),
    ('probe_crane_cos', 'crane cos', '.3f'),
    ('probe_pred_kl', 'KL(unigram)', '.2f'),
    ('probe_top_word_share', 'top-word share', '.2f'),
    ('pairs_per_sec', 'pairs/s', '.0f'),
    ('wall_time', 'wall s', '.0f'),
    ('steps', 'steps', '.0f'),
    ('params_non_embedding', 'non-emb. params', ',.0f'),
    # in results.csv only
    ('probe_token_sim', None, '.3f'),
    ('probe_token_sim_centred', None, '.3f'),
    ('probe_eff_rank', None, '.1f'),
    ('probe_collapsed', None, '.2f'),
    ('final_val_ppl', None, '.1f'),
    ('train_mlm_l', None, '.3f'),
    *((col, None, fmt) for col, _, fmt in SLOT_COLUMNS),
)

# Columns shown only where the groups differ in them
SHOWN_IF_VARYING = ('steps', 'params_non_embedding')


def summarize_history(history, batch_size):
    """The results-table numbers of one run's history (or metrics.csv rows).

    final_*: at the last validation; best_*: the best over validations;
    pairs_per_sec: total pairs over total step time, the first (tracing)
    step left out.
    """
    val = [r for r in history if r.get('val_mlm_l') is not None]
    if not val:
        raise ValueError('history has no validation row (val_mlm_l)')
    timed = [r['pairs_per_sec'] for r in history[1:]
             if r.get('pairs_per_sec')] or [history[0]['pairs_per_sec']]
    tail = history[-max(1, len(history) // 10):]
    return {
        'final_val_mlm_l': val[-1]['val_mlm_l'],
        'best_val_mlm_l': min(r['val_mlm_l'] for r in val),
        'final_val_mlm_acc': val[-1]['val_mlm_acc'],
        'best_val_mlm_acc': max(r['val_mlm_acc'] for r in val),
        'final_val_ppl': val[-1]['val_ppl'],
        'final_val_nsp_l': val[-1]['val_nsp_l'],
        'final_val_nsp_acc': val[-1]['val_nsp_acc'],
        'train_mlm_l': sum(r['mlm_l'] for r in tail) / len(tail),
        'train_nsp_l': sum(r['nsp_l'] for r in tail) / len(tail),
        # pairs / time = n / sum(1 / rate): the harmonic mean of the rates
        'pairs_per_sec': len(timed) / sum(1 / r for r in timed),
        'steps': int(history[-1]['step']),
        'pairs_seen': int(history[-1]['step']) * batch_size,
    }


def write_tables(out, results):
    """results.csv, results.md (aggregated) and runs.csv (one row a run).

    Returns (the runs' DataFrame, the aggregated rows as dicts).
    """
    frame = results_frame(results)
    table = aggregate(frame, [c for c, *_ in RESULT_COLUMNS])
    rows = records(table)
    for name, text in (('results.csv', table.to_csv(index=False)),
                       ('results.md', markdown_table(rows)),
                       ('runs.csv', frame.to_csv(index=False))):
        write_text(out / name, text)
    return frame, rows


def format_cell(mean, std, fmt):
    """'6.812 ± 0.021', '6.812' (one seed) or '–' (no value)."""
    if mean is None:
        return '–'
    return f'{mean:{fmt}}' + (f' ± {std:{fmt}}' if std is not None else '')


def markdown_table(rows, columns=RESULT_COLUMNS, counts=None):
    """A Markdown table of aggregated rows, mean ± std; nothing marked best.

    Which differences are established is the paired table's job
    (paired_markdown): a best mean inside the seed noise is not a result.
    counts: {label: n} in place of each row's runs, for columns measured
    on fewer of them.
    """
    counts = counts or {}
    columns = [c for c in columns if c[1] is not None and any(
        r.get(f'{c[0]}_mean') is not None for r in rows) and (
        c[0] not in SHOWN_IF_VARYING or
        len({r.get(f'{c[0]}_mean') for r in rows} - {None}) > 1)]
    cells = pd.DataFrame(
        [[r['label'], str(counts.get(r['label'], r['n']))] +
         [format_cell(r.get(f'{col}_mean'), r.get(f'{col}_std'), fmt)
          for col, _, fmt in columns] for r in rows],
        columns=['group', 'n'] + [h for _, h, _ in columns])
    return cells.to_markdown(index=False, tablefmt='pipe',
                             disable_numparse=True) + '\n'


def paired_markdown(diffs, base_label, references=None):
    """The paired differences from the baseline arm (or an arm's entry in
    `references`) as a Markdown table: 'seeds' counts the first column's;
    a cell over other seeds names its count, one over none is '–'."""
    references = references or {}
    columns = [c for c in PAIRED_COLUMNS
               if any(c[0] in d for d in diffs.values())]

    def cell(diff, fmt, seeds):
        if diff is None or diff.n == 0:
            return '–'
        text = format_difference(diff, fmt)
        return text if diff.n == seeds else f'{text} ({diff.n} seeds)'

    lines = []
    for label, row in diffs.items():
        seeds = next(d.n for d in row.values())
        lines.append([f'{label} − {references.get(label, base_label)}',
                      str(seeds)] +
                     [cell(row.get(col), fmt, seeds)
                      for col, _, fmt in columns])
    other = 'reference' if referred(references, diffs) else 'baseline'
    cells = pd.DataFrame(
        lines, columns=[f'arm − {other}', 'seeds'] +
        [h for _, h, _ in columns])
    return cells.to_markdown(index=False, tablefmt='pipe',
                             disable_numparse=True) + '\n'


def literature_markdown(experiment, frame, rows, baseline):
    """The literature's predictions next to the paired differences."""
    headers = {col: (header, fmt) for col, header, fmt in PAIRED_COLUMNS}
    finished = {r['label']: r for r in rows if is_finished(r)}
    lines = []
    for key, (col, sign, source) in experiment.predictions.items():
        header, fmt = headers.get(col, (col, '+.3f'))
        arm, other = experiment.contrast(key)
        diff = contrast(frame, rows, arm, other, col, baseline)
        # a bare arm: against the baseline, which is also its reference
        name = arm if other == experiment.baseline_label == \
            experiment.reference(arm) else f'{arm} − {other}'
        missing = [a for a in (arm, other) if a not in finished]
        in_kind = None if diff or missing else gate_verdict(
            gate_split(frame, arm, other, baseline), arm, col, sign)
        means = (f'{finished[arm][f"{col}_mean"]:{fmt.lstrip("+")}} vs '
                 f'{finished[other][f"{col}_mean"]:{fmt.lstrip("+")}} '
                 '(means)') if in_kind else '–'
        lines.append([name, f'{header}: {SIGNS[sign]} ({source})',
                      format_difference(diff, fmt) if diff else means,
                      f'not run yet ({" and ".join(missing)})' if missing
                      else in_kind or verdict(diff, sign, fmt.lstrip('+'))])
    cells = pd.DataFrame(lines, columns=['arm', 'predicted', 'measured',
                                         'verdict'])
    return cells.to_markdown(index=False, tablefmt='pipe',
                             disable_numparse=True) + '\n'


def size_note(runs, quick):
    """A sentence on how big the runs were."""
    c = runs[0].configs
    per_arm = collections.Counter(r.label for r in runs).values()
    least, most = min(per_arm), max(per_arm)
    seeds = (f'{most} seed{"s" if most > 1 else ""}' if least == most
             else f'{least}-{most} seeds per arm')
    size = ('At --quick size, a smoke test of the code and not an '
            'experiment' if quick else 'At standard size')
    counts = sorted({r.configs.train.num_steps for r in runs})
    steps = (f'{c.train.time_budget:g} minutes of steps (at most '
             f'{c.train.num_steps})' if c.train.time_budget else
             f'{counts[0]} steps' if len(counts) == 1 else
             f'{counts[0]}-{counts[-1]} steps by arm')
    return (f'{size} ({steps} of {c.data.batch_size} pairs of up to '
            f'{c.data.max_len} tokens, {seeds}):')


def write_report(experiment, out, runs, results, quick, command):
    """Tables, figures and README.md of an experiment's finished runs."""
    frame, rows = write_tables(out, results)
    groups = {}
    for result in results:
        groups.setdefault(result['label'], []).append(
            load_run(out / 'runs' / result['name']))
    # the baseline arm first: curves.png's reference under every facet
    groups = experiment.baseline_first(groups)
    baseline = next(iter(groups.values()))[0]['baseline']
    # --quick compares nothing: its arms have not learned
    diffs = {} if quick else compared(frame, rows, experiment.baseline_label,
                                      baseline, experiment.references)
    images = save_figures(experiment, out, groups, diffs)
    images += save_scaling(experiment, out, frame, rows,
                           baseline['mlm_l'] if baseline else None)
    write_text(out / 'README.md', readme(
        experiment, frame, rows, diffs, images, runs[0].configs.probe,
        command, size_note(runs, quick), baseline, quick))
    return rows


# Per-step metrics of the NSP head, left out where it is not trained
NSP_CURVES = ('nsp_l', 'val_nsp_l', 'nsp_acc', 'val_nsp_acc')


def curve_rows(run, x_axis):
    """A loaded run's metric rows, each with its 'x' on `x_axis`; no NSP
    curves for a run whose NSP head is not trained."""
    rows = run['metrics']
    if run['config']['train'].get('nsp_weight', 1.0) == 0:
        rows = [{k: v for k, v in r.items() if k not in NSP_CURVES}
                for r in rows]
    if x_axis == 'epoch':
        per_epoch = run['config'].get('steps_per_epoch')
        if not per_epoch:
            raise ValueError(f'{run["dir"]}: config.json has no '
                             'steps_per_epoch (a run of older code): '
                             'rerun it (--rerun) for an epoch axis')
        xs = [r['step'] / per_epoch for r in rows]
    elif x_axis == 'time':
        xs = plots.elapsed_seconds(
            rows, run['config']['data']['batch_size']) / 60
    elif x_axis == 'budget':
        xs = [r['step'] / run['config']['train']['num_steps'] for r in rows]
    else:
        xs = [r['step'] for r in rows]
    return [{**r, 'x': x} for r, x in zip(rows, xs)]


# The curves' x-axis label of each Experiment.x_axis
X_LABELS = {'step': 'step', 'epoch': 'epoch',
            'time': 'training time (minutes, steps only)',
            'budget': 'share of the budget (step / the arm\'s steps)'}


def save_figures(experiment, out, groups, diffs):
    """curves, paired differences and, once probed, layers and attention.

    Args:
        groups: {label: [loaded runs, one a seed]}.
        diffs: compared's paired differences (none: no summary figure).
    Returns:
        [(file stem, caption)] of the figures written.
    """
    title = f'{experiment.name}: {experiment.question}'
    first = next(iter(groups.values()))[0]
    colors = {label: plots.color(i, len(groups))
              for i, label in enumerate(groups)}
    plots.save_figure(plots.plot_curves(
        [(label, [curve_rows(run, experiment.x_axis) for run in group])
         for label, group in groups.items()], smooth=experiment.smooth,
        log=experiment.log_scale, title=title, baseline=first['baseline'],
        xlabel=X_LABELS[experiment.x_axis]), out / 'curves')
    grid = ', each seed interpolated onto one time grid' \
        if experiment.x_axis == 'time' else ''
    images = [('curves', f'Loss curves, mean ± std over seeds{grid} (train '
               f'EMA {experiment.smooth}; circles: validation at mask rate '
               '0.15; dashed: the unigram baseline and NSP chance)')]
    for stale in out.glob('summary.*'):  # figures of an older report
        stale.unlink()
    if diffs:
        references = experiment.references
        named = referred(references, diffs)
        plots.save_figure(plots.plot_paired(
            [(f'{label} − {references[label]}' if label in named
              else label, row, colors[label])
             for label, row in diffs.items()],
            'reference' if named else experiment.baseline_label,
            [(h, c) for c, h, _ in PAIRED_COLUMNS], title=title),
            out / 'paired')
        images.append(('paired', 'Differences from the baseline arm'
                       + (f' `{experiment.baseline_label}` (or the arm '
                          'named)' if named else '') +
                       ', paired by seed, with 95% t-intervals: an interval '
                       'that crosses 0 establishes nothing'))
    probed = {label: [run['probe'] for run in group
                      if run['probe'] is not None]
              for label, group in groups.items()}
    if all(probed.values()):
        plots.save_figure(plots.plot_layers(list(probed.items()),
                                            title=title), out / 'layers')
        plots.save_figure(plots.plot_last_attention(
            list(probed), [p[0]['attention'] for p in probed.values()]),
            out / 'attention')
        images += [('layers', 'Probes per layer on held-out sentences '
                    '(after Ethayarajh 2019)'),
                   ('attention', 'Attention weights of the last block '
                    '(first seed of each group; every seed\'s, on several '
                    'inputs: runs/<run>/attention.png)')]
    return images


def save_scaling(experiment, out, frame, rows, unigram):
    """scaling.png where the groups' sizes differ (is_size_experiment).

    A line per choice of the grid's first axis, through the groups that
    share it. Returns [(file stem, caption)], empty if none was drawn.
    """
    for stale in out.glob('scaling.*'):
        stale.unlink()
    params = [r.get('params_non_embedding_mean') for r in rows]
    if not is_size_experiment(params) or not all(map(is_finished, rows)):
        return []
    axis, *others = [a.name for a in experiment.axes]
    point = frame.groupby('label', sort=False)[[axis, *others]].first()
    lines = {}
    for r in rows:
        # 'num_blks=1, width=64': line 'num_blks=1', point 'width=64'
        p = point.loc[r['label']]
        line = f'{axis}={p[axis]}' if others else axis
        name = ', '.join(f'{a}={p[a]}' for a in others) or r['label']
        lines.setdefault(line, []).append(
            (r['params_non_embedding_mean'], r['final_val_mlm_l_mean'],
             r['final_val_mlm_l_std'], name))
    plots.save_figure(plot_scaling(
        [(label, plots.color(i, len(lines)), points)
         for i, (label, points) in enumerate(lines.items())],
        baseline=unigram,
        title=f'{experiment.name}: {experiment.question}'), out / 'scaling')
    return [('scaling', 'Final validation MLM loss against non-embedding '
             f'parameters (after Kaplan et al. 2020, Fig. 6), mean ± std '
             f'over seeds, a line per {axis}; dashed: the unigram '
             'baseline')]


def readme(experiment, frame, rows, diffs, images, probe_config, command,
           size_note, baseline=None, quick=False):
    """The experiment's README.md: question, command, tables, figures."""
    text = [f'# {experiment.name}: {experiment.question}', '']
    if experiment.background:
        text += [experiment.background.strip(), '']
    text += ['```bash', command, '```', '',
             '## Results', '',
             markdown_table(rows),
             'Mean ± sample std over seeds. *val*: the fixed validation '
             'set (every WikiText-2 validation pair, masked once at rate '
             '0.15 with 80/10/10, the same for every run); '
             '*final*: at the last step. NSP accuracy is left blank (–) '
             'for arms that do not train the NSP head. Probes on the last '
             f'layer of {probe_config.num_sentences} held-out '
             f'{probe_config.split} sentences: *self-sim*, the '
             'mean cosine of a word\'s vectors across sentences; '
             '*intra-sim*, of a sentence\'s words with their mean; '
             '*anisotropy*, of random words from different sentences; '
             '*top-1/top-5*, MLM accuracy with every chosen word '
             '`<mask>`-ed; *crane cos*, d2l\'s "crane" bird vs machine. '
             '*pairs/s* (the first, tracing step left out) and *wall s* '
             'are clock times on the machines that ran the runs '
             f'({machines_note(frame)}); on a shared CPU they are noisy, '
             'and across machines they do not compare. Per-run numbers '
             '(with each run\'s machine): `runs.csv`; '
             'per-step metrics and per-layer probes: `runs/<run>/`.', '']
    if any(r.get('probe_val_mask_l_mean') is not None for r in rows):
        text += ['### Validation by slot kind', '',
                 markdown_table(rows, SLOT_COLUMNS, frame.groupby(
                     'label')['probe_val_mask_l'].count().to_dict()),
                 'The fixed validation set\'s MLM loss and accuracy apart '
                 'for the slots whose input is `<mask>` (80% of them), a '
                 'random word (10%) and the word itself, kept (10%); '
                 'weighted by their shares they give *val MLM loss* and '
                 '*acc*. An arm that never trains on one kind is scored on '
                 'it all the same; `<mask>` is a kind every arm trains '
                 'on.', '']
    if diffs:
        named = referred(experiment.references, diffs)
        text += ['### Paired differences from the baseline arm'
                 + (' or a reference' if named else ''), '',
                 paired_markdown(diffs, experiment.baseline_label,
                                 experiment.references),
                 'Mean of the per-seed differences (arm − baseline'
                 + (', or arm − the arm it differs from in one factor '
                    'where the row names one' if named else '')
                 + ', the same seed: the same data order and the same '
                 'validation set) with its 95% t-interval (scipy.stats); '
                 '* marks an '
                 f'interval that excludes 0 over at least '
                 f'{MIN_SEEDS_TO_RANK} seeds. Only arms past the unigram '
                 'gate are listed, and NSP only where it was learned.'
                 + (' *at <mask>*: on the validation slots whose input is '
                    '`<mask>` (80% of them), which every arm trains on; '
                    'by slot kind in `results.csv` (`probe_val_*`).'
                    if any('probe_val_mask_l' in d for d in diffs.values())
                    else ''), '']
    if experiment.predictions and not quick:
        text += ['### What the literature predicts, and what we measured',
                 '', literature_markdown(experiment, frame, rows,
                                         baseline),
                 '*measured*: arm − baseline (a row `a − b`: a − b), '
                 'paired by seed, with its 95% t-interval. *agrees* / '
                 '*contradicts*: the interval excludes 0 on the '
                 'predicted / the other side; a '
                 'prediction of no difference is *consistent* when the '
                 'interval includes 0, which says only that no effect '
                 'larger than its ends was found.', '']
    for stem, caption in images:
        text += [f'![{caption}]({stem}.png)', '', f'*{caption}.*', '']
    reading = (f'{size_note} every arm is still near the unigram baseline, '
               'so nothing is compared or ranked. Run it without --quick '
               'for the experiment.' if quick else
               interpret(experiment, frame, rows, size_note, baseline,
                         diffs))
    text += ['## What the numbers say', '', reading, '']
    return '\n'.join(text)
