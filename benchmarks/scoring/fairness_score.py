"""Train XGBoost on each given table, test on the real test split, report accuracy, AUC and group disparity.

Runs inside benchmarks/.venv-peers (xgboost is not a Synthera dependency), with
the same model as score.py: ``XGBClassifier(enable_categorical=True,
random_state=0, n_jobs=2)``, default hyper-parameters, a 0.5 threshold, the
positive class being the real train split's minority label. For every
sensitive column: selection rate (share predicted positive), true- and
false-positive rate per group on the test split; demographic parity
difference is the largest gap in selection rate, equalized odds difference
the larger of the largest TPR and FPR gaps (Fairlearn's definitions).

    benchmarks/.venv-peers/bin/python benchmarks/scoring/fairness_score.py --train TRAIN.parquet \
        --test TEST.parquet --table real=TRAIN.parquet --table parity=PARITY.parquet \
        --target income --sensitive sex --out FAIRNESS.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import _xgb_frames, column_kinds, read_frame  # noqa: E402


def group_rates(pred: np.ndarray, y: np.ndarray, groups: pd.Series) -> dict:
    out = {}
    for g in sorted(groups.dropna().unique(), key=str):
        mask = (groups == g).to_numpy()
        pos, neg = mask & (y == 1), mask & (y == 0)
        out[str(g)] = {
            "rows": int(mask.sum()),
            "selection_rate": float(pred[mask].mean()),
            "true_positive_rate": float(pred[pos].mean()) if pos.any() else None,
            "false_positive_rate": float(pred[neg].mean()) if neg.any() else None,
        }
    return out


def gaps(rates: dict) -> dict:
    def spread(key):
        values = [r[key] for r in rates.values() if r[key] is not None]
        return max(values) - min(values) if values else None

    tpr, fpr = spread("true_positive_rate"), spread("false_positive_rate")
    return {"demographic_parity_difference": spread("selection_rate"),
            "equalized_odds_difference": max(v for v in (tpr, fpr) if v is not None)}


def main(argv=None) -> int:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from xgboost import XGBClassifier

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", required=True, help="the real train split (defines kinds and the positive label)")
    p.add_argument("--test", required=True)
    p.add_argument("--table", action="append", required=True, help="NAME=PATH of a table to train on; repeat")
    p.add_argument("--target", required=True)
    p.add_argument("--sensitive", action="append", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    train, test = read_frame(args.train), read_frame(args.test)
    kinds = column_kinds(train)
    positive = train[args.target].value_counts().idxmin()
    tables = {name: read_frame(path) for name, path in (t.split("=", 1) for t in args.table)}
    names = list(tables)
    frames = _xgb_frames([test, *tables.values()], kinds, args.target)
    test_x, y_test = frames[0], (test[args.target] == positive).astype(int).to_numpy()
    results = {"positive_label": positive, "test_rows": len(test), "model": "xgboost XGBClassifier (defaults)",
               "tables": {}}
    for name, x in zip(names, frames[1:]):
        table = tables[name]
        y = (table[args.target] == positive).astype(int)
        model = XGBClassifier(enable_categorical=True, random_state=0, n_jobs=2).fit(x, y)
        proba = model.predict_proba(test_x)[:, 1]
        pred = (proba >= 0.5).astype(int)
        entry = {"train_rows": len(table), "train_positive_rate": float(y.mean()),
                 "roc_auc": float(roc_auc_score(y_test, proba)), "accuracy": float(accuracy_score(y_test, pred)),
                 "f1": float(f1_score(y_test, pred)), "by_sensitive": {}}
        for col in args.sensitive:
            rates = group_rates(pred, y_test, test[col])
            base = table.groupby(col)[args.target].apply(lambda s: float((s == positive).mean()))
            share = table[col].value_counts(normalize=True)
            entry["by_sensitive"][col] = {
                **gaps(rates), "groups": rates,
                "train_base_rate": {str(k): float(v) for k, v in base.items()},
                "train_share": {str(k): float(v) for k, v in share.items()},
            }
        results["tables"][name] = entry
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
