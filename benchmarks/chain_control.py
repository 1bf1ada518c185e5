"""Does the aligned gather or the chain's extra training decide a fold?  A controlled run.

With ``cross_validate(..., chain=True)`` the LACNN starts from the fold's CNN and trains its
own budget on top, so its gap to the CNN mixes the aligned gather with a second budget of
training.  This script trains, on the folds asked, from the same fold LLR and with the skill
table's budget (:mod:`skill_table`):

- ``cnn``: the CNN from the LLR (what the skill table's CNN row is);
- ``lacnn``: the LACNN from the LLR, the CNN's budget (the default, ``chain=False``);
- ``lacnn_chain``: the LACNN from the CNN, a second budget (``chain=True``);
- ``cnn_again``: the CNN from the CNN, a second budget: the chained LACNN without the gather.

and prints each one's test AUC with the paired DeLong gap (pixels as the units, and 500 m
tiles: ``zt``) of ``lacnn - cnn``, ``lacnn_chain - cnn``, ``cnn_again - cnn`` and
``lacnn_chain - cnn_again`` (the gather at the chained budget).

Usage
-----
::

    python benchmarks/chain_control.py --case synthetic10 --folds 4   # 3 seeds, ~6 min
    python benchmarks/chain_control.py --quick                        # smoke run, ~1 min
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import xlandslide as xl
from xlandslide.evaluate.paired import delong, tile_clusters
from xlandslide.grid import pixel_size

_spec = importlib.util.spec_from_file_location(
    "skill_table", Path(__file__).with_name("skill_table.py")
)
skill_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(skill_table)

PAIRS = (
    ("lacnn", "cnn"),
    ("lacnn_chain", "cnn"),
    ("cnn_again", "cnn"),
    ("lacnn_chain", "cnn_again"),
)


def train_fold(region, folds, f: int, setup: dict, budget: dict) -> dict:
    """The four models of fold ``f`` (validation: the next fold, as ``cross_validate``)."""
    v = (f + 1) % folds.k
    masks = {
        "train_mask": folds.train_mask(f, region, exclude=[v]).compute(),
        "val_mask": folds.test_mask(v, region).compute(),
    }
    test = folds.test_mask(f, region).compute()
    patches = xl.mask_patches(
        region, setup["geometry"], train=masks["train_mask"], val=masks["val_mask"], test=test
    )
    configs, options, seeds = skill_table.settings(["llr", "cnn", "lacnn"], budget)
    common = {"patches": patches, "progress": False, **masks}

    def net(name, start, **kw):
        return xl.fit_ensemble(
            region,
            name,
            seeds=seeds[name],
            config=configs[name],
            model_config=options.get(name),
            warm_start=start,
            **common,
            **kw,
        )

    llr = xl.fit(region, "llr", config=configs["llr"], **common)
    aligned = xl.select_aligned_features(region, patches, llr=llr).names
    gather = {"aligned": aligned, "distances": skill_table.DISTANCES}
    cnn = net("cnn", llr)
    models = {
        "cnn": cnn,
        "lacnn": net("lacnn", llr, **gather),
        "lacnn_chain": net("lacnn", cnn, **gather),
        "cnn_again": net("cnn", cnn),
    }
    return {"models": models, "test": test.values, "aligned": aligned}


def report(region, f: int, run: dict, tile_pixels: int) -> list[str]:
    label = region["label"].values
    sel = run["test"] & (label >= 0)
    tiles = tile_clusters(label.shape, tile_pixels)[sel]
    maps = {n: xl.predict(region, m).values[sel] for n, m in run["models"].items()}
    y = label[sel]
    lines = []
    for a, b in PAIRS:
        r = delong(maps[a], maps[b], y)
        rt = delong(maps[a], maps[b], y, clusters=tiles)
        lines.append(
            f"fold {f} {a:>11s} - {b:<9s}: AUC {r['auc_a']:.4f} - {r['auc_b']:.4f} = "
            f"{r['difference']:+.4f}  z {r['z']:+6.2f}  zt {rt['z']:+5.2f}"
        )
    return lines


def main(argv=None) -> list[str]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=tuple(skill_table.SYNTHETIC), default="synthetic10")
    ap.add_argument("--folds", type=int, nargs="+", default=None, help="default: all")
    ap.add_argument("--seeds", type=int, default=None, help="default: the small budget's 3")
    ap.add_argument("--quick", action="store_true", help="200 x 200, k=3, 1 epoch")
    args = ap.parse_args(argv)
    budget = dict(skill_table.QUICK if args.quick else skill_table.BUDGETS["small"])
    if args.seeds is not None:
        budget["seeds"] = args.seeds
    region, folds, setup, budget = skill_table.synthetic_case(args.case, budget, args.quick)
    tile = max(1, round(skill_table.TILE / pixel_size(region)))
    lines = []
    for f in args.folds if args.folds is not None else range(folds.k):
        t0 = time.perf_counter()
        run = train_fold(region, folds, f, setup, budget)
        out = report(region, f, run, tile)
        took = time.perf_counter() - t0
        out.append(f"fold {f}: {len(run['aligned'])} aligned features, {took:.0f} s")
        print("\n".join(out), flush=True)
        lines += out
    return lines


if __name__ == "__main__":
    main()
