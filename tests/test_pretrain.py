"""Tests of a whole pretraining run: its folder, the CLI, reloading."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from sandbox import __main__ as cli
from sandbox import probe
from sandbox.pretrain import load_run_model
from sandbox.runs import METRIC_COLUMNS, read_metrics

ARGS = ['--preset', 'tiny', '--steps', '6', '--batch-size', '16',
        '--max-len', '24', '--val-every', '3', '--val-batches', '2',
        '--no-verify', '--quiet']


@pytest.fixture(scope='module')
def run_dir(synthetic_dir, tmp_path_factory):
    """A finished 6-step run on the synthetic corpus, made by the CLI."""
    out = tmp_path_factory.mktemp('run') / 'run'
    cli.main(['pretrain', '--data-dir', str(synthetic_dir), '--out',
              str(out), '--mask-rate', '0.3', '--set', 'model.num_blks=2']
             + ARGS)
    return out


def test_run_folder_contents(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {'config.json', 'metrics.csv', 'loss.png', 'loss.gif',
            'model.keras', 'vocab.txt', 'tensorboard'} <= names
    assert not [n for n in names if n.startswith('.')]  # no temp files
    config = json.loads((run_dir / 'config.json').read_text())
    assert config['data']['mask_rate'] == 0.3
    assert config['model']['num_blks'] == 2
    assert config['train']['num_steps'] == 6
    rows = read_metrics(run_dir)
    assert [r['step'] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r['val_mlm_l'] is not None for r in rows] == [False, False,
                                                          True] * 2
    with open(run_dir / 'metrics.csv') as f:
        assert next(csv.reader(f)) == list(METRIC_COLUMNS)
    assert any((run_dir / 'tensorboard').iterdir())


def test_loss_gif_is_animated(run_dir):
    with Image.open(run_dir / 'loss.gif') as gif:
        assert gif.n_frames == 6  # one frame per step for short runs
    with Image.open(run_dir / 'loss.png') as png:
        assert png.size == (900, 350)


def test_saved_model_reloads_identically(run_dir):
    net, vocab = load_run_model(run_dir)
    again, _ = load_run_model(run_dir)
    words = ['w1', 'w2', 'w3']
    a = probe.get_bert_encoding(net, vocab, words)
    b = probe.get_bert_encoding(again, vocab, words)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_probe_command(run_dir, capsys):
    cli.main(['probe', str(run_dir), '--word', 'w1', '--context', 'w1 w2',
              '--context', 'w3 w1', '--fill', 'w1 <mask> w2', '--top-k',
              '3'])
    out = capsys.readouterr().out
    assert 'crane probe: cosine' in out
    assert "'w1': cosine" in out
    assert out.count(' mask 1: ') == 1


@pytest.mark.parametrize('command', [['probe', '--suite'], ['probing']])
def test_probe_suite_command(command, run_dir, tmp_path, capsys):
    # `probing` is `probe --suite`; the run folder knows its corpus
    cli.main([command[0], str(run_dir), *command[1:], '--no-verify',
              '--num-sentences', '20', '--out', str(tmp_path)])
    out = capsys.readouterr().out
    assert 'MLM top-1' in out and 'crane probe' not in out
    report = json.loads((tmp_path / 'probe.json').read_text())
    assert report['num_sentences'] == 20
    assert {'probe_layers.png', 'attention.svg'} <= {
        p.name for p in tmp_path.iterdir()}


def test_probe_calibration_command(run_dir, capsys):
    # the run folder knows its corpus; --no-verify reads the synthetic one
    cli.main(['probe', str(run_dir), '--calibration', '--no-verify'])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith('validation MLM loss ')
    assert out[2].startswith('  ranks 0-99: loss ')
    assert out[-1].startswith('post-hoc temperature') and 'best T' in out[-1]


@pytest.mark.parametrize('args, message', [
    (['--mask-rate', '2'], r'mask_rate must be in \[0, 1\]'),
    (['--set', 'model.num_blocks=2'], r"--set 'model.num_blocks' is not a "
                                      r"config field \(did you mean "
                                      r"'model.num_blks'"),
    (['--set', 'optim.lr=1'], "--set 'optim.lr' is not a config field"),
    (['--set', 'train.lr'], 'expected section.field=value'),
    (['--set', 'probe.seed=1'], "--set 'probe.seed' is not a config field"),
    (['--max-len', '2000'], r'data.max_len \(2000\) exceeds'),
    (['--lr', '-1'], r'lr must be in \(0, 10\]'),
    (['--data-dir', '/nonexistent'], 'data_dir.*does not exist'),
    (['--masking', 'static', '--pairing', 'dynamic'],
     "pairing='dynamic' needs masking='dynamic'"),
])
def test_bad_arguments_name_the_field(args, message, synthetic_dir,
                                      tmp_path, capsys):
    argv = ['pretrain', '--data-dir', str(synthetic_dir), '--out',
            str(tmp_path / 'run')] + ARGS + args
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code != 0
    import re
    assert re.search(message, str(e.value.code) + capsys.readouterr().err)


def test_probe_needs_a_run_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(['probe', str(tmp_path)])
    assert e.value.code == 2
    assert 'model.keras does not exist' in capsys.readouterr().err


def test_default_recipe_learns_beyond_the_baselines(tmp_path):
    # Paragraphs of 4 topics: context tells which words can be masked, and
    # a random B sentence mostly changes the topic
    from sandbox import corpus
    from sandbox.config import configs_from_settings
    from sandbox.pretrain import pretrain
    data_dir = corpus.write_synthetic_corpus(
        tmp_path / 'topics', num_paragraphs=400, vocab_size=48, topics=4)
    configs = configs_from_settings({
        'data.batch_size': 32, 'data.max_len': 32, 'data.min_freq': 1,
        'model.num_hiddens': 16, 'model.ffn_num_hiddens': 32,
        'model.max_len': 64, 'train.num_steps': 300, 'train.lr': 1e-2,
        'train.warmup_steps': 15, 'train.val_every': 100,
        'train.checkpoint_every': 0}, preset='tiny', recipe='default')
    out = pretrain(configs.data, configs.model, configs.train,
                   data_dir=data_dir, run_dir=tmp_path / 'run',
                   plot=False, verbose=False, verify=False)
    base, last = out['baseline'], out['history'][-1]
    assert json.loads((tmp_path / 'run' / 'baseline.json').read_text()) \
        == base
    assert last['val_mlm_l'] < base['mlm_l'] - 0.5
    assert last['val_mlm_acc'] > 1.5 * base['mlm_acc']
    assert last['val_nsp_acc'] > 0.6


def test_pretrain_help_gives_each_flag_the_recipes_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(['pretrain', '--help'])
    out = ' '.join(capsys.readouterr().out.split())
    assert 'data.mask_rate (default recipe: 0.25; d2l: 0.15)' in out
    assert 'train.lr (default recipe: 0.004; d2l: 0.01)' in out


def test_a_resumed_run_reports_the_step_time_before_its_resume(
        synthetic_dir, tmp_path):
    from sandbox.config import configs_from_settings
    from sandbox.pretrain import pretrain
    configs = configs_from_settings({
        'data.batch_size': 16, 'data.max_len': 24, 'data.min_freq': 1,
        'train.num_steps': 4, 'train.val_every': 4, 'train.val_batches': 1,
        'train.checkpoint_every': 2}, preset='tiny')
    run = tmp_path / 'run'
    fresh = pretrain(configs.data, configs.model, configs.train,
                     data_dir=synthetic_dir, run_dir=run, plot=False,
                     verbose=False, verify=False)
    assert fresh['seconds_before_resume'] == 0.0
    # As if killed between the checkpoints of steps 2 and 4
    (run / 'checkpoints' / 'checkpoint').write_text(
        'model_checkpoint_path: "ckpt-2"\n'
        'all_model_checkpoint_paths: "ckpt-2"\n')
    before = [16 / r['pairs_per_sec'] for r in read_metrics(run)[:2]]
    resumed = pretrain(configs.data, configs.model, configs.train,
                       data_dir=synthetic_dir, run_dir=run, plot=False,
                       verbose=False, verify=False)
    assert [r['step'] for r in resumed['history']] == [1, 2, 3, 4]
    assert resumed['seconds_before_resume'] == pytest.approx(sum(before))
