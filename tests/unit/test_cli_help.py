"""Every command's --help renders (Rich markup in help texts is parsed, so a stray tag breaks it)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from singlewindow.cli import app

COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands if c.callback)


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_renders(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"] if command else ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
