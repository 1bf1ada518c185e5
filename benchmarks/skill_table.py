"""The spatial-CV skill table: the package's models and scikit-learn peers on identical folds.

For every case (a region and its spatial folds) the script runs
:func:`xlandslide.cross_validate` on the chosen models and, on the SAME folds and pixels (the
fold's training pixels ``folds.train_mask(f, region, exclude=[(f + 1) % k])`` — what
cross_validate trains on, the next fold being its validation — and test pixels
``folds.test_mask(f, region)``, as :func:`xlandslide.train.table.pixel_table` rows), two
scikit-learn peers on the one-hot features: ``sk_glm`` (LogisticRegression, C=1,
max_iter 1000), ``sk_gam`` (a spline GAM: ``SplineTransformer`` — cubic B-splines, 5
uniform knots — on every continuous column, the one-hot columns as they are, then the same
``LogisticRegression``; the issue's "B-splines, L2") and ``sk_gbm``
(HistGradientBoostingClassifier, defaults, random_state 0).

Cases: ``synthetic30`` (600 x 600 synthetic region at 30 m, seed 3, offsets 30/100/300 m,
5 block folds of 5000 m), ``synthetic10`` (768 x 768 at 10 m, 5 block folds of 2500 m) and
``ecuador`` (the shipped 10 m terrain and 350 points, 5 k-means folds, the point-inventory
preset :func:`xlandslide.train.presets.point_inventory`: its epochs, core 64, halo 32, three
seeds and oversample 1, unless ``--epochs``, ``--max-batches-per-epoch``, ``--base-width``,
``--seeds``, ``--core`` or ``--halo`` are given).

Printed (Markdown pipe tables) and written to ``--out``:

- ``skill_<case>_folds.csv``: per model and fold ``auc``, ``pr_auc``, ``nll``,
  ``degenerate`` (cross_validate's flag; empty for the peers), ``seconds`` (training),
  ``n_pixels``, ``n_positive``, and the DeLong gap of the fold's AUC to the CNN's and to the
  LLR's on the same test pixels: ``d_cnn``, ``se_cnn``, ``z_cnn``, ``d_llr``, ``se_llr``,
  ``z_llr`` (``CVResult.paired`` for the package's models; the peers' scores against the
  CNN's / LLR's map at the same pixels), and for the package's models ``zt_cnn``, ``zt_llr``:
  the same z with 500 m tiles, not pixels, as the independent units (clustered DeLong);
- ``skill_<case>_summary.csv``: per model mean and sd over folds of AUC, PR AUC and NLL,
  ``min_auc`` (worst fold), ``worst_z_cnn`` (most negative DeLong z against the CNN),
  ``worst_zt_cnn`` (the same, clustered by tiles), ``degenerate`` (folds flagged),
  ``seconds`` (total);
- ``skill_tables.md``: every printed table.

Usage
-----
::

    python benchmarks/skill_table.py --budget small            # all cases, CPU budget
    python benchmarks/skill_table.py --cases synthetic30 --models llr cnn lacnn --chain
    python benchmarks/skill_table.py --budget full --seeds 3   # the package's defaults
    python benchmarks/skill_table.py --quick                   # 1-2 min smoke run

``--budget small``: 8 epochs, at most 16 batches an epoch, U-Net base width 8, core 64,
an ensemble of three seeds per network (one seed's fold AUC moves by up to 0.024 from seed
to seed on the 10 m case; ``--seeds 1`` for a third of the time); ``full``: the package's
defaults (``TrainConfig.default``: 20 epochs, early stopping, base width 16, core 64).
``--seeds N``: seeds 0..N-1 for the networks.  Names the model registry refuses are skipped
with a note.  ``--chain``: each aligned model starts from its base
model and trains its own budget on top (default ``--no-chain``: both from the LLR, the same
budget; ``xlandslide.train.defaults.CHAIN_ALIGNED``).  ``seconds``: training (the peers: fit
and predict).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

import xlandslide as xl
from xlandslide.cli._options import add_chain

ROOT = Path(__file__).resolve().parents[1]
CASES = ("synthetic30", "synthetic10", "ecuador")
MODELS = ("naive", "llr", "nn", "lann", "cnn", "lacnn")
PEERS = ("sk_glm", "sk_gam", "sk_gbm")
NETWORKS = ("nn", "lann", "cnn", "lacnn")  # budgets apply to these
UNETS = ("cnn", "lacnn")
DISTANCES = (30.0, 100.0, 300.0)
BUDGETS = {
    "small": {"epochs": 8, "max_batches_per_epoch": 16, "base_width": 8, "core": 64, "seeds": 3},
    "full": {"epochs": None, "max_batches_per_epoch": None, "base_width": None, "core": 64},
}
QUICK = {"epochs": 1, "max_batches_per_epoch": 2, "base_width": 4, "core": 32, "seeds": 1}
#: shape, pixel size (m), block size (m); quick: 200 x 200 with smaller blocks, k = 3
SYNTHETIC = {"synthetic30": ((600, 600), 30.0, 5000.0), "synthetic10": ((768, 768), 10.0, 2500.0)}
QUICK_BLOCK = {"synthetic30": 1500.0, "synthetic10": 500.0}
#: side (m) of the tiles that are the independent units of the clustered DeLong z (``zt_``)
TILE = 500.0


def _budget(args) -> dict:
    """The budget: --budget (or --quick) defaults, replaced by what the command line gives."""
    b = dict(QUICK if args.quick else BUDGETS[args.budget])
    given = {k: getattr(args, k) for k in (*QUICK, "halo") if getattr(args, k) is not None}
    return {**b, **given, "given": given}


def _accepted(names) -> list[str]:
    from xlandslide.errors import ConfigError
    from xlandslide.models import canonical_name

    ok = []
    for name in names:
        try:
            ok.append(canonical_name(name))
        except ConfigError as e:
            print(f"note: model {name!r} skipped: {e}")
    return ok


def synthetic_case(case: str, budget: dict, quick: bool, block_size: float | None = None):
    from xlandslide.grid import radius_pixels

    shape, px, block = SYNTHETIC[case]
    shape, block, k = ((200, 200), QUICK_BLOCK[case], 3) if quick else (shape, block, 5)
    block = block_size or block
    region = xl.synthetic_region(shape, seed=3, pixel_size=px)
    region = region.landslide.with_offsets(DISTANCES).compute()
    folds = xl.spatial_folds(region, "blocks", k=k, block_size=block)
    halo = budget.get("halo") or max(16, radius_pixels(max(DISTANCES), px))
    setup = {"geometry": xl.PatchGeometry(core=budget["core"], halo=halo)}
    return region, folds, setup, budget


def ecuador_case(budget: dict, quick: bool):
    spec = importlib.util.spec_from_file_location(
        "ecuador", ROOT / "examples/ecuador_spatial_cv.py"
    )
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    region = ex.terrain_region().landslide.with_offsets(ex.DISTANCES, halo=ex.HALO).compute()
    folds = xl.spatial_folds(region, "kmeans", k=3 if quick else 5, seed=0)
    given = budget["given"]
    core, halo = given.get("core", ex.point_inventory("lann")["core"]), given.get("halo", ex.HALO)
    setup = {"geometry": xl.PatchGeometry(core=core, halo=halo), "preset": ex.point_inventory}
    setup["oversample"] = ex.point_inventory("lann")["oversample"]
    return region, folds, setup, given  # the preset's budget but for what the user gives


def settings(names, budget: dict, preset=None):
    """configs, model_configs and seeds for cross_validate."""
    from xlandslide.errors import ConfigError

    configs, options, seeds = {}, {}, {}
    changes = {
        k: budget[k] for k in ("epochs", "max_batches_per_epoch") if budget.get(k) is not None
    }
    for name in names:
        try:
            if preset is not None and name in (*NETWORKS, "llr"):
                p = preset(name)
                cfg, options[name], seeds[name] = p["config"], dict(p["model_config"]), p["seeds"]
            else:
                cfg = xl.TrainConfig.default(name)
        except ConfigError:  # not trained by gradient descent: no TrainConfig
            continue
        if name in NETWORKS:
            configs[name] = cfg.replace(**changes)
            if name in UNETS and budget.get("base_width") is not None:
                options.setdefault(name, {})["base_width"] = budget["base_width"]
            if budget.get("seeds") is not None:
                seeds[name] = tuple(range(budget["seeds"]))
        else:
            configs[name] = cfg
    return configs, options, seeds


def _gap(r: dict | None) -> tuple[float, float, float]:
    return (math.nan,) * 3 if r is None else (r["difference"], r["se"], r["z"])


def peers(region, folds, cv, names, which) -> list[dict]:
    """The scikit-learn peers on each fold's training and test pixel tables."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    from xlandslide.errors import EvaluationError
    from xlandslide.evaluate.paired import delong
    from xlandslide.train.table import pixel_table

    def spline_gam(c):
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import SplineTransformer

        splines = ColumnTransformer(
            [("spline", SplineTransformer(n_knots=5, degree=3), list(range(c)))],
            remainder="passthrough",
        )
        return make_pipeline(splines, LogisticRegression(C=1.0, max_iter=1000))

    make = {
        "sk_glm": lambda: LogisticRegression(C=1.0, max_iter=1000),
        "sk_gam": lambda: spline_gam(n_cont),
        "sk_gbm": lambda: HistGradientBoostingClassifier(random_state=0),
    }
    rows, k = [], folds.k
    for f in range(k):
        train = pixel_table(region, folds.train_mask(f, region, exclude=[(f + 1) % k]).compute())
        test_mask = folds.test_mask(f, region).compute()
        test = pixel_table(region, test_mask)
        # the table's rows: the test mask's labelled pixels in row-major order (no sampling)
        index = np.flatnonzero((test_mask & (region["label"] >= 0)).values.ravel())
        x, y, xt, yt = train.onehot(), train.label, test.onehot(), test.label
        n_cont = train.continuous.shape[1]
        ref = {r: cv.maps[r][f].values.ravel()[index] for r in ("cnn", "llr") if r in names}
        for name in which:
            t0 = time.perf_counter()
            p = make[name]().fit(x, y).predict_proba(xt)[:, 1]
            row = {"model": name, "fold": f, "seconds": time.perf_counter() - t0}
            row.update(auc=roc_auc_score(yt, p), pr_auc=average_precision_score(yt, p))
            row.update(nll=log_loss(yt, p, labels=[0, 1]), degenerate=None)
            row.update(n_pixels=test.n, n_positive=int((test.label == 1).sum()))
            for r, q in ref.items():
                try:
                    gap = delong(p, q, yt)
                except EvaluationError:
                    gap = None
                row.update(zip((f"d_{r}", f"se_{r}", f"z_{r}"), _gap(gap)))
            rows.append(row)
    return rows


