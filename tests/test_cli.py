import subprocess
import sys

import pytest

from probekit import __version__
from probekit.cli import build_parser, main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_every_verb_has_help():
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    for name, sub in verbs.items():
        text = sub.format_help()
        assert name in text


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "probekit", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "probekit" in out.stdout
