"""The root command, its error handling, and the list of command modules."""

from __future__ import annotations

import sys
import warnings

import typer
from typer.core import TyperGroup

from synthera import __version__
from synthera.errors import SyntheraWarning, UserInputError

__all__ = ["app", "main", "fail", "warn"]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` as one line on stderr and return the exit to raise."""
    one_line = " ".join(str(message).split())
    typer.echo(f"error: {one_line}", err=True)
    return typer.Exit(code)


def warn(message: str) -> None:
    typer.echo(f"warning: {' '.join(str(message).split())}", err=True)


class _Group(TyperGroup):
    """Turns user mistakes into one line on stderr and exit code 2, never a traceback."""

    def invoke(self, ctx):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SyntheraWarning)
            try:
                return super().invoke(ctx)
            except UserInputError as exc:
                raise fail(str(exc)) from None
            finally:
                for w in caught:
                    if issubclass(w.category, SyntheraWarning):
                        warn(str(w.message))
                    else:
                        warnings.showwarning(w.message, w.category, w.filename, w.lineno)


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