def run_case(case: str, args) -> tuple[pd.DataFrame, pd.DataFrame]:
    budget = _budget(args)
    if case == "ecuador":
        region, folds, setup, budget = ecuador_case(budget, args.quick)
        if args.quick:
            budget = {**QUICK, **budget}
    else:
        region, folds, setup, budget = synthetic_case(case, budget, args.quick, args.block_size)
    names = _accepted(args.models)
    configs, options, seeds = settings(names, budget, setup.get("preset"))
    t0 = time.perf_counter()
    cv = xl.cross_validate(
        region,
        names,
        folds,
        geometry=setup["geometry"],
        configs=configs,
        model_configs=options,
        seeds=seeds,
        oversample=setup.get("oversample", 5),
        chain=args.chain,
        progress=args.progress,
    )
    took = time.perf_counter() - t0
    print(f"\n{case}: {folds.method} folds k={folds.k}, {setup['geometry']}, CV {took:.0f} s")
    t0 = time.perf_counter()
    for name in cv.maps:  # predict each fold's map once (the paired gaps read them often)
        cv.maps[name] = [m.compute() for m in cv.maps[name]]
    print(f"{case}: maps predicted in {time.perf_counter() - t0:.0f} s")
    keep = "model fold auc pr_auc nll degenerate seconds n_pixels n_positive".split()
    table = cv.table[keep].copy()
    for ref in ("cnn", "llr"):
        if ref not in names:
            continue
        for m in names:
            if m == ref:
                continue
            p = cv.paired(region, m, ref)
            tiled = cv.paired(region, m, ref, tile_size=TILE).set_index("fold")
            p["zt"] = tiled["z"].reindex(p["fold"]).values
            sel = table.model == m
            for col, src in (("d", "difference"), ("se", "se"), ("z", "z"), ("zt", "zt")):
                table.loc[sel, f"{col}_{ref}"] = (
                    p.set_index("fold")[src].reindex(table.fold[sel]).values
                )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"skill_{case}_cv.csv", index=False)  # kept should the peers fail
    which = [p for p in args.peers if p in PEERS]
    if which:
        extra = pd.DataFrame(peers(region, folds, cv, names, which))
        n_cv = table.groupby("fold")["n_pixels"].first()
        if not (extra["n_pixels"].values == n_cv.reindex(extra["fold"]).values).all():
            print("note: the peers' test pixels differ in number from cross_validate's")
        order = {m: i for i, m in enumerate([*names, *which])}
        table = pd.concat([table, extra]).sort_values(
            ["model", "fold"], key=lambda c: c.map(order) if c.name == "model" else c
        )
    table.insert(0, "case", case)
    return table.reset_index(drop=True), summarise(table)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    g = table.groupby("model", sort=False)
    out = pd.DataFrame(
        {f"{m}_{s}": getattr(g[m], s)() for m in ("auc", "pr_auc", "nll") for s in ("mean", "std")}
    )
    out = out.rename(columns=lambda c: c.replace("_std", "_sd"))
    out["min_auc"] = g["auc"].min()
    out["worst_z_cnn"] = g["z_cnn"].min() if "z_cnn" in table else math.nan
    out["worst_zt_cnn"] = g["zt_cnn"].min() if "zt_cnn" in table else math.nan
    out["degenerate"] = g["degenerate"].apply(lambda d: int(d.dropna().astype(bool).sum()))
    out["seconds"] = g["seconds"].sum()
    return out.reset_index()


