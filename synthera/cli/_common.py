"""What the command modules share: help texts, the console, the spinner, output checks and table reading.

Everything printed here passes through :func:`synthera.cli._app.clean` (secrets masked). Heavy libraries
(rich, pandas, transformers) are imported inside the functions, so ``synthera --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synthera.cli._app import clean, renamed_flags, warnings_once
from synthera.errors import UserInputError

__all__ = [
    "DATA_HELP", "TABLE_HELP", "table_help", "FORMAT_HELP", "ENCODING_HELP", "REPLACE_HELP", "SOURCE_HELP",
    "console", "status", "check_out", "check_out_folder", "check_table_out", "read_source", "write_report",
    "library_warnings",
]

DATA_HELP = (
    "A table: a .csv/.tsv/.parquet/.jsonl/.db file, a SQLAlchemy URL "
    "(postgresql://user@host/db), or a bundled dataset such as dataset:adult or dataset:german:test."
)
#: The short form of :data:`DATA_HELP`, for commands with several table options.
SOURCE_HELP = "a .csv/.tsv/.parquet/.jsonl/.db file, a database URL or dataset:NAME[:test]"
TABLE_HELP = "Table name, for SQLite files and database URLs (optional when there is only one)."


def table_help(of: str) -> str:
    """:data:`TABLE_HELP` for one of several input tables: ``table_help("--holdout")``."""
    return f"Table name of {of}, for SQLite files and database URLs (optional when there is only one)."


FORMAT_HELP = "Force the file format: csv, tsv, parquet, jsonl, sqlite."
ENCODING_HELP = "Text encoding of CSV/TSV files (e.g. latin-1)."
REPLACE_HELP = "Replace an existing table of that name in a SQLite file or database (refused by default)."


class _RedactingStream:
    """A text stream that masks secrets in everything written to it (see :func:`synthera.cli._app.clean`)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(clean(text, one_line=False))

    def __getattr__(self, name):
        return getattr(self._stream, name)


def console(stderr: bool = False):
    """A rich console on stdout (or stderr) whose every line is redacted; plain text, no markup."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output gets a wider table than rich's 80-column fallback.
    width = None if stream.isatty() else 120
    return Console(file=_RedactingStream(stream), highlight=False, emoji=False, markup=False, width=width)


class _Quiet:
    """The spinner's stand-in when stderr is no terminal: shows nothing, keeps the text."""

    def __init__(self, status: str = ""):
        self.status = status

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def status(message: str):
    """A spinner on stderr while something slow runs (silent when not a terminal); its text is redacted.

    The returned object's ``status`` attribute is the text shown.
    """
    text = clean(message)
    return console(stderr=True).status(text) if sys.stderr.isatty() else _Quiet(text)


def check_out(target, *, folder: bool = False) -> None:
    """Refuse an output location that cannot be written (one line), before any slow work."""
    from synthera.io import check_writable

    check_writable(target, folder=folder)


def check_out_folder(out: Path, purpose: str) -> None:
    """Refuse an ``--out`` that is a file or cannot be written; ``purpose`` ends "--out needs a folder to …"."""
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} is a file; --out needs a folder to {purpose}")
    check_out(out, folder=True)


def check_table_out(target: str, table: str | None) -> None:
    """:func:`check_out` for a table output; a database URL also needs ``--out-table``."""
    from synthera.io import is_url

    if table is None and is_url(target):
        raise UserInputError(f"writing to a database URL needs a table name; pass --out-table NAME (for {target})")
    check_out(target)


def read_source(source: str, *, table: str | None = None, fmt: str | None = None, encoding: str = "utf-8",
                flags: dict[str, str] | None = None):
    """Read one input table behind the spinner.

    ``flags`` names this table's options where they differ from ``--table``/``--format``/``--encoding`` (e.g.
    ``{"table": "--holdout-table"}``), so an error about this table names the option that fixes it.
    """
    from synthera.io import read_table

    with renamed_flags(**(flags or {})), status(f"Reading {source}"):
        return read_table(source, table=table, format=fmt, encoding=encoding)


def write_report(report, out: Path, done: str) -> None:
    """Write ``results.json``, ``report.html`` (and Parquet detail) atomically into ``out``, then print the headline."""
    with status("Writing the report"):
        report.save(out)
    shown = console()
    for line in report.headline:
        shown.print(f"- {line}")
    shown.print(f"{done}; report: {out / 'report.html'} (numbers: {out / 'results.json'})")


@contextmanager
def library_warnings() -> Iterator[None]:
    """Keep the loading bars of transformers quiet; show each warning once (see :func:`warnings_once`).

    Deprecation notices from the libraries are dropped (they are for us, not for the user).
    """
    try:  # the weight-loading bars of transformers would break one-line errors and our own progress bars
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    with warnings_once():
        yield
