"""Commands that build and use synthesizers: ``fit``, ``sample`` and ``models``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from synthera.cli.data import DATA_HELP, TABLE_HELP, _console, _status
from synthera.cli.main import app
from synthera.errors import UserInputError


@app.command()
def fit(
    data: str = typer.Argument(..., help=DATA_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to save the fitted model in."),
    table: Optional[str] = typer.Option(None, "--table", "-t", help=TABLE_HELP),
    metadata: Optional[Path] = typer.Option(
        None, "--metadata", "-m", help="Metadata JSON (e.g. edited after `synthera inspect`); the rest is inferred."
    ),
    model: Optional[str] = typer.Option(None, "--model", help="Synthesizer name (see `synthera models`); default: the flagship."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs, for models that train in epochs."),
    epsilon: Optional[float] = typer.Option(
        None, "--epsilon", help="Privacy budget ε, required by differentially private models (see `synthera models`)."
    ),
    delta: Optional[float] = typer.Option(
        None, "--delta", help="δ of (ε, δ)-DP (default: a power of ten at least ten times below 1/rows)."
    ),
    seed: Optional[int] = typer.Option(
        None, "--seed",
        help="Same seed and data give the same model (default 0; DP models default to fresh randomness for their noise).",
    ),
) -> None:
    """Learn a synthesizer from a real table and save it to a folder."""
    from synthera.io import read_table
    from synthera.metadata import Metadata
    from synthera.tabular import DEFAULT_SYNTHESIZER, get_synthesizer

    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} is a file; --out needs a folder to save the model in")
    cls = get_synthesizer(model or DEFAULT_SYNTHESIZER)
    private = cls.differentially_private
    params = {"seed": seed if seed is not None or private else 0}
    if not private and (epsilon is not None or delta is not None):
        flag = "--epsilon" if epsilon is not None else "--delta"
        raise UserInputError(
            f"the {cls.name} model is not differentially private and takes no {flag}; "
            "drop it, or pick a model marked ε-DP in `synthera models` (e.g. --model dp_marginals)"
        )
    if private:
        from synthera.dp.mechanisms import check_budget

        if epsilon is None:
            raise UserInputError(f"the {cls.name} model is differentially private and needs --epsilon, e.g. --epsilon 1")
        check_budget(epsilon, delta if delta is not None else 0.5)
        params.update(epsilon=epsilon, delta=delta)
    if epochs is not None:
        if "epochs" not in cls._param_names():
            raise UserInputError(f"the {cls.name} model does not train in epochs; drop --epochs")
        if epochs < 1:
            raise UserInputError(f"--epochs must be at least 1; got {epochs}")
        params["epochs"] = epochs
    hints = Metadata.load(metadata) if metadata else None
    with _status(f"Reading {data}"):
        df = read_table(data, table=table)
    start = time.perf_counter()
    synth = cls(**params).fit(df, metadata=hints, progress=True)
    seconds = time.perf_counter() - start
    synth.save(out)
    spent = ""
    if private:
        spent = f"; (ε, δ) = ({synth.privacy_['epsilon_spent']:.4g}, {synth.privacy_['delta']:.3g}) spent"
    _console().print(
        f"fitted {cls.name} on {len(df):,} rows × {df.shape[1]} columns in {seconds:.1f} s{spent}; saved to {out}"
    )


def _parse_where(items: list[str]) -> dict[str, str]:
    conditions = {}
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise UserInputError(f"--where expects COLUMN=VALUE; got {item!r}")
        conditions[column.strip()] = value
    return conditions


@app.command()
def sample(
    model_dir: Path = typer.Argument(..., help="A folder written by `synthera fit`."),
    rows: int = typer.Option(..., "--rows", "-n", help="Number of synthetic rows."),
    out: str = typer.Option(..., "--out", "-o", help="Where to write: .csv, .parquet, .jsonl or .db (SQLite)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Same seed, same rows (default: fresh randomness)."),
    where: list[str] = typer.Option(
        [], "--where", "-w", help="Condition COLUMN=VALUE that every row must meet; repeat for several."
    ),
    out_table: Optional[str] = typer.Option(None, "--out-table", help="Table name for SQLite output (default: the file name)."),
    balance: list[str] = typer.Option(
        [], "--balance", help="Give every group of this column the same share of rows; repeat for several columns."
    ),
    parity: Optional[str] = typer.Option(
        None, "--parity", help="Make this target column's rates equal across the --sensitive groups (demographic parity)."
    ),
    sensitive: list[str] = typer.Option([], "--sensitive", help="Sensitive column for --parity; repeat for several."),
    intersectional: bool = typer.Option(
        False, "--intersectional", help="Apply --balance/--parity to combinations of the columns (e.g. sex & race)."
    ),
    relabel: Optional[float] = typer.Option(
        None, "--relabel",
        help="With --parity: share of rows (0-1) whose target is re-drawn given their features instead of "
        "drawn per (group, target) cell; default 0.3 (see the README's bias section).",
    ),
) -> None:
    """Generate synthetic rows from a saved model, optionally with balanced groups or demographic parity."""
    from synthera.io import write_table
    from synthera.tabular import load_synthesizer

    if rows < 1:
        raise UserInputError(f"--rows must be at least 1; got {rows}")
    conditions = _parse_where(where)
    synth = load_synthesizer(model_dir)
    start = time.perf_counter()
    mitigate = bool(balance or parity or sensitive or intersectional or relabel is not None)
    plan = None
    if mitigate:
        from synthera.bias import mitigated_sample

        df, plan = mitigated_sample(synth, rows, balance=balance, parity=parity, sensitive=sensitive,
                                    intersectional=intersectional, relabel=relabel, conditions=conditions,
                                    seed=seed, progress=True)
    else:
        with _status(f"Sampling {rows:,} rows"):
            df = synth.sample(rows, seed=seed, conditions=conditions)
    seconds = time.perf_counter() - start
    where_written = write_table(df, out, table=out_table)
    console = _console()
    if plan is not None:
        for line in _plan_lines(df, plan):
            console.print(line)
    console.print(f"wrote {len(df):,} synthetic rows to {where_written} ({seconds:.2f} s to sample)")


def _plan_lines(df, plan) -> list[str]:
    """What the mitigation did, measured on the rows written: group shares and, with parity, target rates."""
    lines = []
    rarest = None if plan.parity is None else df[plan.parity].astype(str).value_counts().index[-1]
    for cols in plan._group_sets(list(dict.fromkeys([*plan.balance, *plan.sensitive]))):
        groups = df[cols].astype(str).agg(" & ".join, axis=1)
        shares = groups.value_counts(normalize=True)
        line = f"{' & '.join(cols)} shares: " + ", ".join(f"{g} {v:.1%}" for g, v in shares.items())
        if rarest is not None and set(cols) <= set(plan.sensitive):
            rates = (df[plan.parity].astype(str) == rarest).groupby(groups.to_numpy()).mean()
            line += f"; {plan.parity}={rarest} rate: " + ", ".join(f"{g} {v:.1%}" for g, v in rates.items())
        lines.append(line)
    return lines


@app.command()
def models() -> None:
    """List the synthesizers you can pass to `synthera fit --model`."""
    from rich.table import Table

    from synthera.tabular import DEFAULT_SYNTHESIZER, available_synthesizers, get_synthesizer

    view = Table(title="Synthesizers", title_justify="left")
    for header in ("name", "ε-DP (--epsilon)", "class", "parameters", "about"):
        view.add_column(header, overflow="fold")
    for name in available_synthesizers():
        cls = get_synthesizer(name)
        label = f"{name} (default)" if name == DEFAULT_SYNTHESIZER else name
        params = ", ".join(f"{k}={v!r}" for k, v in cls().get_params().items())
        about = (cls.__doc__ or "").strip().splitlines()[0]
        view.add_row(label, "yes, required" if cls.differentially_private else "no", cls.__name__, params, about)
    _console().print(view)
