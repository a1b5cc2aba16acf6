"""The CLI wrapper under abuse: warnings once, no hang, no secret printed, one line for every mistake."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer.main
from typer.testing import CliRunner

import synthera
from synthera.cli import app
from synthera.io import read_table, write_table
from tests.helpers import one_line_error

runner = CliRunner()
SECRET = "S3cretPw9"
URLS = [
    f"postgresql://u:{SECRET}@127.0.0.1:1/db",
    f"postgresql://u@127.0.0.1:1/db?password={SECRET}",
    f"postgresql+psycopg://127.0.0.1:1/db?user=u&password={SECRET}&sslmode=disable",
    f"host=127.0.0.1 port=1 user=u password={SECRET} dbname=db",  # libpq key/value form
]
SUBPROCESS_TIMEOUT = 90
MEMORY_LIMIT = 4 * 1024**3  # a runaway command fails here instead of eating the machine


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _small_table(n: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "a": rng.integers(0, 60, n),
        "b": rng.choice(["x", "y", "z"], n),
        "c": rng.normal(size=n).round(2),
        "d": [f"k{i % 70}" for i in range(n)],
        "e": rng.integers(0, 2, n),
    })


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.csv"
    _small_table().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_dir(small_csv) -> Path:
    out = small_csv.parent / "model"
    result = runner.invoke(app, ["fit", str(small_csv), "--out", str(out), "--model", "gaussian_copula"])
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def private_dir(small_csv) -> Path:
    out = small_csv.parent / "private"
    result = runner.invoke(app, ["train-private", str(small_csv), "--target", "b", "--epsilon", "inf", "--epochs", "1",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    return out


def _run(args: list[str], *, prelude: str = "") -> subprocess.CompletedProcess:
    """The CLI in a fresh interpreter, as a user runs it, after ``prelude`` (e.g. a patch); never waits forever."""
    code = textwrap.dedent(prelude) + textwrap.dedent("""
        import sys
        from synthera.cli import main
        sys.argv = ['synthera', *sys.argv[1:]]
        main()
    """)
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(synthera.__file__).parents[1])}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False, timeout=SUBPROCESS_TIMEOUT,
        preexec_fn=_limit_memory, env=env,
    )


# ---------------------------------------------------------------- 1. warnings: printed once, no hang


NOISY = """
import warnings
import synthera.io as io
from synthera.errors import SyntheraWarning

_read = io.read_table

def noisy(*args, **kwargs):
    for i in range(3):
        warnings.warn("The least populated class in y has only 1 members, which is less than n_splits=5.",
                      UserWarning, stacklevel=1 + i % 2)
        warnings.warn("a developer notice", FutureWarning)
        warnings.warn("column 'x' looks odd; check it", SyntheraWarning)
    return _read(*args, **kwargs)

