"""The package's layout: what loads without TensorFlow."""
import subprocess
import sys

from tests.conftest import ROOT


def test_plots_runs_and_experiment_specs_load_without_tensorflow():
    script = ('import sys, sandbox.plots, sandbox.runs, '
              'sandbox.experiment.spec; '
              "print(sorted(m for m in ('tensorflow', 'keras') "
              'if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', script], check=True,
                         cwd=ROOT, capture_output=True, text=True).stdout
    assert out.strip() == '[]'
