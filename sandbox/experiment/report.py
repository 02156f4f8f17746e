"""An experiment's report: per-run numbers, tables, figures, README.

Pure bookkeeping on finished runs' results and folders (sandbox.runs and
sandbox.plots): no TensorFlow, so a report can be rewritten anywhere.
"""
import csv
import io
import math

from sandbox import plots
from sandbox.runs import load_run, write_text

# Results-table columns: (column, header, format, better: 'min'/'max'/None)
RESULT_COLUMNS = (
    ('final_val_mlm_l', 'val MLM loss', '.3f', 'min'),
    ('best_val_mlm_l', 'best val MLM loss', '.3f', 'min'),
    ('final_val_mlm_acc', 'val MLM acc', '.3f', 'max'),
    ('best_val_mlm_acc', 'best val MLM acc', '.3f', 'max'),
    ('final_val_nsp_acc', 'val NSP acc', '.3f', 'max'),
    ('probe_self_sim', 'self-sim', '.3f', None),
    ('probe_intra_sim', 'intra-sim', '.3f', None),
    ('probe_anisotropy', 'anisotropy', '.3f', None),
    ('probe_mlm_top1', 'top-1', '.3f', 'max'),
    ('probe_mlm_top5', 'top-5', '.3f', 'max'),
    ('probe_crane_cos', 'crane cos', '.3f', None),
    ('probe_pred_kl', 'KL(unigram)', '.2f', None),
    ('probe_top_word_share', 'top-word share', '.2f', None),
    ('pairs_per_sec', 'pairs/s', '.0f', 'max'),
    ('wall_time', 'wall s', '.0f', None),
    # in results.csv only
    ('probe_token_sim', None, '.3f', None),
    ('probe_token_sim_centred', None, '.3f', None),
    ('probe_eff_rank', None, '.1f', None),
    ('probe_collapsed', None, '.2f', None),
    ('final_val_ppl', None, '.1f', None),
    ('train_mlm_l', None, '.3f', None),
)



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


def aggregate(results, columns=tuple(c for c, *_ in RESULT_COLUMNS)):
    """Mean and sample std over seeds of each column, one row a group.

    Args:
        results: run results (dicts with 'label' and 'metrics').
    Returns:
        Rows in order of first appearance: label, n (runs), and for each
        column <col>_mean and <col>_std (None where no run has a value;
        std None for a single value).
    """
    groups = {}
    for result in results:
        groups.setdefault(result['label'], []).append(result)
    rows = []
    for label, group in groups.items():
        row = {'label': label, 'n': len(group)}
        for col in columns:
            values = [r['metrics'][col] for r in group
                      if r['metrics'].get(col) is not None]
            mean = sum(values) / len(values) if values else None
            row[f'{col}_mean'] = mean
            row[f'{col}_std'] = math.sqrt(
                sum((v - mean) ** 2 for v in values) / (len(values) - 1)) \
                if len(values) > 1 else None
        rows.append(row)
    return rows


def _csv_text(rows, fields):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fields, extrasaction='ignore',
                            lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def format_cell(mean, std, fmt):
    """'6.812 ± 0.021', '6.812' (one seed) or '–' (no value)."""
    if mean is None:
        return '–'
    return f'{mean:{fmt}}' + (f' ± {std:{fmt}}' if std is not None else '')


# Seeds every group needs before a table or plot marks a best group
MIN_SEEDS_TO_RANK = 3


def can_rank(rows):
    """Whether every aggregated row has MIN_SEEDS_TO_RANK runs."""
    return all(r['n'] >= MIN_SEEDS_TO_RANK for r in rows)


def markdown_table(rows, columns=RESULT_COLUMNS):
    """A Markdown table of aggregated rows; the best mean in bold.

    Nothing is bold unless every group has MIN_SEEDS_TO_RANK seeds: with
    fewer, no difference between groups is established.
    """
    columns = [c for c in columns if c[1] is not None and any(
        r.get(f'{c[0]}_mean') is not None for r in rows)]
    lines = ['| group | n | ' + ' | '.join(h for _, h, _, _ in columns) +
             ' |', '|' + '---|' * (len(columns) + 2)]
    best = {}  # the best mean as printed; none if all print the same
    for col, _, fmt, better in columns:
        values = [r[f'{col}_mean'] for r in rows
                  if r[f'{col}_mean'] is not None]
        shown = {f'{v:{fmt}}' for v in values}
        if better and len(shown) > 1 and can_rank(rows):
            best[col] = f'{(min if better == "min" else max)(values):{fmt}}'
    for r in rows:
        cells = []
        for col, _, fmt, _ in columns:
            cell = format_cell(r[f'{col}_mean'], r[f'{col}_std'], fmt)
            if col in best and r[f'{col}_mean'] is not None and \
                    f'{r[f"{col}_mean"]:{fmt}}' == best[col]:
                cell = f'**{cell}**'
            cells.append(cell)
        lines.append(f'| {r["label"]} | {r["n"]} | ' + ' | '.join(cells) +
                     ' |')
    return '\n'.join(lines) + '\n'


