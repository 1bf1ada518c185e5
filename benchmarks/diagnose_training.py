"""Diagnose a training run: loss curves, gradient norms per block, dead ReLUs, output range.

Usage: python benchmarks/diagnose_training.py [--pixel 30] [--size 600] [--model cnn] ...
Trains on fold 0 of 5 spatial block folds of a synthetic region (the failing cases of issue
15: a DEM at 28-30 m, coded groups, ~1 % landslide pixels) and prints one line per epoch.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import xlandslide as xl
from xlandslide.train import loop

STATE: dict = {"grads": [], "module": None}


def _wrap_step():
    original = loop._step

    def step(run, batch, halo, train):
        out = original(run, batch, halo, train)
        STATE["module"] = run.module
        if train:
            norms = {}
            for name, child in run.module.named_children():
                sq = [float(p.grad.pow(2).sum()) for p in child.parameters() if p.grad is not None]
                if sq:
                    norms[name] = sum(sq) ** 0.5
            body = getattr(run.module, "body", None)
            if body is not None and hasattr(body, "down"):
                first = body.down[0][0].weight.grad
                head = body.head.weight.grad
                norms["first_conv"] = float(first.norm()) if first is not None else 0.0
                norms["head"] = float(head.norm()) if head is not None else 0.0
            STATE["grads"].append(norms)
        return out

    loop._step = step


def _probe(val, halo):
    """Dead ReLU fraction and logit range on the validation patches."""
    import torch

    module = STATE["module"]
    module.eval()
    acts = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: acts.append(float((o <= 0).float().mean())))
        for m in module.modules()
        if isinstance(m, torch.nn.ReLU)
    ]
    logits = []
    with torch.no_grad():
        for i in range(min(len(val), 8)):
            p = val[i]
            args = [torch.as_tensor(p["continuous"])[None], torch.as_tensor(p["categorical"])[None]]
            if "offsets" in p:
                args.append(torch.as_tensor(p["offsets"])[None])
            z = module(*args)[0]
            lab = torch.as_tensor(p["label"])
            core = (slice(halo, -halo), slice(halo, -halo))
            known = lab[core] >= 0
            logits.append(z[core][known].numpy())
    for h in hooks:
        h.remove()
    module.train()
    z = np.concatenate(logits) if logits else np.zeros(1)
    dead = float(np.mean([a for a in acts if a >= 0.999])) if acts else 0.0
    frac_dead_layers = float(np.mean([a >= 0.99 for a in acts])) if acts else 0.0
    return {
        "z_p1": float(np.percentile(z, 1)),
        "z_p99": float(np.percentile(z, 99)),
        "mean_zero_act": float(np.mean(acts)) if acts else 0.0,
        "dead_layers": frac_dead_layers,
        "_": dead,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pixel", type=float, default=30.0)
    ap.add_argument("--size", type=int, default=600)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batches", type=int, default=24)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--core", type=int, default=128)
    ap.add_argument("--halo", type=int, default=32)
    ap.add_argument("--paper", action="store_true", help="TrainConfig.paper, not the defaults")
    ap.add_argument("--block", type=float, default=5000.0)
    args = ap.parse_args()

    _wrap_step()
    region = xl.synthetic_region((args.size, args.size), seed=args.seed, pixel_size=args.pixel)
    region = region.landslide.with_offsets((30, 100, 300)).compute()
    lab = region.label.values
    print(
        f"region {lab.shape} at {args.pixel} m: "
        f"{100 * (lab == 1).sum() / (lab >= 0).sum():.2f} % landslide"
    )
    folds = xl.spatial_folds(region, "blocks", k=5, block_size=args.block)
    f, k = args.fold, 5
    test = folds.test_mask(f, region).compute()
    train = folds.train_mask(f, region, exclude=[(f + 1) % k]).compute()
    val = folds.test_mask((f + 1) % k, region).compute()
    geom = xl.PatchGeometry(core=args.core, halo=args.halo)
    from xlandslide.patches.grid import mask_patches

    patches = mask_patches(region, geom, train=train, val=val, test=test)
    print(patches.counts())
    cfg = xl.TrainConfig.paper(args.model) if args.paper else xl.TrainConfig.default(args.model)
    cfg = cfg.replace(
        epochs=args.epochs, lr=args.lr, max_batches_per_epoch=args.batches, batch_size=4
    )
    aligned = None
    if __import__("xlandslide.models", fromlist=["x"]).model_entry(args.model).needs_offsets:
        sel = xl.select_aligned_features(region, patches, max_features=22, progress=False)
        aligned = sel.names

    def callback(record):
        g = STATE["grads"]
        keys = sorted({k for d in g for k in d})
        gm = {k: np.median([d.get(k, 0.0) for d in g]) for k in keys}
        STATE["grads"] = []
        from xlandslide.patches import PatchDataset

        ds = PatchDataset(
            region, patches, "val", oversample=False, label_mask=val, offsets=aligned is not None
        )
        pr = _probe(ds, args.halo)
        print(
            f"  epoch {record['epoch']}: train {record['train_loss']:.5f} "
            f"val {record['val_loss']:.5f} "
            + " ".join(f"g[{k}]={v:.2e}" for k, v in gm.items())
            + f" logit p1..p99 {pr['z_p1']:.3f}..{pr['z_p99']:.3f}"
            + f" zero-act {pr['mean_zero_act']:.2f}"
            + f" dead-layers {pr['dead_layers']:.2f}",
            flush=True,
        )

    t0 = time.perf_counter()
    model = xl.fit(
        region,
        args.model,
        patches=patches,
        aligned=aligned,
        config=cfg,
        model_config={"base_width": args.width} if args.model in ("cnn", "lacnn") else {},
        train_mask=train,
        val_mask=val,
        progress=False,
        callbacks=[callback],
    )
    prob = xl.predict(region, model)
    m = xl.evaluate(prob, region.label, test)
    p = prob.where(test).values
    p = p[np.isfinite(p)]
    print(
        f"{args.model}: test AUC {m['auc']:.3f} NLL {m['nll']:.4f}; map p1..p99 "
        f"{np.percentile(p, 1):.5f}..{np.percentile(p, 99):.5f} ({time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
