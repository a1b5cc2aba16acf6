"""The root :data:`app`, its error handling, and how library errors name the command's flags.

Every line the CLI prints goes through :func:`clean`: one line, secrets masked
by :func:`synthera._secrets.redact`. :func:`fail`, :func:`warn`, the shared
console and the spinner all call it.

Library errors name parameters (``rows must be at least 10``); a user of the
command line typed flags (``--rows``). :func:`cli_message`, called in the one
place that prints a :class:`~synthera.errors.UserInputError`, turns the one
into the other with :data:`FLAGS`.

Command modules import from here and from :mod:`synthera.cli._common` only,
never from each other; :mod:`synthera.cli.main` lists them.
"""

from __future__ import annotations

import os
import re
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from typer.core import TyperGroup

from synthera import __version__
from synthera._secrets import redact
from synthera.errors import SyntheraWarning, UserInputError

__all__ = ["app", "text_app", "group", "fail", "warn", "clean", "warnings_once", "renamed_flags", "cli_message",
           "FLAGS"]

try:  # typer >= 0.22 carries its own copy of click
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as _click_errors

#: Warnings from libraries that speak to developers, not to the user.
_DEVELOPER_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)

_TEXT_MODEL_FLAGS = {"data": "--data", "model": "--model", "template": "--template", "batch_size": "--batch-size",
                     "limit": "--limit"}

#: What :mod:`synthera.io` names in its errors (reading or writing a table), for the commands that read or write.
#: Commands with several tables (``evaluate``, ``hf-eval``) name the table option through ``read_source(flags=…)``.
_READ_FLAGS = {"pass format": "pass --format", "e.g. encoding='latin-1'": "e.g. --encoding latin-1",
               "pick format='tsv'": "pick --format tsv"}
_IO_FLAGS = {**_READ_FLAGS, "table NAME": "--table NAME", "table only applies": "--table only applies"}
#: ... and for the commands that also write a table (``--replace`` an existing one).
_WRITE_FLAGS = {**_IO_FLAGS, "replace=True": "--replace"}

#: The table options of ``evaluate`` and ``bias`` and the phrases of their messages that name them.
_EVALUATE_FLAGS = {"target": "--target", "sensitive": "--sensitive", "holdout": "--holdout",
                   "pick a categorical target": "pick a categorical --target", "another target": "another --target",
                   "out sensitive": "out --sensitive"}

#: For each command (its path after ``synthera``), the library parameter names its errors may carry and the
#: flag that sets each. A command missing here has no error that names a parameter.
FLAGS: dict[str, dict[str, str]] = {
    "text generate": {
        "model 'template'": "--model template",  # a value of a parameter, as the user types it
        "n": "--n", "seed": "--seed", "batch_size": "--batch-size", "rows": "--rows", "synthetic_rows": "--rows",
        "db": "--db", "from_synthetic": "--from-synthetic", "datasets": "--from-synthetic",
        "difficulty": "--difficulty", "model_name": "--model-name", "model": "--model",
        "novelty_threshold": "--novelty", "join_share": "--join-share", "sql_dedup": "--sql-dedup",
        "template_cap": "--template-cap", "question_candidates": "--question-candidates",
    },
    "text finetune": {
        **_TEXT_MODEL_FLAGS, "quantize": "--quantize", "target_modules": "--target-modules", "lora_r": "--lora-r",
        "lora_alpha": "--lora-alpha", "lora_dropout": "--lora-dropout", "learning_rate": "--learning-rate",
        "max_length": "--max-length", "grad_accum": "--grad-accum", "save_every": "--save-every",
        "max_steps": "--max-steps", "epochs": "--epochs", "seed": "--seed", "base_model_id": "--base-model-id",
    },
    "text evaluate": {
        **_TEXT_MODEL_FLAGS, "task": "--task", "compare": "--compare", "adapter": "--adapter", "db": "--db",
        "max_new_tokens": "--max-new-tokens", "context_length": "--context-length",
    },
    "sample": {
        "pass format": "pass --format", "replace=True": "--replace", "table NAME": "--out-table NAME",  # only writes
        "balance": "--balance", "parity": "--parity", "sensitive": "--sensitive", "relabel": "--relabel",
        "intersectional": "--intersectional", "conditions": "--where", "scale": "--scale",
        # phrases: a plain word in the middle of a sentence names the parameter only here
        "sensitive or balance": "--sensitive or --balance", "sensitive COLUMN": "--sensitive COLUMN",
        "parity TARGET": "--parity TARGET", "balance to equalise": "--balance to equalise",
        "relabel out": "--relabel out", "intersectional or": "--intersectional or",
    },
    "evaluate": {**_READ_FLAGS, **_EVALUATE_FLAGS},
    "bias": {**_IO_FLAGS, **_EVALUATE_FLAGS, "positive": "--positive", "give a holdout": "give a --holdout"},
    "fit": {
        **_IO_FLAGS, "epsilon": "--epsilon", "delta": "--delta", "epochs": "--epochs", "seed": "--seed",
        "omit metadata": "omit --metadata", "domain_is_public=True": "--domain-is-public", "tables": "--tables",
    },
    "inspect": {**_IO_FLAGS}, "convert": {**_WRITE_FLAGS}, "predict": {**_WRITE_FLAGS},
    "train-private": {**_IO_FLAGS, "epsilon": "--epsilon", "delta": "--delta", "epochs": "--epochs", "seed": "--seed"},
    "hf-eval": {
        **_READ_FLAGS, "model bert": "--model bert", "model /path/to/model": "--model /path/to/model",
        "scratch architecture": "--from-scratch architecture", "device auto": "--device auto", "exclude": "--exclude",
        "max_rows": "--max-rows", "epochs": "--epochs", "batch_size": "--batch-size", "max_length": "--max-length",
        "learning_rate": "--learning-rate", "patience": "--patience", "threads": "--threads",
        "validation_fraction": "--validation-fraction", "class_weight": "--class-weight", "template": "--template",
        "seed": "--seed", "device": "--device",
    },
    "flock task": {"base_url": "--base-url"},
    "flock submit": {"base_url": "--base-url", "hg_repo_id": "--repo-id"},
    "flock run": {
        "base_url": "--base-url", "hg_repo_id": "--repo-id", "data": "--data", "dry_run": "--dry-run",
        "copy (train.candidates)": "copy (--model)",
    },
}

