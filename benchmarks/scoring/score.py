"""Score a synthetic table against the real train and test splits: fidelity, utility, privacy.

Runs inside benchmarks/.venv-peers (it needs sdmetrics and xgboost, which Synthera does
not depend on). The scoring is the same for every synthesizer, Synthera's or a peer's,
because each one only hands over a file.

* ``quality``: SDMetrics (unified ``QualityReport``) Column Shapes, and Column Pair Trends
  over ALL column pairs (105 on Adult), real = train. Numeric columns of the real train
  frame are ``numerical``; every other column is ``categorical``.
* ``ml``: XGBoost ``XGBClassifier(enable_categorical=True, random_state=0, n_jobs=2)`` with
  default hyper-parameters. TSTR trains on the synthetic table and TRTR (the reference)
  on the real train split. Both are tested on the real test split. Reports ROC AUC,
  accuracy and F1 at a 0.5 threshold; the positive class is the train split's minority label.
* ``privacy``: ``exact_copy_rate`` is the share of synthetic rows equal to a train row on
  every column (NaN equals NaN). ``dcr_share`` is the share of synthetic rows whose L1
  nearest neighbour in a random train subset (seed 0, as many rows as the test split) is
  nearer than their nearest neighbour in the test split. Ties count one half, and the
  ideal is 0.5. The encoding: numerics min-max scaled with train's min and max,
  categoricals one-hot with NaN as its own level. Above 10,000 synthetic rows, a random
  10,000 (seed 0) are used, and the JSON says so. ``dcr_median_train`` is the median
  distance to that train subset.

If ``--synthetic`` is the test file itself, the run is the ``real_holdout`` reference. TSTR
is then skipped (it would train on the test split), and the test-side DCR leaves each row
out of its own neighbour search (the second-nearest test row is used), so a fresh real
sample scores about 0.5.

    benchmarks/.venv-peers/bin/python benchmarks/scoring/score.py \
        --train /tmp/peer_runs/adult_train.parquet --test /tmp/peer_runs/adult_test.parquet \
        --synthetic /tmp/peer_runs/gaussian_copula.csv --target income \
        --out /tmp/peer_runs/gaussian_copula.score.json [--name gaussian_copula]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DCR_MAX_ROWS = 10_000
TABLE = "table"


def read_frame(path) -> pd.DataFrame:
    """Read a CSV or Parquet file (chosen by the extension)."""
    path = Path(path)
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def column_kinds(train: pd.DataFrame) -> dict[str, str]:
    """``numerical`` for numeric (non-boolean) dtypes of the real train frame, else ``categorical``."""
    return {
        c: "numerical" if pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) else "categorical"
        for c, t in train.dtypes.items()
    }


def harmonise(df: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Put ``df`` into train's column order, numerics as float, categoricals as str objects (NaN kept).

    Raises
    ------
    ValueError
        If a train column is missing.
    """
    missing = [c for c in kinds if c not in df.columns]
    if missing:
        raise ValueError(f"synthetic table lacks columns {missing}")
    out = {}
    for c, kind in kinds.items():
        if kind == "numerical":
            out[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        else:
            col = df[c].astype(object)
            out[c] = col.where(col.isna(), col.astype(str))
    return pd.DataFrame(out, index=df.index).reset_index(drop=True)  # built at once: wide tables stay fast


def quality(train: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str]) -> dict:
    """SDMetrics Column Shapes and Column Pair Trends over every pair of columns.

    sdmetrics 0.32's ``sdmetrics.reports.QualityReport.__init__`` sets
    ``real_correlation_threshold = 0.5`` and ``real_association_threshold = 0.3``
    (``sdmetrics.reports.utils.DEFAULT_REAL_*_THRESHOLD``). ``BaseReport.generate`` copies
    both onto the Column Pair Trends property. That property then averages only the pairs
    marked ``Meets Threshold?`` (``_compute_average_with_threshold``). Both attributes
    are set to 0 on the report before ``generate``. With a threshold <= 0,
    ``ColumnPairTrends._compute_pair_score`` marks every pair as meeting it and passes
    no threshold to the metric, so all pairs count, as in sdmetrics before 0.32.
    sdmetrics still subsamples a categorical pair (``ContingencySimilarity``) when a
    table has more than 50,000 rows (``num_rows_subsample``); Adult's train split has 32,561.
    """
    from sdmetrics.reports import QualityReport

    metadata = {"tables": {TABLE: {"columns": {c: {"sdtype": k} for c, k in kinds.items()}}}}
    report = QualityReport()
    report.real_correlation_threshold = 0
    report.real_association_threshold = 0
    report.generate({TABLE: train}, {TABLE: synth}, metadata, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    pairs = report.get_details("Column Pair Trends")
    shapes, trends = float(props["Column Shapes"]), float(props["Column Pair Trends"])
    return {
        "column_shapes": round(shapes, 4),
        "column_pair_trends": round(trends, 4),
        "overall": round((shapes + trends) / 2, 4),
        "pairs_total": len(pairs),
        # pairs that count in the average: a score, and "Meets Threshold?" (all True here)
        "pairs_scored": int((pairs["Score"].notna() & pairs["Meets Threshold?"].astype("boolean").fillna(False)).sum()),
        "pair_thresholds": "none (all pairs count)",
    }


def _xgb_frames(frames: list[pd.DataFrame], kinds: dict[str, str], target: str):
    """Categorical feature columns as pandas ``category`` with levels from all frames (NaN stays missing)."""
    frames = [f.drop(columns=[target]).copy() for f in frames]
    for c, kind in kinds.items():
        if c == target or kind != "categorical":
            continue
        levels = sorted(set().union(*(f[c].dropna().unique() for f in frames)))
        for f in frames:
            f[c] = pd.Categorical(f[c], categories=levels)
    return frames


def fit_and_test(train_x, train_y, test_x, test_y) -> dict:
    """Train XGBoost on (train_x, train_y) and report AUC, accuracy and F1 on the test split."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from xgboost import XGBClassifier

    if train_y.nunique() < 2:
        return {"error": "the training table has only one class", "train_rows": len(train_y)}
    model = XGBClassifier(enable_categorical=True, random_state=0, n_jobs=2)
    t = time.perf_counter()
    model.fit(train_x, train_y)
    proba = model.predict_proba(test_x)[:, 1]
    pred = (proba >= 0.5).astype(int)
    return {
        "roc_auc": round(float(roc_auc_score(test_y, proba)), 4),
        "accuracy": round(float(accuracy_score(test_y, pred)), 4),
        "f1": round(float(f1_score(test_y, pred)), 4),
        "train_rows": len(train_y),
        "train_positive_rate": round(float(train_y.mean()), 4),
        "predicted_positive_rate": round(float(pred.mean()), 4),
        "seconds": round(time.perf_counter() - t, 2),
    }


def utility(train, test, synth, kinds, target, positive, holdout: bool) -> dict:
    """TSTR (train on synthetic) and TRTR (train on real train), both tested on the real test split."""
    tr_x, te_x, sy_x = _xgb_frames([train, test, synth], kinds, target)
    labels = [(f[target] == positive).astype(int) for f in (train, test, synth)]
    result = {"positive_label": positive, "test_rows": len(test), "test_positive_rate": round(float(labels[1].mean()), 4)}
    result["trtr"] = fit_and_test(tr_x, labels[0], te_x, labels[1])
    if holdout:
        result["tstr"] = None
        result["tstr_note"] = "skipped: the synthetic table is the test split; trtr is this row's reference"
    else:
        result["tstr"] = fit_and_test(sy_x, labels[2], te_x, labels[1])
    return result


def _row_hashes(df: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row; equal rows (NaN equal to NaN) get equal hashes."""
    return pd.util.hash_pandas_object(df, index=False).to_numpy()


def _encode(frames: list[pd.DataFrame], ref: pd.DataFrame, kinds: dict[str, str]) -> list[np.ndarray]:
    """Min-max scale numerics by ``ref`` (train) and one-hot categoricals (NaN a level of its own).

    A numeric NaN becomes 0 plus a 0/1 missing indicator, so missing vs present costs 1.
    """
    parts = [[] for _ in frames]
    for c, kind in kinds.items():
        if kind == "numerical":
            lo, hi = ref[c].min(), ref[c].max()
            span = hi - lo if hi > lo else 1.0
            has_nan = any(f[c].isna().any() for f in frames)
            for out, f in zip(parts, frames):
                out.append(((f[c] - lo) / span).fillna(0.0).to_numpy()[:, None])
                if has_nan:
                    out.append(f[c].isna().to_numpy(float)[:, None])
        else:
            levels = pd.Index(sorted(set().union(*(f[c].dropna().unique() for f in frames))))
            for out, f in zip(parts, frames):
                codes = levels.get_indexer(f[c])  # -1 for NaN: its own level, the last column
                onehot = np.zeros((len(f), len(levels) + 1))
                onehot[np.arange(len(f)), codes] = 1.0
                out.append(onehot)
    return [np.hstack(p) for p in parts]


def privacy(train, test, synth, kinds, holdout: bool) -> dict:
    """Exact copies of train rows, and the DCR share (train subset vs test split, L1 distance)."""
    from sklearn.neighbors import NearestNeighbors

    copies = np.isin(_row_hashes(synth), _row_hashes(train))
    rng = np.random.default_rng(0)
    train_sub = train.iloc[np.sort(rng.choice(len(train), size=min(len(test), len(train)), replace=False))]
    sub = synth
    subsampled = len(synth) > DCR_MAX_ROWS
    if subsampled:
        sub = synth.iloc[np.sort(np.random.default_rng(0).choice(len(synth), size=DCR_MAX_ROWS, replace=False))]
    x_train, x_test, x_syn = _encode([train_sub, test, sub], train, kinds)

    def nearest(ref, k=1):
        nn = NearestNeighbors(n_neighbors=k, metric="manhattan", n_jobs=2).fit(ref)
        return nn.kneighbors(x_syn)[0][:, k - 1]

    t = time.perf_counter()
    d_train = nearest(x_train)
    # Holdout: each synthetic row is itself in the test split, so skip that self-match.
    d_test = nearest(x_test, k=2 if holdout else 1)
    ties = np.isclose(d_train, d_test, rtol=0, atol=1e-9)
    share = float(np.mean((d_train < d_test) & ~ties) + 0.5 * np.mean(ties))
    return {
        "exact_copies": int(copies.sum()),
        "exact_copy_rate": round(float(copies.mean()), 5),
        "dcr_share": round(share, 4),
        "dcr_median_train": round(float(np.median(d_train)), 4),
        "dcr_median_test": round(float(np.median(d_test)), 4),
        "dcr_ties": round(float(np.mean(ties)), 4),
        "dcr_metric": "L1 (manhattan); numerics min-max by train, categoricals one-hot with NaN a level",
        "dcr_dims": int(x_syn.shape[1]),
        "dcr_train_subset_rows": len(train_sub),
        "dcr_synthetic_rows_used": len(sub),
        "dcr_synthetic_subsampled": subsampled,
        "dcr_test_side": "leave-one-out (2nd nearest)" if holdout else "nearest",
        "dcr_seconds": round(time.perf_counter() - t, 2),
    }


def independent_columns(train: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """A reference sample, not a model: every column of ``train`` shuffled on its own.

    Each column keeps its exact values (1-way marginals), and no relation between columns is left (nor any
    privacy: every value is a training value). Benchmarks score it beside the models.
    """
    rng = np.random.default_rng(seed)
    return train.apply(lambda s: s.sample(frac=1.0, random_state=int(rng.integers(2**31))).to_numpy())


def main(argv=None) -> int:
    """Parse arguments, score, print a one-line summary and write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--synthetic", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--out", required=True, help="JSON to write")
    p.add_argument("--name", help="label for this table (default: the synthetic file's stem, or real_holdout)")
    p.add_argument("--positive", help="positive label (default: the train split's minority label)")
    args = p.parse_args(argv)

    import sdmetrics
    import sklearn
    import xgboost

    holdout = Path(args.synthetic).resolve() == Path(args.test).resolve()
    train_raw = read_frame(args.train)
    kinds = column_kinds(train_raw)
    train = harmonise(train_raw, kinds)
    test = harmonise(read_frame(args.test), kinds)
    synth = harmonise(read_frame(args.synthetic), kinds)
    positive = args.positive or str(train[args.target].value_counts().idxmin())

    result = {
        "name": args.name or ("real_holdout" if holdout else Path(args.synthetic).stem),
        "is_real_holdout": holdout,
        "train": args.train, "test": args.test, "synthetic": args.synthetic, "target": args.target,
        "rows": {"train": len(train), "test": len(test), "synthetic": len(synth)},
        "versions": {"sdmetrics": sdmetrics.__version__, "xgboost": xgboost.__version__,
                     "scikit-learn": sklearn.__version__, "pandas": pd.__version__},
    }
    t = time.perf_counter()
    result["quality"] = quality(train, synth, kinds)
    result["quality"]["seconds"] = round(time.perf_counter() - t, 2)
    result["ml"] = utility(train, test, synth, kinds, args.target, positive, holdout)
    result["privacy"] = privacy(train, test, synth, kinds, holdout)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    q, ml, pv = result["quality"], result["ml"], result["privacy"]
    auc = (ml["tstr"] or ml["trtr"]).get("roc_auc")
    print(f"{result['name']}: shapes {q['column_shapes']} pairs {q['column_pair_trends']} "
          f"({q['pairs_scored']}/{q['pairs_total']}) AUC {auc} copies {pv['exact_copy_rate']} "
          f"DCR share {pv['dcr_share']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