def markdown(df: pd.DataFrame) -> str:
    def cell(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "–"
        if isinstance(v, (bool, np.bool_)):
            return "yes" if v else "no"
        return f"{v:.3f}" if isinstance(v, (float, np.floating)) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def pretty_summary(s: pd.DataFrame) -> pd.DataFrame:
    out = s[["model"]].copy()
    for m in ("auc", "pr_auc", "nll"):
        out[m] = [f"{a:.3f} ± {b:.3f}" for a, b in zip(s[f"{m}_mean"], s[f"{m}_sd"])]
    for c in ("min_auc", "worst_z_cnn", "worst_zt_cnn", "degenerate", "seconds"):
        out[c] = s[c]
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS)
    ap.add_argument("--budget", choices=tuple(BUDGETS), default="small")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--max-batches-per-epoch", type=int)
    ap.add_argument("--base-width", type=int)
    ap.add_argument("--core", type=int)
    ap.add_argument("--halo", type=int)
    ap.add_argument("--seeds", type=int, help="seeds of the networks' ensembles")
    add_chain(ap)  # --chain / --no-chain, as `xlandslide cv`
    ap.add_argument("--block-size", type=float, help="synthetic cases: fold block side, metres")
    ap.add_argument("--quick", action="store_true", help="200 x 200 regions, k=3, 1 epoch")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--out", default="skill-output")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md, results = [], {}
    for case in args.cases:
        folds, summary = run_case(case, args)
        folds.to_csv(out / f"skill_{case}_folds.csv", index=False)
        summary.to_csv(out / f"skill_{case}_summary.csv", index=False)
        for title, df in (
            (f"{case}: per fold", folds.drop(columns="case")),
            (f"{case}: summary", pretty_summary(summary)),
        ):
            text = f"### {title}\n\n{markdown(df)}\n"
            print(text, flush=True)
            md.append(text)
        results[case] = (folds, summary)
    (out / "skill_tables.md").write_text("\n".join(md))
    print(f"wrote {out}/skill_<case>_folds.csv, skill_<case>_summary.csv, skill_tables.md")
    return results


if __name__ == "__main__":
    main()
