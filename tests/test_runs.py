"""Tests for sandbox.runs: atomic writes, config claims, metrics, groups."""
import json

import pytest

from sandbox import runs as R
from tests.conftest import fake_run


def test_atomic_save_keeps_the_old_file_when_saving_fails(tmp_path):
    path = tmp_path / 'a.json'
    R.write_json(path, {'x': 1})

    def fail(tmp):
        with open(tmp, 'w') as f:
            f.write('half')
        raise OSError('disk full')

    with pytest.raises(OSError, match='disk full'):
        R.atomic_save(path, fail)
    assert json.loads(path.read_text()) == {'x': 1}
    assert [p.name for p in tmp_path.iterdir()] == ['a.json']  # no temp


def test_parts_round_trip(tmp_path):
    assert R.read_part(tmp_path, 'probe') is None
    R.write_part(tmp_path, 'baseline', {'mlm_l': 6.7})
    assert R.read_part(tmp_path, 'baseline') == {'mlm_l': 6.7}
    with pytest.raises(ValueError, match="name must be one of"):
        R.write_part(tmp_path, 'results', {})


def test_config_differences_read_missing_fields_as_defaults():
    saved = {'train': {'lr': 0.01}}  # written before num_steps existed
    wanted = {'train': {'lr': 0.01, 'num_steps': 50}}
    assert R.config_differences(saved, wanted) == []
    assert R.config_differences(saved, wanted, defaults={}) == \
        ['train.num_steps']
    assert R.config_differences({'train': {'lr': 0.1}}, wanted) == \
        ['train.lr']


def test_claim_run_dir_refuses_another_config(tmp_path):
    record = {'data': {}, 'model': {}, 'train': {'lr': 0.01},
              'vocab_size': 10}
    R.claim_run_dir(tmp_path, record)
    R.claim_run_dir(tmp_path, record)  # the same run: accepted
    with pytest.raises(R.RunDirError, match=r'another config \(train.lr: '
                                            r'0.01 -> 0.02; vocab_size'):
        R.claim_run_dir(tmp_path, {**record, 'train': {'lr': 0.02},
                                   'vocab_size': 11})
    (tmp_path / 'config.json').write_text('{')
    with pytest.raises(R.RunDirError, match='not valid JSON'):
        R.claim_run_dir(tmp_path, record)


def test_run_config_and_data_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match='config.json'):
        R.load_run_config(tmp_path)
    assert R.load_run_data_dir(tmp_path) is None
    R.write_json(tmp_path / 'config.json', {
        'data': {'batch_size': 4}, 'model': {}, 'train': {},
        'data_dir': str(tmp_path)})
    data, _, train = R.load_run_config(tmp_path)
    assert data.batch_size == 4 and train.num_steps == 50
    assert R.load_run_data_dir(tmp_path) == str(tmp_path)


def test_metrics_append_then_truncate(tmp_path):
    for rows in ([{'step': 1, 'l': 2.5}, {'step': 2, 'l': 2.0}],
                 [{'step': 3, 'l': 1.5, 'extra': 'ignored'}]):
        metrics = R.MetricsFile(tmp_path)
        for row in rows:
            metrics.write(row)
        metrics.close()
    lines = (tmp_path / 'metrics.csv').read_text().splitlines()
    assert lines[0] == ','.join(R.METRIC_COLUMNS)  # one header
    assert [r['step'] for r in R.read_metrics(tmp_path)] == [1, 2, 3]
    kept = R.truncate_metrics(tmp_path, 2)
    assert [(r['step'], r['l']) for r in kept] == [(1, 2.5), (2, 2.0)]
    assert (tmp_path / 'metrics.csv').read_text().splitlines() == lines[:3]


def test_group_runs_by_config_without_seeds(fake_runs):
    groups = R.load_groups(fake_runs)
    assert [(label, [r['dir'].name for r in group])
            for label, group in groups] == [('nsp_weight=1.0', ['a0', 'a1']),
                                            ('nsp_weight=0.0', ['b0'])]


def test_group_runs_prefers_the_experiment_label(tmp_path):
    run = fake_run(tmp_path / 'r', 1.0, 0, [1, 2], {'label': 'baseline'})
    assert R.load_groups([run])[0][0] == 'baseline'
