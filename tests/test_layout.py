"""The package's layout: what loads without TensorFlow, the README's map."""
import re
import subprocess
import sys

from tests.conftest import ROOT


def test_plots_reports_and_specs_load_without_tensorflow():
    script = ('import sys, sandbox.plots, sandbox.runs, sandbox.machine, '
              'sandbox.experiment.spec, sandbox.experiment.report, '
              'sandbox.experiment.frames, sandbox.experiment.stats; '
              "print(sorted(m for m in ('tensorflow', 'keras') "
              'if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', script], check=True,
                         cwd=ROOT, capture_output=True, text=True).stdout
    assert out.strip() == '[]'


def test_the_readme_layout_names_every_module():
    text = (ROOT / 'README.md').read_text()
    layout = text.split('## Layout', 1)[1].split('\n## ', 1)[0]
    named = set(re.findall(r'[\w]+\.py', layout))
    sandbox = ROOT / 'sandbox'
    modules = {p.name for p in sandbox.rglob('*.py')
               if p.name != '__init__.py' and not (
                   p.name == '__main__.py' and p.parent != sandbox)}
    assert named == modules, (f'not in the Layout: {modules - named}; '
                              f'gone from sandbox/: {named - modules}')
    packages = {p.parent.name for p in sandbox.glob('*/__init__.py')}
    assert packages <= set(re.findall(r'(\w+)/ ', layout))


def test_the_longest_files_conftest_runs_first_exist():
    from tests.conftest import LONGEST_FILES
    missing = [n for n in LONGEST_FILES if not (ROOT / 'tests' / n).is_file()]
    assert missing == []
