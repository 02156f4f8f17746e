"""Tests of the command line: python -m sandbox SUBCOMMAND."""
import re

import pytest

from sandbox import __main__ as cli


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