def write_tables(out, results):
    """results.csv, results.md (aggregated) and runs.csv (one row a run)."""
    rows = aggregate(results)
    columns = [c for c, *_ in RESULT_COLUMNS]
    fields = ['label', 'n'] + [f'{c}_{s}' for c in columns
                               for s in ('mean', 'std')]
    for name, text in (
            ('results.csv', _csv_text(rows, fields)),
            ('results.md', markdown_table(rows)),
            ('runs.csv', _csv_text(
                [{'label': r['label'], 'seed': r['seed'], 'name': r['name'],
                  **r['metrics']} for r in results],
                ['label', 'seed', 'name'] + sorted(
                    {k for r in results for k in r['metrics']}))),):
        write_text(out / name, text)
    return rows


# The unigram gate: an arm is compared only once its validation MLM loss
# is GATE_MARGIN nats under the unigram's and its accuracy twice the
# unigram's; NSP counts as learned above NSP_LEARNED accuracy
GATE_MARGIN = 0.1
NSP_LEARNED = 0.55


def clears_gate(row, baseline):
    """Whether an aggregated row has learned beyond the unigram baseline."""
    return baseline is not None and \
        row['final_val_mlm_l_mean'] < baseline['mlm_l'] - GATE_MARGIN and \
        row['final_val_mlm_acc_mean'] >= 2 * baseline['mlm_acc']


def interpret(experiment, rows, size_note, baseline=None):
    """One paragraph of what the numbers say, from the aggregated rows.

    Nothing is compared unless it clears the unigram gate (clears_gate,
    against `baseline`, baseline.baselines' dict); arms share their seeds,
    so differences are paired by seed, and none is claimed with fewer
    than MIN_SEEDS_TO_RANK seeds.
    """
    rows = [{**r, 'label': f"`{r['label']}`"} for r in rows  # as code
            if r.get('final_val_mlm_l_mean') is not None]
    if not rows:
        return 'No finished run yet.'
    base = next((r for r in rows if r['label'] ==
                 f'`{experiment.baseline_label}`'), rows[0])
    return ' '.join([size_note, *_on_the_gate(rows, base, baseline),
                     *_on_nsp(rows), *_on_the_probes(rows),
                     *_on_speed_and_seeds(rows)])


def _on_the_gate(rows, base, baseline, key='final_val_mlm_l'):
    """Which arms cleared the unigram gate, and their paired differences."""
    if baseline is None:
        return ['No unigram baseline is recorded with these runs, so no arm '
                'can be shown to have learned: nothing is compared.']
    failed = [r['label'] for r in rows if not clears_gate(r, baseline)]
    parts = []
    if failed:
        parts.append(
            f'{", ".join(failed)} did not clear the unigram gate (validation '
            f'MLM loss {GATE_MARGIN} nats under the unigram\'s '
            f'{baseline["mlm_l"]:.3f} and accuracy at least twice its '
            f'{baseline["mlm_acc"]:.3f}): they have learned little beyond '
            'word frequencies and are not compared.')
    if not clears_gate(base, baseline):
        parts.append(f'The baseline arm {base["label"]} is among them, so '
                     'no arm is compared with it.')
        return parts
    others = [r for r in rows if r is not base and clears_gate(r, baseline)]
    if others:
        n = min(r['n'] for r in [base] + others)
        changes = ', '.join(
            f'{r["label"]} {r[f"{key}_mean"] - base[f"{key}_mean"]:+.3f}'
            for r in others)
        parts.append(
            f'Against the baseline arm ({base["label"]}), paired by seed '
            f'over {n} seed{"s" if n > 1 else ""}, the final validation MLM '
            f'loss changes by: {changes}. ' +
            (f'With fewer than {MIN_SEEDS_TO_RANK} seeds no difference is '
             'established.' if n < MIN_SEEDS_TO_RANK else
             'No paired t-interval is computed yet, so none is claimed.'))
    return parts


def _on_nsp(rows):
    """Which arms' NSP accuracy is above chance."""
    above = [f'{r["label"]} ({r["final_val_nsp_acc_mean"]:.3f})'
             for r in rows if r['final_val_nsp_acc_mean'] > NSP_LEARNED]
    if not above:
        return [f'NSP accuracy is at most {NSP_LEARNED} in every arm: at '
                'chance, nothing to compare.']
    return [f'NSP accuracy is above {NSP_LEARNED} for ' + ', '.join(above) +
            '; the other arms are at chance.']


def _on_the_probes(rows):
    """Sentences on the last layer's self-similarity and on collapse."""
    parts = []
    if all(r.get('probe_self_sim_mean') is not None for r in rows):
        sims = sorted((r['probe_self_sim_mean'], r['label']) for r in rows)
        aniso = sorted({f'{r["probe_anisotropy_mean"]:.2f}' for r in rows})
        parts.append(
            f'In the last layer, a word\'s vectors across sentences have '
            f'mean cosine {sims[0][0]:.2f} ({sims[0][1]}) to '
            f'{sims[-1][0]:.2f} ({sims[-1][1]}), against an anisotropy '
            f'baseline of {aniso[0]}' +
            (f'-{aniso[-1]}.' if len(aniso) > 1 else '.'))
    collapsed = [r['label'] for r in rows
                 if (r.get('probe_collapsed_mean') or 0) > 0]
    if collapsed:
        which = 'every group' if len(collapsed) == len(rows) else \
            ', '.join(collapsed)
        parts.append(
            f'The collapse check fires for {which}: at masked positions '
            'the predictions stay close to the training unigram (or mostly '
            'name its most frequent word), so the model predicts word '
            'frequencies, not words in context.')
    return parts


