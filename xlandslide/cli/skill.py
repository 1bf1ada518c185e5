"""Skill sub-commands: ``evaluate`` (metrics of a map against the labels)."""

from __future__ import annotations

import json


def register(sub) -> None:
    e = sub.add_parser("evaluate", help="NLL and ROC AUC of a map against the labels")
    e.add_argument("store")
    e.add_argument("map", help="a susceptibility map written by `predict` (.zarr or .tif)")
    e.add_argument("--split", default=None, help="a patch split JSON; evaluate its test cores")
    e.set_defaults(func=evaluate)


def evaluate(args) -> int:
    from ..evaluate import evaluate
    from ..io import open_map, open_region

    region = open_region(args.store)
    prob = open_map(args.map)
    mask = None
    if args.split:
        from ..patches import PatchSet

        mask = PatchSet.from_json(args.split).core_mask("test", like=region)
    print(json.dumps(evaluate(prob, region["label"], mask), indent=2))
    return 0
