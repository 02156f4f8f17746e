"""Tests of the command line: python -m sandbox SUBCOMMAND."""
import re
import subprocess
import sys

import pytest

from sandbox import __main__ as cli
from tests.conftest import ROOT

NSP = str(ROOT / 'experiments' / 'nsp.py')


def test_compare_curves_writes_png_and_svg(fake_runs, tmp_path, capsys):
    cli.main(['compare', 'curves', *map(str, fake_runs), '--smooth', '0.5',
              '--out', str(tmp_path / 'cmp')])
    assert (tmp_path / 'cmp.png').is_file()
    assert (tmp_path / 'cmp.svg').is_file()
    with pytest.raises(SystemExit):
        cli.main(['compare', 'layers', str(fake_runs[0])])  # no probe.json
    assert 'python -m sandbox probe RUN_DIR --suite' in capsys.readouterr().err


@pytest.mark.parametrize('argv, message', [
    (['curves', '--smooth', '5', '.'], r"--smooth: must be an EMA weight "
                                       r"in \[0, 1\).*'5'"),
    (['curves', 'no-such-run'], r"run_dirs: \['no-such-run'\] hold no "
                                "config.json"),
])
def test_bad_compare_values_get_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(['compare', *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(message, err), err


def test_experiment_dry_run_lists_the_runs(capsys):
    cli.main(['experiment', NSP, '--quick', '--dry-run'])
    out = capsys.readouterr().out
    assert 'format=MLM-only-no-random-B__seed=1' in out and '6 runs' in out


def test_a_shard_lists_every_nth_run(capsys):
    cli.main(['experiment', NSP, '--quick', '--dry-run', '--shard', '2/4'])
    out = capsys.readouterr().out.splitlines()
    # the 6 runs, seed 0's three groups then seed 1's: the 2nd and 6th
    assert out[:2] == ['format=MLM-only-d2l-pairs__seed=0',
                       'format=MLM-only-no-random-B__seed=1']
    assert out[2].startswith('2 runs;')


@pytest.mark.parametrize('value', ['3/2', '0/2', '2', 'a/b', '1/0'])
def test_a_bad_shard_gets_one_line(value, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(['experiment', NSP, '--dry-run', '--shard', value])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith(f"argument --shard: {value!r} is not I/N with "
                        "1 <= I <= N, e.g. 1/2")


def test_the_readme_command_leaves_the_shard_out():
    assert cli.drop_shard(['experiment', 'e.py', '--shard', '1/2', '--out',
                           'o', '--shard=2/2']) == [
        'experiment', 'e.py', '--out', 'o']


def test_experiment_rejects_a_bad_override_before_training(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(['experiment', NSP, '--set', 'train.nsp_wieght=0'])
    assert e.value.code == 2
    assert "did you mean 'train.nsp_weight'" in capsys.readouterr().err


@pytest.mark.parametrize('argv, message', [
    ([], 'an experiment file is required'),
    (['no-such-file.py'], 'no-such-file.py does not exist'),
    (['--keys'], None),
])
def test_experiment_needs_a_file_unless_listing_keys(argv, message, capsys):
    if message is None:
        cli.main(['experiment', *argv])
        assert 'preset\ndata.batch_size\n' in capsys.readouterr().out
        return
    with pytest.raises(SystemExit) as e:
        cli.main(['experiment', *argv])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_python_m_sandbox_experiment_is_the_experiment_command():
    result = subprocess.run(
        [sys.executable, '-m', 'sandbox.experiment', NSP, '--dry-run'],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '15 runs' in result.stdout  # three groups, five seeds
