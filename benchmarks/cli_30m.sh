#!/usr/bin/env bash
# The 30 m case of issue 15 from the command line: a synthetic world at 30 m pixels (coded
# polygons of 4 groups, 0.81 % landslide pixels, 900 x 900 = 0.81 Mpix): the LLR, the CNN
# and the LACNN (both started from the LLR, as cross_validate does) with the package's defaults on a CPU
# budget, their maps, the test-split scores and the deciles of the LACNN map.  Usage: bash benchmarks/cli_30m.sh [OUT] (default cli-30m/).
set -euo pipefail
OUT=${1:-cli-30m}
X=${XLANDSLIDE:-.venv/bin/xlandslide}
mkdir -p "$OUT"
t0=$(date +%s)
step() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
step "synthetic region"
$X synthetic "$OUT/region.zarr" --shape 900 900 --seed 1 --pixel-size 30 --overwrite
BUDGET=(--epochs 4 --max-batches-per-epoch 16 --base-width 8 --batch-size 4)
step "train llr"
$X train "$OUT/region.zarr" --model llr --out "$OUT/llr.pt" --overwrite
step "train cnn"
$X train "$OUT/region.zarr" --model cnn --out "$OUT/cnn.pt" --split "$OUT/llr.split.json" --llr "$OUT/llr.pt" \
  --overwrite "${BUDGET[@]}"
step "train lacnn (from the llr, which also chooses the aligned features)"
$X train "$OUT/region.zarr" --model lacnn --out "$OUT/lacnn.pt" --split "$OUT/llr.split.json" \
  --llr "$OUT/llr.pt" --overwrite "${BUDGET[@]}"
for m in llr cnn lacnn; do
  step "predict $m"
  $X predict "$OUT/region.zarr" "$OUT/$m.pt" --out "$OUT/$m.zarr" --overwrite
  step "evaluate $m on the test split"
  $X evaluate "$OUT/region.zarr" "$OUT/$m.zarr" --split "$OUT/llr.split.json"
done
step "zone the lacnn map"
$X zone "$OUT/lacnn.zarr" --out "$OUT/zones.tif" --store "$OUT/region.zarr" --overwrite
step "done"
