"""Summaries of an audit's table: per class or error bucket, dominant features, disagreement, faithfulness."""
from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

SCORE_COLUMNS = ("deletion_auc", "deletion_random_auc", "deletion_gain", "insertion_auc", "insertion_random_auc",
                 "insertion_gain")


# ---- summaries --------------------------------------------------------------------------------------------
def audit_summary(df: "pd.DataFrame", *, top: int = 10, buckets: int = 4) -> dict[str, "pd.DataFrame"]:
    """Named DataFrames that summarise an :func:`audit`:

    - ``by_class`` (classifiers: per true class, else per predicted class) or
      ``by_error`` (regression: per quantile bucket of absolute error, else of the
      prediction): counts, accuracy or error, mean faithfulness;
    - ``top_features``: per method, the features / tokens / regions most often in
      the top-k, with their mean attribution;
    - ``disagreement`` (two methods or more): per input, the mean and least
      overlap of the methods' top-k sets, least agreement first;
    - ``faithfulness`` (classifiers with labels): deletion scores for correct and
      wrong predictions, with standard errors.
    """
    import pandas as pd

    if df is None or len(df) == 0:
        raise ValueError("The audit is empty: nothing to summarise.")
    scores = [c for c in SCORE_COLUMNS if c in df.columns]
    means = {c: (c, "mean") for c in scores}
    out: dict[str, pd.DataFrame] = {}
    if "predicted" in df.columns:
        group = "label" if "label" in df.columns else "predicted"
        extra = {"accuracy": ("correct", "mean")} if "correct" in df.columns else {}
        out["by_class"] = df.groupby(["method", group], sort=True).agg(
            n=("input", "size"), **extra, probability=("probability", "mean"), **means).reset_index()
    else:
        column = "abs_error" if "abs_error" in df.columns else "prediction"
        per_input = df.drop_duplicates("input")[column]
        edges = np.unique(np.quantile(per_input, np.linspace(0, 1, buckets + 1)))
        bucket = pd.cut(df[column], edges, include_lowest=True) if len(edges) > 1 else pd.Series("all", index=df.index)
        extra = {"abs_error": ("abs_error", "mean")} if column == "abs_error" else {}
        out["by_error"] = df.assign(bucket=bucket).groupby(["method", "bucket"], observed=True, sort=True).agg(
            n=("input", "size"), **extra, prediction=("prediction", "mean"), **means).reset_index() \
            .rename(columns={"bucket": f"{column} bucket"})
    out["top_features"] = _top_features(df, top)
    if df["method"].nunique() > 1:
        out["disagreement"] = _disagreement(df)
    if "correct" in df.columns and scores:
        stats = {f"{c}_{s}": (c, s) for c in scores for s in ("mean", "sem")}
        out["faithfulness"] = df.groupby(["method", "correct"], sort=True).agg(n=("input", "size"), **stats).reset_index()
    return out


def _top_features(df: "pd.DataFrame", top: int) -> "pd.DataFrame":
    long = df[["method", "input", "top_features", "top_values"]].explode(["top_features", "top_values"])
    long = long.dropna(subset=["top_features"]).astype({"top_values": float})
    table = long.groupby(["method", "top_features"]).agg(
        count=("input", "nunique"), mean_value=("top_values", "mean"),
        mean_abs_value=("top_values", lambda v: float(np.mean(np.abs(v))))).reset_index()
    table["share"] = table["count"] / table["method"].map(df.groupby("method")["input"].nunique())
    table = table.rename(columns={"top_features": "feature"}).sort_values(["method", "count", "mean_abs_value"],
                                                                          ascending=[True, False, False])
    return table.groupby("method", sort=False).head(top).reset_index(drop=True)


def _disagreement(df: "pd.DataFrame") -> "pd.DataFrame":
    """Per input, overlap |A & B| / max(|A|, |B|) of each pair of methods' top-k sets."""
    import pandas as pd

    keep = [c for c in ("label", "predicted", "prediction") if c in df.columns]
    records = []
    for position, group in df.groupby("input", sort=True):
        sets = {m: set(f) for m, f in zip(group["method"], group["top_features"])}
        pairs = [len(a & b) / max(len(a), len(b), 1) for a, b in itertools.combinations(sets.values(), 2)]
        first = group.iloc[0]
        records.append({"input": position, **{c: first[c] for c in keep}, "agreement": float(np.mean(pairs)),
                        "min_agreement": float(np.min(pairs)),
                        **{f"top_{m}": sorted(s) for m, s in sets.items()}})
    return pd.DataFrame(records).sort_values(["agreement", "input"], kind="stable").reset_index(drop=True)
