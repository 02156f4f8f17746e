"""An experiment's results as pandas DataFrames, and their aggregation.

``load_results(out)``: a row a finished run (its label, seed, grid point,
every config field as 'section.field', final and best metrics, probe
scores). ``load_metrics(out)``: a row a step of every run. No TensorFlow.
"""
import pathlib

import pandas as pd

from sandbox.runs import read_metrics, read_part

# Metrics of the NSP head: meaningless where it was never trained
NSP_METRICS = ('final_val_nsp_acc', 'final_val_nsp_l', 'train_nsp_l')


def _cell(value):
    """A config value as a DataFrame cell: lists become tuples."""
    return tuple(value) if isinstance(value, list) else value


# The machine of a run that predates its recording in result.json
NOT_RECORDED = 'not recorded'


def machines_note(frame):
    """'AMD EPYC, 2 CPUs, AVX2 AVX-512: 4 runs; not recorded: 2 runs'."""
    counts = frame['machine'].value_counts(sort=False)
    return '; '.join(f'{m}: {n} run{"s" if n > 1 else ""}'
                     for m, n in counts.items())


def results_frame(results):
    """Run results (result.json dicts) as a DataFrame, a row a run.

    NSP metrics of runs whose NSP loss weight is 0 are NaN: an untrained
    head is never shown or compared.
    """
    rows = []
    for result in results:
        row = {'name': result['name'], 'label': result['label'],
               'seed': result['seed'],
               'machine': result.get('machine', NOT_RECORDED),
               **result.get('point', {})}
        row.update({f'{section}.{field}': _cell(value)
                    for section, fields in result.get('configs', {}).items()
                    for field, value in fields.items()})
        row.update(result['metrics'])
        rows.append(row)
    frame = pd.DataFrame(rows)
    if 'train.nsp_weight' in frame:
        untrained = frame['train.nsp_weight'] == 0
        for col in NSP_METRICS:
            if col in frame:
                frame[col] = frame[col].where(~untrained)
    return frame


def run_dirs(out):
    """The run folders of an experiment's results folder, by name."""
    runs = pathlib.Path(out) / 'runs'
    if not runs.is_dir():
        raise FileNotFoundError(f'{runs} does not exist (not an experiment '
                                'results folder?)')
    return sorted(d for d in runs.iterdir() if d.is_dir())


def load_results(out):
    """Every finished run under `out`/runs as results_frame's DataFrame."""
    results = [read_part(d, 'result') for d in run_dirs(out)]
    return results_frame([r for r in results if r is not None])


def load_metrics(out):
    """Per-step metrics (metrics.csv) of every run under `out`/runs.

    One row a step and run, with the run's name, label and seed.
    """
    frames = []
    for d in run_dirs(out):
        result = read_part(d, 'result') or {}
        frame = pd.DataFrame(read_metrics(d))
        frame.insert(0, 'name', d.name)
        frame.insert(1, 'label', result.get('label', d.name))
        frame.insert(2, 'seed', result.get('seed'))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def aggregate(frame, columns):
    """Mean and sample std over seeds per group, in order of appearance.

    Returns a DataFrame: label, n (runs), and <col>_mean, <col>_std for
    each of `columns` there is (NaN where no run has a value; std NaN for
    one value).
    """
    columns = [c for c in columns if c in frame]
    groups = frame.groupby('label', sort=False)
    table = groups[columns].agg(['mean', 'std'])
    table.columns = [f'{col}_{stat}' for col, stat in table.columns]
    table.insert(0, 'n', groups.size())
    return table.reset_index()


def records(table):
    """A DataFrame as a list of dicts, NaN as None."""
    return table.astype(object).where(table.notna(), None).to_dict('records')

