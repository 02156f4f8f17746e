"""Reading an experiment's numbers: the unigram gate, paired differences,
the literature's predictions, and the paragraph that says what they show.

Judgement only, on the runs' DataFrame and aggregated rows: no files, no
TensorFlow.
"""
from sandbox.experiment.frames import NOT_RECORDED
from sandbox.experiment.stats import (by_seed, is_established,
                                      paired_difference, t_interval)

# Seeds every group needs before any difference is claimed
MIN_SEEDS_TO_RANK = 3
# The unigram gate: an arm is compared only once its validation MLM loss
# is GATE_MARGIN nats under the unigram's and its accuracy twice the
# unigram's; NSP counts as learned above NSP_LEARNED accuracy with a 95%
# interval above chance
GATE_MARGIN = 0.1
NSP_LEARNED = 0.55
# An arm overfits when its final validation MLM loss ends this many nats
# above its best
OVERFIT_MARGIN = 0.1
# On a wall-clock budget, a run shared its machine (and pairs with no
# other) when other processes and the hypervisor took more than this share
# of the machine's CPU time while it trained
SHARED_LOAD = 0.1
# The load columns a run records (machine.load_between)
LOAD_COLUMNS = ('others_cpu_share', 'steal_share')
# (column, header, format) of the paired differences from the baseline arm
PAIRED_COLUMNS = (('final_val_mlm_l', 'Δ val MLM loss', '+.3f'),
                  ('final_val_mlm_acc', 'Δ val MLM acc', '+.3f'),
                  ('final_val_nsp_acc', 'Δ val NSP acc', '+.3f'),
                  # the probe's, on the validation slots shown as <mask>
                  ('probe_val_mask_l', 'Δ val MLM loss at <mask>', '+.3f'),
                  ('probe_val_mask_acc', 'Δ val MLM acc at <mask>', '+.3f'))


def is_finished(row):
    """Whether an aggregated row has a finished run (a validation loss)."""
    return row.get('final_val_mlm_l_mean') is not None


def learned(loss, acc, baseline):
    """Whether a validation MLM loss and accuracy clear the unigram gate."""
    return loss < baseline['mlm_l'] - GATE_MARGIN and \
        acc >= 2 * baseline['mlm_acc']


def clears_gate(row, baseline):
    """Whether an aggregated row has learned beyond the unigram baseline."""
    return baseline is not None and is_finished(row) and learned(
        row['final_val_mlm_l_mean'], row['final_val_mlm_acc_mean'], baseline)


def gate_split(frame, arm, other, baseline):
    """(the arm that learned, the one that did not, seeds) where, in every
    seed paired_seeds gives, one arm's run cleared the unigram gate and
    the other's did not: a difference in kind, which no interval
    measures; else None."""
    if baseline is None:
        return None
    passed = by_seed(frame.assign(learned=[
        learned(loss, acc, baseline) for loss, acc in
        zip(frame['final_val_mlm_l'], frame['final_val_mlm_acc'])]),
        'learned')
    seeds = sorted(paired_seeds(frame, arm, other))
    for good, bad in ((arm, other), (other, arm)):
        if seeds and all(passed[good][s] and not passed[bad][s]
                         for s in seeds):
            return good, bad, seeds
    return None


def nsp_learned(frame, label):
    """Whether a group's NSP accuracy is over NSP_LEARNED with its 95%
    t-interval over chance (0.5); False for an untrained head."""
    if 'final_val_nsp_acc' not in frame:
        return False
    values = frame.loc[frame['label'] == label, 'final_val_nsp_acc']
    values = values.dropna().to_numpy()
    if not len(values):
        return False
    mean, low, _ = t_interval(values)
    return mean > NSP_LEARNED and (len(values) < 2 or low > 0.5)