#: Words after which a plain-word parameter name (``db``, ``model``) stands for the parameter, not for the thing:
#: "check db", "pass template with", "compare needs adapter", "either db or …", "raise epsilon".
_BEFORE_PARAMETER = ("pass", "check", "needs", "either", "raise", "lower")


def _parameter_pattern(name: str) -> re.Pattern:
    """Where ``name`` names a parameter in a library message.

    A name with an underscore (``batch_size``) is no English word: every whole occurrence is the parameter. A
    plain word (``model``, ``data``) only where messages put a parameter: first in the message ("n must be …",
    "model X is a file") or right after one of :data:`_BEFORE_PARAMETER`, or as "unknown NAME 'value'".
    """
    word = re.escape(name)
    end = r"(?![\w./-])"
    if "_" in name or " " in name:
        return re.compile(rf"(?<![\w./-]){word}{end}")
    after = "|".join(rf"(?<=\b{re.escape(w)} )" for w in _BEFORE_PARAMETER)
    return re.compile(rf"(?:^|{after}){word}{end}|(?<=\bunknown ){word}(?= ['\"])")


def _rename(message: str, names: dict[str, str]) -> str:
    for name in sorted(names, key=len, reverse=True):  # "model_name" before "model"
        message = _parameter_pattern(name).sub(names[name], message)
    return message


def cli_message(exc: BaseException, command: str | None) -> str:
    """The text of a library error as the user of ``command`` should read it: flags, not parameter names.

    The names in ``FLAGS[command]``, those a command attached with :func:`renamed_flags`, and ``exc.param``
    (when the library set it; its flag is ``--`` and the name with dashes unless the table says otherwise) are
    replaced where :func:`_parameter_pattern` finds them. An attached rename also replaces the default flag
    (``--table`` → ``--holdout-table``).
    """
    message = str(exc)
    attached = getattr(exc, "cli_flags", {})
    names = {**FLAGS.get(command or "", {}), **attached}
    param = getattr(exc, "param", None)
    if param and param not in names:
        names[param] = "--" + str(param).replace("_", "-")
    message = _rename(message, names)
    for param, flag in attached.items():
        message = re.sub(rf"(?<![\w-])--{re.escape(param.replace('_', '-'))}(?![\w-])", flag, message)
    return message


@contextmanager
def renamed_flags(**flags: str) -> Iterator[None]:
    """Errors raised in the body name these flags for these parameters: ``renamed_flags(table="--holdout-table")``.

    For a command that reads several tables: the library's "pass --table NAME" (or "pass table NAME") then
    names the option of the table that failed. The innermost rename wins.
    """
    try:
        yield
    except UserInputError as exc:
        exc.cli_flags = {**flags, **getattr(exc, "cli_flags", {})}
        raise


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
def warnings_once(ctx=None) -> Iterator[None]:
    """Record warnings while the body runs; afterwards print each distinct one once as ``warning: …``.

    The lines are printed only after the recording has stopped, so printing
    can never feed the list being printed. With the group context ``ctx``, the
    parameter names of the running command become its flags, as in errors (:data:`FLAGS`).
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
        names = FLAGS.get(_command_of(ctx), {}) if ctx is not None and pending else {}
        for w in pending:
            text = _warning_text(w)
            line = None if text is None else clean(_rename(text, names))
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


def _command_of(ctx) -> str:
    """The path of the command a group context runs, after ``synthera``: ``"text generate"``, ``"fit"``."""
    if ctx is None:
        return ""
    parts = ctx.command_path.split()[1:]
    if ctx.invoked_subcommand:
        parts.append(ctx.invoked_subcommand)
    return " ".join(parts)


@contextmanager
def _one_line_errors(ctx=None) -> Iterator[None]:
    """Turn user mistakes, usage errors, denied writes and exhausted memory into one ``error:`` line.

    The command ``ctx`` runs (read when an error arrives) picks the row of :data:`FLAGS` that names its flags.
    """
    try:
        yield
    except UserInputError as exc:
        raise fail(cli_message(exc, _command_of(ctx))) from None
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
    except BrokenPipeError:
        # the reader went away (``synthera fit --help | head``): click's own handler exits quietly
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
        with _one_line_errors(ctx), warnings_once(ctx):
            return super().invoke(ctx)


def group(name: str, *, help: str, short_help: str) -> typer.Typer:  # noqa: A002 - typer's own word
    """A command group ``synthera NAME …`` on :data:`app` that prints errors like the root does."""
    sub = typer.Typer(
        cls=_Group,
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,  # locals may hold the user's data, secrets or API keys
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.add_typer(sub, name=name, help=short_help)
    return sub


app = typer.Typer(
    cls=_Group,
    name="synthera",
    help="Synthetic data you can share, with proof that it is useful, private and fair.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold the user's data or secrets
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: ``synthera text …``: shared here because two command modules add to it (``text`` and ``text_train``).
text_app = group(
    "text",
    help="Synthetic training data for language tasks: generate, fine-tune, evaluate.",
    short_help="Synthetic training data for language tasks (Text-to-SQL, summarization, QA, character dialogue).",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"synthera {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Synthetic data you can share, with proof that it is useful, private and fair."""
