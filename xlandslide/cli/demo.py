"""The ``demo`` sub-command: the whole pipeline on a built-in synthetic region."""

from __future__ import annotations


def register(sub) -> None:
    d = sub.add_parser(
        "demo",
        help="run the whole pipeline on a built-in synthetic region",
        description="Build a synthetic region, train the paper's models, predict, score, zone "
        "and draw them into --out (progress lines on stderr; --quiet drops the bars, the "
        "progress lines and the per-epoch lines, not the demo's step lines on stdout).",
    )
    d.add_argument("--out", default="demo-output", help="output folder")
    d.add_argument(
        "--size", type=int, default=None, help="region side, pixels (default: 1024; --quick: 192)"
    )
    d.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    d.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests")
    d.set_defaults(func=demo)


def demo(args) -> int:
    from ..workflows.demo import DemoConfig, run_demo

    cfg = DemoConfig.quick() if args.quick else DemoConfig()
    overrides = {k: v for k, v in (("size", args.size), ("seed", args.seed)) if v is not None}
    if overrides:
        cfg = cfg.replace(**overrides)
    run_demo(args.out, cfg, progress=not args.quiet)
    return 0