io.read_table = noisy
"""


def test_third_party_warnings_are_printed_once_and_the_command_returns(small_csv):
    proc = _run(["inspect", str(small_csv)], prelude=NOISY)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines.count(
        "warning: UserWarning: The least populated class in y has only 1 members, which is less than n_splits=5."
    ) == 1, proc.stderr
    assert lines.count("warning: column 'x' looks odd; check it") == 1, proc.stderr
    assert "FutureWarning" not in proc.stderr and "Traceback" not in proc.stderr
    assert all(line.startswith("warning: ") for line in lines), proc.stderr


def test_fit_on_a_small_table_returns_promptly_with_each_warning_once(small_csv, tmp_path):
    proc = _run(["fit", str(small_csv), "--out", str(tmp_path / "m")])
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warned) == len(set(warned)), proc.stderr
    assert (tmp_path / "m" / "manifest.json").exists()


# ---------------------------------------------------------------- 4. secrets never printed


def _read_commands(url: str, small_csv: Path, model_dir: Path, private_dir: Path, out: Path) -> dict[str, list[str]]:
    csv = str(small_csv)
    return {
        "inspect": ["inspect", url],
        "convert": ["convert", url, str(out / "c.csv")],
        "fit": ["fit", url, "--out", str(out / "m")],
        "bias": ["bias", url, "--target", "b", "--sensitive", "e", "--out", str(out / "b")],
        "bias-holdout": ["bias", csv, "--holdout", url, "--target", "b", "--sensitive", "e", "--out", str(out / "b")],
        "hf-eval": ["hf-eval", "--real", url, "--synthetic", csv, "--test", csv, "--target", "b", "--out",
                    str(out / "h")],
        "train-private": ["train-private", url, "--target", "b", "--epsilon", "1", "--out", str(out / "p")],
        "predict": ["predict", str(private_dir), "--data", url, "--out", str(out / "p.csv")],
        "evaluate": ["evaluate", "--real", url, "--synthetic", csv, "--out", str(out / "e")],
        "sample": ["sample", str(model_dir), "-n", "5", "--out", url, "--out-table", "t"],
    }


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("command", ["inspect", "convert", "fit", "bias", "bias-holdout", "hf-eval", "train-private",
                                     "predict", "evaluate", "sample"])
def test_a_password_is_never_printed(command, url, small_csv, model_dir, private_dir, tmp_path, monkeypatch):
    import synthera.cli._common as cli_common

    spinner_texts = []

    class Recorder(cli_common._Quiet):
        def __init__(self, status: str = ""):
            super().__init__(status)
            spinner_texts.append(status)

    monkeypatch.setattr(cli_common, "_Quiet", Recorder)
    args = _read_commands(url, small_csv, model_dir, private_dir, tmp_path)[command]
    result = runner.invoke(app, args)
    assert result.exit_code != 0  # nothing listens on port 1, and the libpq form is no file
    assert "Traceback" not in result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert not any(SECRET in text for text in spinner_texts), spinner_texts
    assert command == "sample" or any(text.startswith("Reading") for text in spinner_texts), spinner_texts


def test_the_spinner_text_is_redacted_on_a_terminal(monkeypatch):
    from synthera.cli._common import status

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    spinner = status(f"Reading {URLS[1]}")
    assert spinner.status == "Reading postgresql://u@127.0.0.1:1/db?password=***"


def test_inspect_title_masks_the_password(monkeypatch):
    monkeypatch.setattr("synthera.io.read_table", lambda *a, **k: _small_table(20))
    result = runner.invoke(app, ["inspect", URLS[0]])
    assert result.exit_code == 0, result.stderr
    assert "postgresql://u:***@127.0.0.1:1/db" in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_every_printed_line_goes_through_redaction(monkeypatch):
    from synthera.cli._app import fail, warn
    from synthera.cli._common import console

    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-abcdef-123456")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", err)
    console().print(f"connected to {URLS[2]} with tok-abcdef-123456")
    assert SECRET not in err.getvalue() and "tok-abcdef-123456" not in err.getvalue()
    assert "password=***" in err.getvalue()
    monkeypatch.setattr(sys, "stderr", err)
    warn(f"slow: {URLS[3]}")
    exit_ = fail(f"cannot reach {URLS[0]}\nsecond line")
    assert exit_.exit_code == 2
    assert SECRET not in err.getvalue()
    assert "error: cannot reach postgresql://u:***@127.0.0.1:1/db second line\n" in err.getvalue()


def test_an_unexpected_error_shows_its_traceback_without_secrets(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError(f"driver failed for {URLS[0]}")

    monkeypatch.setattr("synthera.io.read_table", broken)
    result = runner.invoke(app, ["inspect", URLS[0]])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "RuntimeError: driver failed for postgresql://u:***@" in result.stderr
    assert SECRET not in result.stdout + result.stderr


# ---------------------------------------------------------------- 17. usage errors, advice names real options


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["fit"], "Missing argument"),
        (["fit", "x.csv", "--out", "m", "--bogus"], "No such option: --bogus"),
        (["sample", "m", "--rows", "many", "--out", "x.csv"], "--rows"),
        (["nocmd"], "No such command 'nocmd'"),
        (["--bogus"], "No such option"),
        (["text", "generate", "--bogus"], "No such option"),
        (["fit", "x.csv", "--out"], "requires an argument"),
    ],
)
def test_usage_errors_are_one_line(args, needle):
    one_line_error(runner.invoke(app, args), needle)


def test_usage_error_in_the_console_script_is_one_line():
    proc = _run(["sample", "m", "--rows", "many", "--out", "x.csv"])
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("error: "), proc.stderr



@pytest.mark.parametrize("args", [["--version"], ["fit", "--help"]])
def test_output_into_a_closed_pipe_prints_no_traceback(args):
    """``synthera --version | head`` where the reader has gone: a quiet exit, no traceback on stderr."""
    import os

    read, write = os.pipe()
    os.close(read)  # every write to the pipe now fails with EPIPE
    code = f"import sys; from synthera.cli import main; sys.argv = ['synthera', *{args!r}]; main()"
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(synthera.__file__).parents[1])}
    try:
        proc = subprocess.run([sys.executable, "-c", code], stdout=write, stderr=subprocess.PIPE, text=True,
                              check=False, timeout=SUBPROCESS_TIMEOUT, env=env)
    finally:
        os.close(write)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr

def _all_options(command) -> set[str]:
    found = set()
    for param in command.params:
        found.update(param.opts)
        found.update(param.secondary_opts)
    for sub in getattr(command, "commands", {}).values():
        found |= _all_options(sub)
    return found


def _commands(command, path=()) -> dict[str, object]:
    subs = getattr(command, "commands", {})
    found = {" ".join(path): command} if path else {}
    for name, sub in subs.items():
        found.update(_commands(sub, (*path, name)))
    return found


#: Options of other programs that install hints name (pip), and click's own help.
FOREIGN_OPTIONS = {"--no-deps", "--force-reinstall", "--index-url", "--help"}


def test_every_option_a_message_names_exists():
    options = _all_options(typer.main.get_command(app)) | FOREIGN_OPTIONS
    missing = {}
    for path in Path(synthera.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", node.value):
                    if flag not in options:
                        missing.setdefault(flag, set()).add(path.name)
    assert not missing, missing


READERS = ["inspect", "fit", "bias", "hf-eval", "train-private", "predict", "convert", "evaluate"]


@pytest.mark.parametrize("command", READERS)
def test_every_command_that_reads_tables_takes_an_encoding(command):
    assert "--encoding" in _all_options(_commands(typer.main.get_command(app))[command])


@pytest.mark.parametrize("command", READERS[:-1])  # evaluate: see its own tests
def test_every_command_that_reads_tables_takes_a_format(command):
    """Reading errors advise --format (e.g. "is not a SQLite database; ... pass --format")."""
    assert "--format" in _all_options(_commands(typer.main.get_command(app))[command])


@pytest.mark.parametrize("command", ["sample", "convert", "predict"])
def test_a_database_url_output_asks_for_the_option_that_exists(command, model_dir, private_dir, small_csv):
    url = f"postgresql://u:{SECRET}@127.0.0.1:1/db"
    args = {
        "sample": ["sample", str(model_dir), "-n", "5", "-o", url],
        "convert": ["convert", str(small_csv), url],
        "predict": ["predict", str(private_dir), "--data", str(small_csv), "-o", url],
    }[command]
    result = runner.invoke(app, args)
    one_line_error(result, "--out-table NAME")
    assert SECRET not in result.stderr
    assert "--out-table" in _all_options(_commands(typer.main.get_command(app))[command])


def test_fit_reads_with_the_encoding_it_is_given(tmp_path):
    path = tmp_path / "latin.csv"
    frame = _small_table(60)
    frame["b"] = frame["b"].map({"x": "café", "y": "Zürich", "z": "niño"})
    frame.to_csv(path, index=False, encoding="latin-1")
    one_line_error(runner.invoke(app, ["fit", str(path), "--out", str(tmp_path / "m"), "--model", "gaussian_copula"]),
                   "--encoding")
    result = runner.invoke(app, ["fit", str(path), "--out", str(tmp_path / "m"), "--model", "gaussian_copula",
                                 "--encoding", "latin-1"])
    assert result.exit_code == 0, result.stderr


def test_sample_takes_the_format_its_advice_names(model_dir, tmp_path):
    out = tmp_path / "rows.txt"
    one_line_error(runner.invoke(app, ["sample", str(model_dir), "-n", "5", "-o", str(out)]), "--format")
    result = runner.invoke(app, ["sample", str(model_dir), "-n", "5", "-o", str(out), "--format", "jsonl"])
    assert result.exit_code == 0, result.stderr
    assert len(read_table(out, format="jsonl")) == 5


# ---------------------------------------------------------------- 18. impossible sizes


@pytest.mark.parametrize("out", ["big.csv", "big.db", "big.parquet"])
def test_a_trillion_rows_is_refused_in_one_line(model_dir, tmp_path, out):
    one_line_error(runner.invoke(app, ["sample", str(model_dir), "--rows", "1000000000000", "-o", str(tmp_path / out)]),
                   "--rows 1,000,000,000,000", "fewer --rows")
    assert not list(tmp_path.iterdir())


def test_rows_beyond_memory_are_refused_for_whole_table_formats(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("synthera.cli.synth.available_memory", lambda: 2_000_000)
    one_line_error(runner.invoke(app, ["sample", str(model_dir), "--rows", "50000000", "-o", str(tmp_path / "s.db")]),
                   "of memory", "fewer --rows")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_rows_beyond_memory_are_written_in_blocks(model_dir, tmp_path, monkeypatch, suffix):
    import synthera.cli.synth as cli_synth
    from synthera.tabular.base import Synthesizer

    monkeypatch.setattr(cli_synth, "MAX_CHUNK_ROWS", 60)
    monkeypatch.setattr(cli_synth, "MIN_CHUNK_ROWS", 10)
    largest = []
    whole = Synthesizer.sample_rows

    def sample_rows(self, start, stop, **kwargs):
        largest.append(stop - start)
        return whole(self, start, stop, **kwargs)

    monkeypatch.setattr(Synthesizer, "sample_rows", sample_rows)
    out = tmp_path / f"s{suffix}"
    args = ["sample", str(model_dir), "--rows", "250", "-o", str(out), "--seed", "4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert max(largest) == 60  # never more rows in memory than one block
    first = read_table(out)
    assert first.shape == (250, 5)
    assert list(first.columns) == list("abcde")
    assert not first.iloc[:60].reset_index(drop=True).equals(first.iloc[60:120].reset_index(drop=True))
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left
    assert runner.invoke(app, args).exit_code == 0
    pd.testing.assert_frame_equal(read_table(out), first)  # same seed, same rows, block by block
    from synthera.tabular import load_synthesizer

    in_one_go = load_synthesizer(model_dir).sample(250, seed=4)  # blocks never change the rows
    assert first.astype(str).equals(in_one_go.astype(str).reset_index(drop=True))


def test_memory_error_is_one_line(model_dir, tmp_path, monkeypatch):
    from synthera.tabular.base import Synthesizer

    def exhausted(self, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Synthesizer, "sample", exhausted)
    one_line_error(runner.invoke(app, ["sample", str(model_dir), "-n", "10", "-o", str(tmp_path / "s.csv")]),
                   "not enough memory", code=1)


# ---------------------------------------------------------------- 20. overwriting a table


def test_writers_refuse_to_replace_a_table_without_replace(model_dir, private_dir, small_csv, tmp_path):
    db = tmp_path / "shop.db"
    write_table(pd.DataFrame({"real": [1, 2, 3]}), db, table="t")
    base = ["sample", str(model_dir), "-n", "7", "-o", str(db), "--out-table", "t"]
    one_line_error(runner.invoke(app, base), "'t'", "--replace")
    assert read_table(db, table="t").shape == (3, 1)
    assert runner.invoke(app, [*base, "--replace"]).exit_code == 0
    assert read_table(db, table="t").shape == (7, 5)
    predict = ["predict", str(private_dir), "--data", str(small_csv), "-o", str(db), "--out-table", "t"]
    one_line_error(runner.invoke(app, predict), "--replace")
    assert runner.invoke(app, [*predict, "--replace"]).exit_code == 0
    assert "prediction" in read_table(db, table="t").columns
    convert = ["convert", str(small_csv), str(db), "--out-table", "t"]
    one_line_error(runner.invoke(app, convert), "--replace")
    assert runner.invoke(app, [*convert, "--replace"]).exit_code == 0
    assert read_table(db, table="t").shape == (100, 5)


# ---------------------------------------------------------------- 7. output checked before the work


def _no_reading(*args, **kwargs):
    raise AssertionError("the table was read before the output location was checked")


@pytest.mark.parametrize("command", ["fit", "inspect", "bias", "train-private", "convert", "sample", "predict"])
def test_an_unwritable_output_is_refused_before_any_work(command, model_dir, tmp_path, monkeypatch):
    (tmp_path / "plain").write_text("a file, not a folder")
    bad = str(tmp_path / "plain" / "sub" / "out")
    args = {
        "fit": ["fit", "x.csv", "--out", bad],
        "inspect": ["inspect", "x.csv", "--out", bad + ".json"],
        "bias": ["bias", "x.csv", "--target", "b", "--sensitive", "e", "--out", bad],
        "train-private": ["train-private", "x.csv", "--target", "b", "--epsilon", "1", "--out", bad],
        "convert": ["convert", "x.csv", bad + ".csv"],
        "sample": ["sample", str(tmp_path / "no-model"), "-n", "5", "-o", bad + ".csv"],
        "predict": ["predict", str(tmp_path / "no-model"), "--data", "x.csv", "-o", bad + ".csv"],
    }[command]
    monkeypatch.setattr("synthera.io.read_table", _no_reading)
    one_line_error(runner.invoke(app, args), "cannot write to")


def test_a_denied_write_is_one_line(model_dir, tmp_path, monkeypatch):
    target = tmp_path / "s.csv"

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr("synthera.io.write_table", denied)
    one_line_error(runner.invoke(app, ["sample", str(model_dir), "-n", "5", "-o", str(target)]),
                   f"cannot write to {target}: permission denied; pick another --out")


# ---------------------------------------------------------------- 14. DP fits on measured metadata


def test_fit_passes_domain_is_public_to_dp_models(small_csv, tmp_path):
    meta = tmp_path / "m.json"
    assert runner.invoke(app, ["inspect", str(small_csv), "-o", str(meta)]).exit_code == 0
    base = ["fit", str(small_csv), "--out", str(tmp_path / "dp"), "--model", "dp_ctgan", "--epochs", "1",
            "--epsilon", "1", "--seed", "0", "--metadata", str(meta)]
    one_line_error(runner.invoke(app, base), "--domain-is-public")
    result = runner.invoke(app, [*base, "--domain-is-public"])
    assert result.exit_code == 0, result.stderr


# ---------------------------------------------------------------- 3. inspect shows merges, never personal cells


def test_inspect_says_when_rare_categories_were_merged():
    from synthera.cli.data import _describe
    from synthera.metadata import ColumnMetadata

    col = ColumnMetadata(kind="categorical", categories=["a", "b"])
    col.rare_categories = 3
    assert "3 rare categories (fewer than 5 rows each) merged" in _describe(col)
    col.rare_categories = None
    assert "rare" not in _describe(col)


def test_inspect_never_prints_a_personal_cell(tmp_path):
    n = 60
    frame = pd.DataFrame({
        "email": [f"person{i}@mailhost.example" for i in range(n)],
        "customer_id": np.arange(7_000_000, 7_000_000 + n),
        "note": [f"customer {i} asked about the parcel to Wroclaw street {i}" for i in range(n)],
        "segment": ["gold", "silver"] * (n // 2),
    })
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.stderr
    shown = result.stdout + result.stderr
    assert "@mailhost.example" not in shown and "7000000" not in shown and "7,000,000" not in shown
    assert "Wroclaw" not in shown
    assert "gold" in shown


def test_inspect_never_prints_a_rare_category(tmp_path):
    cities = ["Lagos"] * 90 + ["Lima"] * 90 + ["Oslo"] * 10 + [f"Aaron{i}" for i in range(10)]
    path = tmp_path / "rare.csv"
    pd.DataFrame({"city": cities, "x": np.arange(200) % 7}).to_csv(path, index=False)
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.stderr
    assert "Aaron" not in result.stdout + result.stderr
    assert "Lagos" in result.stdout and "10 rare categories" in result.stdout
