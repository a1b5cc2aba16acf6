"""Assertions the test folders share."""

from __future__ import annotations


def one_line_error(result, *needles: str, code: int = 2) -> None:
    """A user mistake on the command line: exit ``code``, one ``error: ...`` line on stderr naming ``needles``, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]
