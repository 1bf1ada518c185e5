"""``xlandslide evaluate``: metrics of a map against the region's labels."""

from __future__ import annotations

import json
import sys

from .._progress import dask_progress
from ._options import FOREIGN, STORE


def register(sub) -> None:
    e = sub.add_parser(
        "evaluate", parents=[STORE, FOREIGN], help="NLL and ROC AUC of a map against the labels"
    )
    e.add_argument("map", help="a susceptibility map written by `predict` (.zarr or .tif)")
    e.add_argument("--split", default=None, help="a patch split JSON; evaluate its test cores")
    e.set_defaults(func=evaluate)


def evaluate(args) -> int:
    from ..evaluate import evaluate
    from ..io import open_map, open_region
    from ..patches import PatchSet

    region = open_region(args.store)
    prob = open_map(args.map, foreign=args.foreign)
    mask = None
    if args.split:
        mask = PatchSet.from_json(args.split).core_mask("test", like=region)
    else:
        print(
            "xlandslide: no --split: scoring every labelled pixel, training pixels included "
            "(give the model's split JSON, e.g. --split MODEL.split.json, to score its test "
            "cores)",
            file=sys.stderr,
        )
    with dask_progress("evaluate", min_seconds=1.0):
        metrics = evaluate(prob, region["label"], mask)
    print(json.dumps(metrics, indent=2))
    return 0
