"""The CLI skeleton: version, help, exit codes."""

import subprocess
import sys

from engine import __version__
from engine.cli import main


def test_version_prints_and_exits_zero(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: ml-connector" in capsys.readouterr().out


def test_console_entry_point_runs_as_module():
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "ml-connector" in proc.stdout