def _on_speed_and_seeds(rows):
    """Sentences on training speed and on how far the seeds can be read."""
    parts = []
    speed = sorted((r['pairs_per_sec_mean'], r['label']) for r in rows)
    if speed[-1][0] > 1.15 * speed[0][0]:
        parts.append(f'Training speed ranges {speed[0][0]:.0f} pairs/s '
                     f'({speed[0][1]}) to {speed[-1][0]:.0f} '
                     f'({speed[-1][1]}).')
    if min(r['n'] for r in rows) < MIN_SEEDS_TO_RANK:
        parts.append(f'With fewer than {MIN_SEEDS_TO_RANK} seeds the '
                     'standard errors are rough; read differences of a few '
                     'hundredths as noise.')
    return parts


def size_note(runs, quick):
    """A sentence on how big the runs were."""
    c = runs[0].configs
    seeds = sorted({r.seed for r in runs})
    return (f'{"At --quick size" if quick else "At full size"} '
            f'({c.train.num_steps} steps of {c.data.batch_size} pairs of '
            f'up to {c.data.max_len} tokens, {len(seeds)} seed'
            f'{"s" if len(seeds) > 1 else ""}):')


def write_report(experiment, out, runs, results, quick, command):
    """Tables, figures and README.md of an experiment's finished runs."""
    rows = write_tables(out, results)
    groups = {}
    for result in results:
        groups.setdefault(result['label'], []).append(
            load_run(out / 'runs' / result['name']))
    images = save_figures(experiment, out, rows, groups)
    baseline = next(iter(groups.values()))[0]['baseline']
    write_text(out / 'README.md', readme(
        experiment, rows, images, runs[0].configs.probe, command,
        size_note(runs, quick), baseline))
    return rows


def save_figures(experiment, out, rows, groups):
    """curves, summary and, once probed, layers and attention figures.

    Args:
        groups: {label: [loaded runs, one a seed]}.
    Returns:
        [(file stem, caption)] of the figures written.
    """
    title = f'{experiment.name}: {experiment.question}'
    first = next(iter(groups.values()))[0]
    plots.save_figure(plots.plot_curves(
        [(label, [run['metrics'] for run in group])
         for label, group in groups.items()], smooth=experiment.smooth,
        log=experiment.log_scale, title=title, baseline=first['baseline']),
        out / 'curves')
    plots.save_figure(plots.plot_summary(rows, title=title,
                                         mark_best=can_rank(rows)),
                      out / 'summary')
    images = [('curves', f'Loss curves, mean ± std over seeds (train EMA '
               f'{experiment.smooth}; circles: validation at mask rate '
               '0.15)'),
              ('summary', 'Final numbers per group' + (
                  ' (the best circled)' if can_rank(rows) else
                  f' (fewer than {MIN_SEEDS_TO_RANK} seeds: none ranked)'))]
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
                    '(first seed of each group)')]
    return images


def readme(experiment, rows, images, probe_config, command, size_note,
           baseline=None):
    """The experiment's README.md: question, command, table, figures."""
    text = [f'# {experiment.name}: {experiment.question}', '']
    if experiment.background:
        text += [experiment.background.strip(), '']
    text += ['```bash', command, '```', '',
             '## Results', '',
             markdown_table(rows),
             'Mean ± sample std over seeds. *val*: the fixed validation '
             'set (every WikiText-2 validation pair, masked once at rate '
             '0.15 with 80/10/10, the same for every run); '
             '*final*: at the last step. Probes on the last layer of '
             f'{probe_config.num_sentences} held-out '
             f'{probe_config.split} sentences: *self-sim*, the '
             'mean cosine of a word\'s vectors across sentences; '
             '*intra-sim*, of a sentence\'s words with their mean; '
             '*anisotropy*, of random words from different sentences; '
             '*top-1/top-5*, MLM accuracy with every chosen word '
             '`<mask>`-ed; *crane cos*, d2l\'s "crane" bird vs machine. '
             '*pairs/s* (the first, tracing step left out) and *wall s* '
             'are clock times on the machine that ran the sweep; on a '
             'shared CPU they are noisy. Per-run numbers: `runs.csv`; '
             'per-step metrics and per-layer probes: `runs/<run>/`.', '']
    for stem, caption in images:
        text += [f'![{caption}]({stem}.png)', '', f'*{caption}.*', '']
    text += ['## What the numbers say', '',
             interpret(experiment, rows, size_note, baseline), '']
    return '\n'.join(text)
