"""Execute experiments/tiny_bert.ipynb with a tiny config, so it never rots."""
import ast
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / 'experiments' / 'tiny_bert.ipynb'


def assigned_names(source):
    """Names a cell assigns at top level."""
    names = set()
    for node in ast.parse(source).body:
        for target in getattr(node, 'targets', []):
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name):
                    names.add(leaf.id)
    return names


@pytest.mark.slow  # ~20 s: a kernel, TensorFlow, two trainings
def test_notebook_runs_with_a_tiny_config(synthetic_dir, tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cell, = [c for c in nb.cells
             if 'parameters' in c.metadata.get('tags', [])]
    tiny = (f'DATA_DIR = {str(synthetic_dir)!r}\n'
            'VERIFY = False\n'
            "PRESET = 'tiny'\n"
            'BATCH_SIZE, MAX_LEN, MIN_FREQ = 8, 32, 1\n'
            'NUM_STEPS = 4\n'
            'ABLATION_STEPS = 2\n'
            'NUM_SENTENCES = 20\n'
            f'RUN_ROOT = {str(tmp_path / "runs")!r}\n')
    # every parameter of the notebook is given a tiny value
    assert assigned_names(tiny) == assigned_names(cell.source)
    cell.source = tiny
    NotebookClient(nb, timeout=600, kernel_name='python3', resources={
        'metadata': {'path': str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == 'code'
               for o in c.outputs]
    assert not [o for o in outputs if o.output_type == 'error']
    images = [o for o in outputs if 'image/png' in o.get('data', {})]
    # live loss plot, probe layers, attention, ablation curves
    assert len(images) >= 4
    text = ''.join(o.get('text', '') for o in outputs)
    assert 'cosine(bird, machine)' in text and 'MLM top-1' in text
    assert (tmp_path / 'runs' / 'ablation' / 'results.md').is_file()
    assert (tmp_path / 'runs' / 'bert' / 'model.keras').is_file()
