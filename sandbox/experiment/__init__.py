"""Ablation experiments: a declarative grid of config changes, one runner.

- spec: an Experiment (question, grid, seeds, the literature's
  predictions) and its runs, at the standard (FULL) or QUICK size; no
  TensorFlow, so checking and listing runs is quick;
- runner: trains and probes every run into its own folder, skips finished
  runs (an interrupted sweep resumes), estimates the wall time first and
  writes the report; estimate: that estimate;
- frames: results as pandas DataFrames; stats: paired t-intervals;
- reading: the unigram gate, paired differences, predictions, the text;
- report: results.csv/.md, the figures and a README that reads them.

    python -m sandbox experiment experiments/nsp.py --quick
"""
from sandbox.experiment.spec import FULL, QUICK, Experiment, load_experiment

__all__ = ['FULL', 'QUICK', 'Experiment', 'load_experiment']
