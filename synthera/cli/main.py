"""The root command, its error handling, and the list of command modules.

Every line the CLI prints goes through :func:`clean`: one line, secrets
masked by :func:`synthera._secrets.redact`. :func:`fail`, :func:`warn`, the
shared console and the spinner all call it.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from typer.core import TyperGroup

from synthera import __version__
from synthera._secrets import redact
from synthera.errors import SyntheraWarning, UserInputError

__all__ = ["app", "main", "fail", "warn", "clean", "warnings_once"]

try:  # typer >= 0.22 carries its own copy of click
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as _click_errors

#: Warnings from libraries that speak to developers, not to the user.
_DEVELOPER_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def clean(text: object, *, one_line: bool = True) -> str:
    """``text`` as the CLI may show it: passwords and tokens masked, whitespace runs joined into one line."""
    shown = redact(text)
    return " ".join(shown.split()) if one_line else shown


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` as one line on stderr and return the exit to raise."""
    typer.echo(f"error: {clean(message)}", err=True)
    return typer.Exit(code)


def warn(message: str) -> None:
    """Print ``warning: message`` as one line on stderr."""
    typer.echo(f"warning: {clean(message)}", err=True)


def _warning_text(w: warnings.WarningMessage) -> str | None:
    """The line to show for a recorded warning, or None for a developer notice."""
    if issubclass(w.category, SyntheraWarning):
        return str(w.message)
    if issubclass(w.category, _DEVELOPER_WARNINGS):
        return None
    return f"{w.category.__name__}: {w.message}"


@contextmanager
def warnings_once() -> Iterator[None]:
    """Record warnings while the body runs; afterwards print each distinct one once as ``warning: …``.

    The lines are printed only after the recording has stopped, so printing
    can never feed the list being printed.
    """
    pending: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SyntheraWarning)
            try:
                yield
            finally:
                pending = list(caught)
    finally:
        seen = set()
        for w in pending:
            text = _warning_text(w)
            line = None if text is None else clean(text)
            if line and line not in seen:
                seen.add(line)
                warn(line)


def _permission_message(exc: PermissionError) -> str:
    where = exc.filename or "the output"
    if exc.filename and os.path.isfile(exc.filename) and not os.access(exc.filename, os.R_OK):
        return f"cannot read {where}: permission denied; check the file's permissions"
    return f"cannot write to {where}: permission denied; pick another --out"


def _usage_message(exc: _click_errors.UsageError) -> str:
    hint = f"; see `{exc.ctx.command_path} --help`" if exc.ctx is not None else ""
    return f"{exc.format_message().rstrip('.')}{hint}"


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Turn user mistakes, usage errors, denied writes and exhausted memory into one ``error:`` line."""
    try:
        yield
    except UserInputError as exc:
        raise fail(str(exc)) from None
    except _click_errors.NoArgsIsHelpError:
        raise
    except _click_errors.UsageError as exc:
        raise fail(_usage_message(exc), code=exc.exit_code) from None
    except PermissionError as exc:
        raise fail(_permission_message(exc)) from None
    except MemoryError:
        raise fail(
            "not enough memory for this; work on fewer rows (e.g. a smaller --rows) or on a machine with more memory",
            code=1,
        ) from None
    except (typer.Exit, typer.Abort, _click_errors.ClickException, KeyboardInterrupt):
        raise
    except Exception:
        # A bug, not a user mistake: show the traceback, but with its secrets masked like every other line.
        typer.echo(clean(traceback.format_exc(), one_line=False), err=True, nl=False)
        raise typer.Exit(1) from None


class _Group(TyperGroup):
    """Turns user mistakes into one line on stderr and exit code 2, never a traceback."""

    def make_context(self, info_name, args, parent=None, **extra):
        with _one_line_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        with _one_line_errors(), warnings_once():
            return super().invoke(ctx)


app = typer.Typer(
    cls=_Group,
    name="synthera",
    help="Synthetic data you can share, with proof that it is useful, private and fair.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold the user's data or secrets
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"synthera {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Synthetic data you can share, with proof that it is useful, private and fair."""


# Command modules register themselves on `app` when imported; the list is explicit.
from synthera.cli import bias, data, evaluate, flock, hf, private, synth, text, text_train  # noqa: E402,F401


def main() -> None:
    """Console-script entry point."""
    app(prog_name="synthera")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