def compared(frame, rows, base_label, baseline, references=None):
    """{label: {column: PairedDifference}} of the arms past the gate.

    Each arm against the baseline arm, or against its entry in
    `references` ({label: other label}), where both clear the gate (none
    against a baseline arm under it). NSP differences only between arms
    whose NSP has been learned.
    """
    references = references or {}
    out = {}
    for row in rows:
        other = references.get(row['label'], base_label)
        for col, _, _ in PAIRED_COLUMNS:
            diff = None if row['label'] == base_label else contrast(
                frame, rows, row['label'], other, col, baseline)
            if diff is not None:
                out.setdefault(row['label'], {})[col] = diff
    return out


def referred(references, diffs):
    """The arms of `diffs` compared with their entry in `references`
    (Experiment.references), not with the baseline arm."""
    return set(references) & set(diffs)


def contrast(frame, rows, arm, other, column, baseline):
    """PairedDifference arm − other of `column`, paired by seed; None
    unless both arms clear the gate (and, for NSP, both learned it)."""
    by_label = {r['label']: r for r in rows}
    if column not in frame or not all(
            label in by_label and clears_gate(by_label[label], baseline)
            for label in (arm, other)):
        return None
    if column == 'final_val_nsp_acc' and not (
            nsp_learned(frame, arm) and nsp_learned(frame, other)):
        return None
    values = by_seed(frame, column)
    seeds = paired_seeds(frame, arm, other)
    return paired_difference(
        {s: v for s, v in values[arm].items() if s in seeds}, values[other])


def on_the_clock(frame):
    """Whether the runs trained for a wall-clock budget (train.time_budget)."""
    return 'train.time_budget' in frame and \
        frame['train.time_budget'].notna().any()


def load(frame):
    """Per run: the share of its machine's CPU time that other work took
    (processes and hypervisor; 0 where not recorded)."""
    return frame.reindex(columns=list(LOAD_COLUMNS)).fillna(0.0).sum(axis=1)


def paired_seeds(frame, arm, other):
    """The seeds in which both arms have a finished run (a validation
    loss); on a wall-clock budget, only those whose two runs ran on one
    recorded machine (minutes differ between machines) and neither shared
    it (load above SHARED_LOAD)."""
    runs = frame[frame['final_val_mlm_l'].notna()
                 & frame['label'].isin([arm, other])]
    machines = by_seed(runs, 'machine')
    ours, theirs = machines.get(arm, {}), machines.get(other, {})
    seeds = set(ours) & set(theirs)
    if not on_the_clock(frame):
        return seeds
    quiet = by_seed(runs.assign(quiet=load(runs) <= SHARED_LOAD), 'quiet')
    return {s for s in seeds if ours[s] != NOT_RECORDED
            and ours[s] == theirs[s] and quiet[arm][s] and quiet[other][s]}


def format_difference(diff, fmt):
    """'+0.012 [-0.010, +0.034]', with ' *' if established; the mean alone
    below 2 seeds."""
    if diff.n < 2:
        return f'{diff.mean:{fmt}}'
    return f'{diff.mean:{fmt}} [{diff.low:{fmt}}, {diff.high:{fmt}}]' + (
        ' *' if is_established(diff, MIN_SEEDS_TO_RANK) else '')


# How a predicted sign reads: arm - baseline below, near or above 0
SIGNS = {-1: 'lower', 0: 'no difference', 1: 'higher'}


# The sign of (an arm that did not learn − one that did) in these columns
GATE_SIGNS = {'final_val_mlm_l': 1, 'final_val_mlm_acc': -1}


def gate_verdict(split, arm, column, sign):
    """Whether a gate_split agrees with the predicted sign of arm − other
    in `column`; None if it cannot say (too few seeds, another column)."""
    if split is None or column not in GATE_SIGNS or \
            len(split[2]) < MIN_SEEDS_TO_RANK:
        return None
    good, bad, seeds = split
    found = GATE_SIGNS[column] * (1 if bad == arm else -1)
    return (f'{"agrees" if found == sign else "contradicts"}: `{bad}` stays '
            f'under the unigram gate in all {len(seeds)} seeds, `{good}` '
            'clears it in all (a difference in kind: no interval)')


