"""Tests for sandbox.experiment.runner: a tiny sweep end to end."""
import contextlib
import json
import pathlib
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from sandbox import machine
from sandbox.experiment import runner as X
from tests.conftest import make_experiment as make

TINY = {'preset': 'tiny', 'data.batch_size': 8, 'data.max_len': 32,
        'data.min_freq': 1, 'train.num_steps': 3, 'train.val_every': 3,
        'train.val_batches': 1, 'train.warmup_steps': 0,
        'probe.num_sentences': 12, 'probe.min_contexts': 2}


@contextlib.contextmanager
def serve_tensorboard(logdir):
    """A headless TensorBoard on `logdir`; yields its base URL."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [str(pathlib.Path(sys.executable).parent / 'tensorboard'),
         '--logdir', str(logdir), '--host', '127.0.0.1', '--port',
         str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f'http://127.0.0.1:{port}'
    finally:
        server.terminate()
        server.wait(timeout=30)


def squeeze(text):
    """Text with each run of spaces as one (tabulate pads table cells)."""
    return re.sub(' +', ' ', text)


@pytest.fixture(scope='module')
def finished_sweep(synthetic_dir, tmp_path_factory):
    """A tiny two-group, two-seed experiment run end to end."""
    e = make(settings=TINY, quick_seeds=(0, 1), baseline='nsp_weight=1')
    out = tmp_path_factory.mktemp('sweep')
    lines = []
    rows = X.run_experiment(e, quick=True, out=out, data_dir=synthetic_dir,
                            verify=False, log=lines.append)
    return e, out, rows, lines


def test_run_experiment_end_to_end(finished_sweep):
    e, out, rows, lines = finished_sweep
    assert [(r['label'], r['n']) for r in rows] == [('nsp_weight=1', 2),
                                                    ('nsp_weight=0', 2)]
    for name in ('results.csv', 'results.md', 'runs.csv', 'README.md',
                 'curves.png', 'curves.svg', 'layers.png',
                 'layers.svg', 'attention.png'):
        assert (out / name).stat().st_size > 0, name
    run = out / 'runs' / 'nsp_weight=0__seed=1'
    for name in ('config.json', 'metrics.csv', 'loss.png', 'probe.json',
                 'result.json', 'model.keras'):
        assert (run / name).is_file(), name
    assert not (run / 'checkpoints').exists()
    stored = json.loads((run / 'result.json').read_text())
    assert stored['configs']['train']['nsp_weight'] == 0.0
    assert stored['metrics']['steps'] == 3
    assert stored['machine'] == machine.describe()
    # the machine's load while the run trained (Linux's /proc/stat)
    assert 0 <= stored['metrics']['others_cpu_share'] <= 1
    assert 0 <= stored['metrics']['steal_share'] <= 1
    # Embeddings (token, segment, position) and the untied decoder
    model = stored['configs']['model']
    V = json.loads((run / 'config.json').read_text())['vocab_size']
    H = model['num_hiddens']
    m = stored['metrics']
    assert m['params'] - m['params_non_embedding'] == \
        V * H + 2 * H + model['max_len'] * H + H * V + V
    readme = squeeze((out / 'README.md').read_text())
    assert '| nsp_weight=1 | 2 |' in readme
    assert f'({machine.describe()}: 4 runs)' in readme
    # --quick is a smoke test: nothing compared, no paired figure
    assert 'nothing is compared or ranked' in readme
    assert 'Paired differences' not in readme
    assert not (out / 'paired.png').exists()
    assert '## What the numbers say' in readme and '![' in readme
    assert 'python -m sandbox experiment experiments/t.py --quick' in readme
    csv_lines = (out / 'results.csv').read_text().splitlines()
    assert csv_lines[0].startswith('label,n,final_val_mlm_l_mean,')
    assert len(csv_lines) == 3
    assert sum('training' in line for line in lines) == 4
    # a smoke test does not time a step to estimate its wall time
    assert lines[0] == ('4 of 4 runs to train (no finished run of their '
                        'shape to time them by)')


def test_hparams_read_back_by_tensorboard(finished_sweep):
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import metadata
    _, out, _, _ = finished_sweep
    events = event_accumulator.EventAccumulator(
        str(out / 'runs' / 'nsp_weight=0__seed=1' / 'tensorboard'))
    events.Reload()
    content = events.PluginTagToContent('hparams')
    info = metadata.parse_session_start_info_plugin_data(
        content['_hparams_/session_start_info'])
    assert info.hparams['nsp_weight'].string_value == '0'
    assert info.hparams['train.nsp_weight'].number_value == 0.0
    assert info.hparams['seed'].number_value == 1
    assert 'final/final_val_mlm_l' in events.Tags()['tensors']


def test_changed_hparams_replace_the_old_summary(tmp_path):
    from sandbox.callbacks import write_hparams
    write_hparams(tmp_path, 'run', {'lr': 0.1}, {'loss': 2.0}, 5)
    first, = (tmp_path / 'tensorboard').iterdir()
    write_hparams(tmp_path, 'run', {'lr': 0.1}, {'loss': 2.0}, 5)
    assert list((tmp_path / 'tensorboard').iterdir()) == [first]
    write_hparams(tmp_path, 'run', {'lr': 0.1}, {'loss': 1.5}, 5)
    second, = (tmp_path / 'tensorboard').iterdir()
    assert second != first and sorted(tmp_path.iterdir()) == [
        tmp_path / 'tensorboard']  # no staging folder left behind


def test_hparams_summaries_compare_whatever_the_order_of_their_maps(
        tmp_path):
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2
    from sandbox.callbacks import _summaries

    def entry(key, value):
        data = plugin_data_pb2.HParamsPluginData(version=0)
        data.session_start_info.hparams[key].number_value = value
        return data.SerializeToString()

    contents = [entry('a', 1.0) + entry('b', 2.0),
                entry('b', 2.0) + entry('a', 1.0)]
    assert contents[0] != contents[1]  # one map, its entries in two orders
    files = []
    for i, content in enumerate(contents):
        writer = tf.summary.create_file_writer(str(tmp_path / str(i)))
        with writer.as_default(step=0):
            tf.summary.write('_hparams_/session_start_info', tf.constant(0.0),
                             metadata=tf.compat.v1.SummaryMetadata(
                                 plugin_data={'plugin_name': 'hparams',
                                              'content': content}))
        writer.close()
        files.append(next((tmp_path / str(i)).iterdir()))
    assert _summaries(files[0]) == _summaries(files[1])


def test_tensorboard_shows_the_experiment_in_hparams(finished_sweep):
    _, out, _, _ = finished_sweep
    with serve_tensorboard(out / 'runs') as url:
        body = json.dumps({'experimentName': ''}).encode()
        text = ''
        deadline = time.monotonic() + 60
        while 'nsp_weight' not in text and time.monotonic() < deadline:
            try:
                request = urllib.request.Request(
                    f'{url}/data/plugin/hparams/experiment', data=body,
                    headers={'Content-Type': 'application/json'})
                with urllib.request.urlopen(request, timeout=5) as r:
                    text = r.read().decode()
            except OSError:
                time.sleep(0.5)
    experiment = json.loads(text)
    names = {h['name'] for h in experiment['hparamInfos']}
    assert {'nsp_weight', 'train.nsp_weight', 'seed'} <= names
    metrics = {m['name']['tag'] for m in experiment['metricInfos']}
    assert 'final/final_val_mlm_l' in metrics


def test_finished_runs_are_skipped(finished_sweep, synthetic_dir,
                                   monkeypatch):
    e, out, rows, _ = finished_sweep

    def no_training(*args, **kwargs):
        raise AssertionError('a finished run was trained again')

    def hparams_files():
        return {p: p.read_bytes()
                for p in (out / 'runs').glob('*/tensorboard/*.hparams')}

    monkeypatch.setattr(X, 'execute', no_training)
    before, lines = hparams_files(), []
    again = X.run_experiment(e, quick=True, out=out, data_dir=synthetic_dir,
                             verify=False, log=lines.append)
    assert sum('finished, skipped' in line for line in lines) == 4
    assert again == rows
    # the same summaries: no file rewritten (a resumed sweep's diff)
    assert len(before) == 4 and hparams_files() == before


def test_reprobe_probes_kept_models_and_leaves_the_others(
        finished_sweep, synthetic_dir, monkeypatch):
    e, out, _, _ = finished_sweep
    names = [run.name for run in e.runs(quick=True)]
    gone = out / 'runs' / names[0] / 'model.keras'
    kept = gone.read_bytes()
    gone.unlink()
    probed = []
    monkeypatch.setattr(X, 'reprobe', lambda run, *a: probed.append(
        run.name) or X.finished(run, out / 'runs' / run.name))
    lines = []
    try:
        X.run_experiment(e, quick=True, out=out, data_dir=synthetic_dir,
                         verify=False, log=lines.append, reprobe_all=True)
    finally:
        gone.write_bytes(kept)
    assert sum('its model was not kept' in line for line in lines) == 1
    assert probed == names[1:]


def test_an_interrupted_run_is_run_again(finished_sweep, synthetic_dir):
    e, out, _, _ = finished_sweep
    run = out / 'runs' / 'nsp_weight=1__seed=1'
    (run / 'result.json').unlink()  # as if killed before the end
    lines = []
    X.run_experiment(e, quick=True, out=out, data_dir=synthetic_dir,
                     verify=False, log=lines.append)
    assert sum('training' in line for line in lines) == 1
    # the estimate reads the finished runs' step times
    assert lines[0].startswith('1 of 4 runs to train') and \
        '0 shape(s) timed' in lines[0]
    metrics = (run / 'metrics.csv').read_text().splitlines()
    assert len(metrics) == 1 + 3  # header + 3 steps, none doubled


def test_shards_split_the_runs_and_the_last_writes_the_report(
        finished_sweep, synthetic_dir, monkeypatch):
    e, out, _, _ = finished_sweep
    names = [run.name for run in e.runs(quick=True)]
    saved = {}
    for name in names[:2]:  # one unfinished run in each of two shards
        path = out / 'runs' / name / 'result.json'
        saved[name] = path.read_text()
        path.unlink()
    (out / 'README.md').unlink()
    trained = []

    def execute(run, run_dir, options):
        trained.append(run.name)
        (run_dir / 'result.json').write_text(saved[run.name])
        return json.loads(saved[run.name])

    monkeypatch.setattr(X, 'execute', execute)
    lines = []
    first = X.run_experiment(e, quick=True, out=out, data_dir=synthetic_dir,
                             verify=False, log=lines.append, shard=(1, 2))
    assert trained == [names[0]] and first == []
    assert lines[0].startswith('1 of 2 runs to train')
    assert '3 of 4 finished: the shard that finishes last writes the ' \
        'report' in lines[-1]
    assert not (out / 'README.md').exists()
    # the tables list every finished run, the other shard's too
    assert len((out / 'runs.csv').read_text().splitlines()) == 1 + 3
    last = X.run_experiment(e, quick=True, out=out, data_dir=synthetic_dir,
                            verify=False, log=lines.append, shard=(2, 2))
    assert trained == names[:2]
    assert [(r['label'], r['n']) for r in last] == [('nsp_weight=1', 2),
                                                    ('nsp_weight=0', 2)]
    assert '| nsp_weight=0 | 2 |' in squeeze((out / 'README.md').read_text())


def test_a_changed_config_is_not_silently_reused(finished_sweep):
    e, out, _, _ = finished_sweep
    changed = make(settings={**TINY, 'train.lr': 0.002}, quick_seeds=(0, 1))
    run = changed.runs(quick=True)[0]
    with pytest.raises(ValueError, match=r"differs in \['train.lr'\].*"
                                         r"--rerun"):
        X.finished(run, out / 'runs' / run.name)


def test_report_only_rewrites_from_disk(finished_sweep):
    e, out, _, _ = finished_sweep
    (out / 'README.md').unlink()
    rows = X.report_only(e, quick=True, out=out)
    assert [(r['label'], r['n']) for r in rows] == [('nsp_weight=1', 2),
                                                    ('nsp_weight=0', 2)]
    assert '| nsp_weight=0 | 2 |' in squeeze((out / 'README.md').read_text())


def test_a_standard_size_mini_sweep_compares_paired_arms(tmp_path):
    # The standard size (not --quick) at a tiny model on a corpus of 4
    # topics, which it learns in a few hundred steps: the baseline arm
    # clears the unigram gate and the report pairs the arms by seed
    from sandbox import corpus
    data_dir = corpus.write_synthetic_corpus(
        tmp_path / 'topics', num_paragraphs=400, vocab_size=48, topics=4)
    settings = {'preset': 'tiny', 'data.max_len': 32, 'data.min_freq': 1,
                'data.batch_size': 32, 'model.num_hiddens': 16,
                'model.ffn_num_hiddens': 32, 'model.max_len': 64,
                'train.num_steps': 200, 'train.warmup_steps': 15,
                'train.val_every': 100, 'train.checkpoint_every': 0,
                'train.lr': 1e-2}
    e = make(settings=settings, seeds=(0, 1, 2), baseline='nsp_weight=1')
    lines = []
    X.run_experiment(e, out=tmp_path / 'out', data_dir=data_dir,
                     verify=False, probe=False, log=lines.append)
    assert lines[0].startswith('6 of 6 runs to train: expected wall time ')
    tmp_path = tmp_path / 'out'
    readme = squeeze((tmp_path / 'README.md').read_text())
    assert 'At standard size' in readme
    assert 'did not clear' not in readme, readme
    assert '### Paired differences from the baseline arm' in readme
    assert 'paired by seed over 3 seeds' in readme
    assert (tmp_path / 'paired.png').is_file()
    baselines = {(tmp_path / 'runs' / d.name / 'baseline.json').read_text()
                 for d in (tmp_path / 'runs').iterdir()}
    assert len(baselines) == 1  # one validation set for every arm and seed
