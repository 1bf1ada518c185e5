"""The compiled tree kernel (:mod:`xlandslide.learners.trees`) on map blocks, 1 and 2 threads.

LightGBM with the gbm learner's defaults (300 trees of 15 leaves) fitted on 50,000 labelled
pixels of a synthetic region, then the kernel on map blocks of ``XLANDSLIDE_BENCH_TREE_N``
(else ``XLANDSLIDE_BENCH_N``) pixels a side (default 1024, the prediction's block), as the
predict path hands them: (n, C) float32 and (n, G) uint8, row-major.  ``time_one_block``:
one block, one thread; ``time_two_blocks_two_threads``: two blocks on two threads, as dask's
threaded scheduler runs them (the kernel releases the GIL: on two free cores it costs what
one block does); ``time_predict_logit``: one block through ``GBM.predict_logit``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

N = int(os.environ.get("XLANDSLIDE_BENCH_TREE_N", os.environ.get("XLANDSLIDE_BENCH_N", 1024)))


def _blocks(n: int = N):
    """Two n x n blocks of a synthetic region as (continuous, codes) rows, and its layout."""
    import xlandslide as xl

    region = xl.synthetic_region((2 * n, n), seed=0).compute()
    cont = region["continuous"].values.reshape(2, -1).T
    codes = region["categorical"].values.reshape(4, -1).T
    label = region["label"].values.ravel()
    n_classes = tuple(region.landslide.layout().n_classes)
    half = n * n
    blocks = [
        (np.ascontiguousarray(cont[k * half : (k + 1) * half]),
         np.ascontiguousarray(codes[k * half : (k + 1) * half]))
        for k in range(2)
    ]  # fmt: skip
    return blocks, (cont, codes, label), n_classes


def _fitted(pixels, n_classes, rows: int = 50_000):
    from xlandslide.learners import GBM, PixelTable

    cont, codes, label = pixels
    rng = np.random.default_rng(0)
    labelled = np.nonzero(label >= 0)[0]
    pick = rng.choice(labelled, size=min(rows, labelled.size), replace=False)
    table = PixelTable(cont[pick], codes[pick], (label[pick] > 0).astype(np.int8), n_classes)
    return GBM(num_threads=1).fit(table)


class TreeKernel:
    timeout = 600

    def setup(self):
        from xlandslide.learners.trees import tree_logits

        self.blocks, pixels, self.n_classes = _blocks()
        self.gbm = _fitted(pixels, self.n_classes)
        trees, tables = self.gbm.compiled()
        self.kernel = lambda b: tree_logits(trees, b[0], b[1], self.n_classes, tables)
        self.kernel(self.blocks[0])  # compiled (or loaded from numba's cache)
        self.pool = ThreadPoolExecutor(2)

    def teardown(self):
        self.pool.shutdown()

    def time_one_block(self):
        self.kernel(self.blocks[0])

    def time_two_blocks_two_threads(self):
        list(self.pool.map(self.kernel, self.blocks))

    def time_predict_logit(self):
        self.gbm.predict_logit(*self.blocks[0])