def verdict(diff, sign, fmt='.3f'):
    """Whether a paired difference agrees with a predicted sign."""
    if diff is None:
        return 'not tested (the arm or the metric is not past its gate)'
    if diff.n < MIN_SEEDS_TO_RANK:
        return f'not tested (fewer than {MIN_SEEDS_TO_RANK} seeds)'
    found = 0 if not is_established(diff, MIN_SEEDS_TO_RANK) else (
        1 if diff.low > 0 else -1)
    if found == 0:
        bound = max(abs(diff.low), abs(diff.high))
        return (f'consistent: no difference found, effects up to ±'
                f'{bound:{fmt}} not excluded' if sign == 0 else
                'not established: the interval includes 0')
    return 'agrees' if found == sign else 'contradicts'


def interpret(experiment, frame, rows, size_note, baseline, diffs):
    """One paragraph of what the numbers say.

    `diffs` is compared()'s for these rows: nothing is compared unless it
    clears the unigram gate (clears_gate, against `baseline`,
    baseline.baselines' dict); arms share their seeds, so differences are
    paired by seed, with 95% t-intervals, and none is claimed with fewer
    than MIN_SEEDS_TO_RANK seeds.
    """
    rows = [r for r in rows if is_finished(r)]
    if not rows:
        return 'No finished run yet.'
    base = next((r for r in rows if r['label'] == experiment.baseline_label),
                None)
    waiting = [] if base is not None else [  # a sweep still running
        f'The baseline arm `{experiment.baseline_label}` has no finished '
        'run yet, so no arm is compared with it.']
    return ' '.join([size_note, *waiting, *_on_the_gate(rows, base, baseline),
                     *_on_the_clock(frame),
                     *_on_differences(diffs, experiment.baseline_label,
                                       experiment.references),
                     *_on_overfitting(rows),
                     *_on_nsp(frame, rows),
                     *_on_the_probes(rows, baseline),
                     *_on_speed(frame, rows)])


def _on_the_gate(rows, base, baseline):
    """Which arms did not clear the unigram gate."""
    if baseline is None:
        return ['No unigram baseline is recorded with these runs, so no arm '
                'can be shown to have learned: nothing is compared.']
    failed = [f'`{r["label"]}`' for r in rows
              if not clears_gate(r, baseline)]
    parts = []
    if failed:
        parts.append(
            f'{", ".join(failed)} did not clear the unigram gate (validation '
            f'MLM loss {GATE_MARGIN} nats under the unigram\'s '
            f'{baseline["mlm_l"]:.3f} and accuracy at least twice its '
            f'{baseline["mlm_acc"]:.3f}): '
            f'{"they have" if len(failed) > 1 else "it has"} learned little '
            'beyond word frequencies and '
            f'{"are" if len(failed) > 1 else "is"} not compared.')
    if base is not None and not clears_gate(base, baseline):
        parts.append(f'The baseline arm `{base["label"]}` is among them, '
                     'so no arm is compared with it.')
    return parts


def _on_the_clock(frame):
    """On a wall-clock budget: the budget, and the seeds left unpaired."""
    if not on_the_clock(frame):
        return []
    minutes = sorted(set(frame['train.time_budget'].dropna()))
    budget = ' or '.join(f'{m:g}' for m in minutes)
    kinds = frame.groupby('seed')['machine'].agg(
        lambda m: len(set(m)) > 1 or NOT_RECORDED in set(m))
    split = [str(s) for s, many in kinds.items() if many]
    return [f'Every arm trained for {budget} minutes of steps, so a seed\'s '
            'arms are paired only where they ran on one recorded machine'
            + (f' (seed{"s" if len(split) > 1 else ""} {", ".join(split)} '
               f'ran on several: {"their" if len(split) > 1 else "its"} arms '
               'pair only where they shared one)' if split else '')
            + ' with no other work on it.', _on_the_load(frame)]


def _on_the_load(frame):
    """How much of the machine other work took during the runs."""
    recorded = frame.reindex(columns=[LOAD_COLUMNS[0]]).iloc[:, 0].notna()
    if not recorded.any():
        return ('The machine\'s load was not recorded: other work on it '
                'would shorten a run unseen.')
    shares = load(frame)
    shared = frame[shares > SHARED_LOAD]
    unknown = (~recorded).sum()
    return (f'Other processes and the hypervisor took at most '
            f'{shares[recorded].max():.0%} of the machine\'s CPU time '
            'during a run'
            + (f' ({unknown} run{"s" if unknown > 1 else ""} not recorded)'
               if unknown else '')
            + (f'; above {SHARED_LOAD:.0%}, '
               + ', '.join(f'`{r.label}` seed {r.seed} '
                           f'({shares[i]:.0%})' for i, r in shared.iterrows())
               + ' shared the machine and pair with no other run.'
               if len(shared) else '.'))


def _on_differences(diffs, base_label, references):
    """The paired differences: which intervals exclude 0, if any.

    references: {label: other label}, the arms compared with another
    arm than the baseline (Experiment.references)."""
    if not diffs:
        return []
    ns = sorted({d.n for row in diffs.values() for d in row.values()
                 if d.n})  # a column over no common seed says nothing
    span = str(ns[0]) if len(ns) == 1 else f'{ns[0]}-{ns[-1]}'
    against = (' (or, where the table names one, the arm it differs from '
               'in one factor)' if referred(references, diffs) else '')
    head = (f'Against the baseline arm `{base_label}`{against}, paired '
            f'by seed over {span} seed{"s" if ns[-1] > 1 else ""} (the '
            'paired table, 95% t-intervals),')
    if ns[-1] < MIN_SEEDS_TO_RANK:
        return [head, f'with fewer than {MIN_SEEDS_TO_RANK} seeds no '
                'difference is claimed.']
    found = [f'`{label}`' + (f' − `{references[label]}`'
                             if label in references else '') +
             f' {header} {format_difference(d, fmt)[:-2]}'
             for label, row in diffs.items()
             for col, header, fmt in PAIRED_COLUMNS
             for d in [row.get(col)]
             if d is not None and is_established(d, MIN_SEEDS_TO_RANK)]
    if not found:
        return [head, 'every interval includes 0: no difference from the '
                f'baseline arm{" or a reference" if against else ""} is '
                'established at this number of seeds.']
    return [head, 'the interval excludes 0 for ' + '; '.join(found) +
            f' (p < 0.05 each, not corrected for the {len(diffs)} '
            f'arm{"s" if len(diffs) > 1 else ""} compared).']


def _on_overfitting(rows):
    """Arms whose validation MLM loss ends well above its best."""
    over = [r for r in rows if r.get('best_val_mlm_l_mean') is not None
            and r['final_val_mlm_l_mean'] - r['best_val_mlm_l_mean']
            > OVERFIT_MARGIN]
    return [f'`{r["label"]}` overfits: its validation MLM loss ends '
            f'{r["final_val_mlm_l_mean"] - r["best_val_mlm_l_mean"]:.3f} '
            f'nats above its best ({r["final_val_mlm_l_mean"]:.3f} against '
            f'{r["best_val_mlm_l_mean"]:.3f}, means over seeds).'
            for r in over]


def _on_nsp(frame, rows):
    """Which arms' NSP accuracy is above chance; untrained heads named."""
    untrained = [f'`{r["label"]}`' for r in rows
                 if r.get('final_val_nsp_acc_mean') is None]
    trained = [r for r in rows
               if r.get('final_val_nsp_acc_mean') is not None]
    parts = []
    if untrained:
        many = len(untrained) > 1
        parts.append(f'{", ".join(untrained)} {"train" if many else "trains"}'
                     f' no NSP head: {"their" if many else "its"} accuracy is'
                     ' neither shown nor compared.')
    above = [r for r in trained if nsp_learned(frame, r['label'])]
    if above:
        single = [r['n'] < 2 for r in above]
        mixed = any(single) and not all(single)
        how = (' (one seed: no interval)' if all(single) else
               ', its 95% interval above chance' +
               (' where an arm has 2 seeds or more,' if mixed else ','))
        parts.append(
            f'NSP accuracy is above {NSP_LEARNED}{how} for ' + ', '.join(
                f'`{r["label"]}` ({r["final_val_nsp_acc_mean"]:.3f}'
                f'{", one seed" if mixed and one else ""})'
                for r, one in zip(above, single)) + '.')
    elif trained:
        parts.append(f'NSP accuracy is at most {NSP_LEARNED} (or its '
                     'interval reaches chance) in every arm that trains it: '
                     'at chance, nothing to compare.')
    return parts


def _on_the_probes(rows, baseline):
    """Sentences on the last layer's self-similarity of the arms past the
    gate, and on collapse in any arm."""
    parts = []
    learned = [r for r in rows if clears_gate(r, baseline)]
    if learned and all(r.get('probe_self_sim_mean') is not None
                       for r in learned):
        sims = sorted((r['probe_self_sim_mean'], f'`{r["label"]}`')
                      for r in learned)
        aniso = sorted({f'{r["probe_anisotropy_mean"]:.2f}'
                        for r in learned})
        parts.append(
            f'In the last layer, a word\'s vectors across sentences have '
            f'mean cosine {sims[0][0]:.2f} ({sims[0][1]}) to '
            f'{sims[-1][0]:.2f} ({sims[-1][1]}), against an anisotropy '
            f'baseline of {aniso[0]}' +
            (f'-{aniso[-1]}.' if len(aniso) > 1 else '.'))
    collapsed = [r for r in rows if (r.get('probe_collapsed_mean') or 0) > 0]
    if collapsed:
        seeds = [round(r['probe_collapsed_mean'] * r['n']) for r in collapsed]
        which = ('every group' if len(collapsed) == len(rows) and all(
            k == r['n'] for k, r in zip(seeds, collapsed)) else ', '.join(
            f'`{r["label"]}`' + ('' if k == r['n'] else
                                 f' ({k} of its {r["n"]} seeds)')
            for k, r in zip(seeds, collapsed)))
        parts.append(
            f'The collapse check fires for {which}: at masked positions '
            'the predictions stay close to the training unigram (or mostly '
            'name its most frequent word), so the model predicts word '
            'frequencies, not words in context.')
    return parts


SPEED_SPREAD = 1.15  # a fastest/slowest ratio above this is worth a word


def _on_speed(frame, rows):
    """Training speed, where the arms differ, if every run ran on one
    recorded machine; runs of one size that differ as much mean load."""
    machines = set(frame['machine'])  # results_frame always has it
    if len(machines) != 1 or NOT_RECORDED in machines:
        return []
    speed = sorted((r['pairs_per_sec_mean'], f'`{r["label"]}`')
                   for r in rows)
    if speed[-1][0] <= SPEED_SPREAD * speed[0][0]:
        return []
    shared = int((load(frame) > SHARED_LOAD).sum())
    parts = [f'Training speed ranges {speed[0][0]:.0f} pairs/s '
             f'({speed[0][1]}) to {speed[-1][0]:.0f} ({speed[-1][1]}), '
             f'all on {machines.pop()}'
             + (f'; {shared} of {len(frame)} runs shared the machine '
                f'(other work took over {SHARED_LOAD:.0%} of its CPU time), '
                'so these speeds are partly its load\'s.' if shared else '.')]
    sizes = frame.get('params_non_embedding')
    if sizes is not None and sizes.notna().any():
        rates = frame.groupby(sizes)['pairs_per_sec']
        low, high = rates.min(), rates.max()
        size = (high / low).idxmax()
        if high[size] > SPEED_SPREAD * low[size]:
            parts.append(
                f'Runs of one size ({size:,.0f} non-embedding parameters) '
                f'range {low[size]:.0f} to {high[size]:.0f} pairs/s too, so '
                'the spread records the load on the machine while each '
                'ran, not the arms.')
    return parts
