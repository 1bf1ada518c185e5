"""Boosted trees compiled to flat arrays and evaluated by a numba kernel (treelite-style).

LightGBM's own ``Booster.predict`` walks every tree per row through its generic C API
(about 7 µs a row for 300 trees of 15 leaves on one core here).  :func:`compile_trees` turns
the booster's JSON dump (:meth:`lightgbm.Booster.dump_model`) into node arrays once, and
:func:`bit_tables` tabulates them as per-feature leaf bitvectors (:class:`BitTables`,
QuickScorer's).  :func:`tree_logits` sums the leaves of every tree for a block of rows in
one single-threaded kernel (``nogil``: dask's threads run blocks side by side, nothing
oversubscribes; the learners' torch modules take no device lock for it on the CPU).

The kernel reads the block as the predict path holds it, row-major (n, C) float32 layers
and (n, G) uint8 codes, in place: no feature-major float64 copy (48 bytes a pixel for 6
features), the "no class" codes (>= the group's class count) turned missing as they are
read.  A float32 value widened to float64 compares with LightGBM's float64 threshold
exactly as LightGBM compares the same widened value, so nothing rounds differently.

Per pixel, the table kernel finds every feature's bin (a search starting at the previous
pixel's bin), ANDs the features' bitvector rows (``prefix[k]``: the AND of the first k + 1
features' rows, in an order) and sums every tree's leaf at the lowest set bit.  Neighbouring
pixels of a map share most bins, so a pixel redoes the ANDs only from the first feature
whose row changed, and the leaf sum only when some row did; every :data:`TILE` pixels the
features are reordered steadiest first (the one changing at every pixel, a noisy slope,
last), so most pixels AND one row.  On the synthetic 8192² region's 1024² blocks that takes
the kernel from 0.33 to about 0.21 s a block on one core (1.1 rows ANDed a pixel instead of
6; the leaf sum, 300 dependent lookups, is what remains).  The tables of 300 trees of 15
leaves hold 1433 rows of 300 uint16 (860 kB, in L2), but a pixel touches a few rows, and the
prefixes (U x 300 x 2 bytes) stay in L1.  The walking kernel (:func:`_walk_trees`, trees
outer, rows inner) serves the ensembles the tables do not fit.

The decisions are LightGBM's (``Tree::NumericalDecision`` / ``CategoricalDecision``):

- numerical ``x <= threshold`` goes left; a missing value (NaN) is 0 unless the node's
  missing type is ``"NaN"``; with missing type ``"NaN"`` a NaN, and with ``"Zero"`` a zero
  (``|x| <= 1e-35``, NaN included), takes the node's default side;
- categorical: a NaN or a negative value goes right; otherwise left iff ``int(x)`` is in the
  node's category set.

Tested equal to ``booster.predict(raw_score=True)`` within 1e-12 (``tests/learners``), NaN,
±inf, ±0, 1e-40, negative and out-of-range codes, and image-like runs over several tiles
included.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from ..kernels._jit import jit

__all__ = ["BitTables", "CompiledTrees", "bit_tables", "compile_trees", "tree_logits"]

#: Category codes a categorical node's table covers (codes are uint8; larger values go right).
MAX_CATEGORY = 256
_ZERO = 1e-35

# node flags
_CATEGORICAL, _DEFAULT_LEFT, _MISSING_ZERO, _MISSING_NAN = 1, 2, 4, 8


class CompiledTrees(NamedTuple):
    """A tree ensemble as flat node arrays (see :func:`compile_trees`)."""

    #: (T,) int32: the root of every tree (a node index, or ``~leaf`` for a one-leaf tree)
    roots: np.ndarray
    #: (N,) int32 feature of every node
    feature: np.ndarray
    #: (N,) float64 threshold (numerical nodes) or row of :attr:`categories` (categorical)
    threshold: np.ndarray
    #: (N,) uint8 flags (categorical, default left, missing zero, missing NaN)
    flags: np.ndarray
    #: (N,) int32 children: a node index, or ``~leaf`` (negative) for a leaf
    left: np.ndarray
    right: np.ndarray
    #: (L,) float64 leaf values (shrinkage included)
    leaf_value: np.ndarray
    #: (K, 256) bool: the categories that go left at every categorical node
    categories: np.ndarray
    #: (N,) int32 tree of every node; (T + 1,) int32 first leaf of every tree
    tree: np.ndarray
    leaf_start: np.ndarray
    #: (N, 2) int32 leaves ``[first, stop)`` of every node's left subtree
    span: np.ndarray


def _flatten(node: dict, out: dict) -> int:
    """Append ``node`` (and its subtree) to ``out``; its index, or ``~leaf`` for a leaf."""
    if "leaf_value" in node:
        out["leaf_value"].append(float(node["leaf_value"]))
        return ~(len(out["leaf_value"]) - 1)
    index = len(out["feature"])
    out["feature"].append(int(node["split_feature"]))
    flags = _DEFAULT_LEFT if node.get("default_left") else 0
    flags |= {"Zero": _MISSING_ZERO, "NaN": _MISSING_NAN}.get(node.get("missing_type"), 0)
    if node["decision_type"] == "==":
        flags |= _CATEGORICAL
        row = np.zeros(MAX_CATEGORY, dtype=bool)
        cats = [int(c) for c in str(node["threshold"]).split("||") if c != ""]
        row[[c for c in cats if 0 <= c < MAX_CATEGORY]] = True
        out["threshold"].append(float(len(out["categories"])))
        out["categories"].append(row)
    elif node["decision_type"] == "<=":
        out["threshold"].append(float(node["threshold"]))
    else:  # pragma: no cover - LightGBM writes only these two
        raise ValueError(f"unknown decision type {node['decision_type']!r}")
    out["flags"].append(flags)
    out["left"].append(0)
    out["right"].append(0)
    out["span"].append((0, 0))
    first = len(out["leaf_value"])
    out["left"][index] = _flatten(node["left_child"], out)
    out["span"][index] = (first, len(out["leaf_value"]))
    out["right"][index] = _flatten(node["right_child"], out)
    return index


def compile_trees(dump: dict) -> CompiledTrees:
    """Flatten a LightGBM JSON dump (``booster.dump_model()``) of a binary model.

    Examples
    --------
    >>> dump = {"tree_info": [{"tree_structure": {
    ...     "split_feature": 0, "threshold": 0.5, "decision_type": "<=", "default_left": True,
    ...     "missing_type": "None", "left_child": {"leaf_value": -1.0},
    ...     "right_child": {"leaf_value": 2.0}}}]}
    >>> trees = compile_trees(dump)
    >>> tree_logits(trees, np.array([[0.2], [0.9], [np.nan]]))
    array([-1.,  2., -1.])
    """
    if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("average_output", False):
        raise ValueError("only binary, summed tree ensembles compile (one tree per iteration)")
    out = {k: [] for k in ("feature", "threshold", "flags", "left", "right", "leaf_value")}
    out.update(categories=[], span=[])
    roots, tree, leaf_start = [], [], [0]
    for t, info in enumerate(dump["tree_info"]):
        roots.append(_flatten(info["tree_structure"], out))
        tree.extend([t] * (len(out["feature"]) - len(tree)))
        leaf_start.append(len(out["leaf_value"]))
    cats = np.array(out["categories"]) if out["categories"] else np.zeros((0, MAX_CATEGORY), bool)
    return CompiledTrees(
        roots=np.asarray(roots, dtype=np.int32),
        feature=np.asarray(out["feature"], dtype=np.int32),
        threshold=np.asarray(out["threshold"], dtype=np.float64),
        flags=np.asarray(out["flags"], dtype=np.uint8),
        left=np.asarray(out["left"], dtype=np.int32),
        right=np.asarray(out["right"], dtype=np.int32),
        leaf_value=np.asarray(out["leaf_value"], dtype=np.float64),
        categories=cats.astype(bool).reshape(-1, MAX_CATEGORY),
        tree=np.asarray(tree, dtype=np.int32),
        leaf_start=np.asarray(leaf_start, dtype=np.int32),
        span=np.asarray(out["span"], dtype=np.int32).reshape(-1, 2),
    )


class BitTables(NamedTuple):
    """The ensemble as per-feature bit tables (QuickScorer's leaf bitvectors, tabulated).

    A tree's leaves are numbered left to right; a node whose test fails (the row goes
    right) rules out the leaves of its left subtree, and the exit leaf is the leftmost leaf
    no failed test rules out (Lucchese et al., 2015, QuickScorer).  For one feature, which
    of its nodes fail depends only on the row's *bin* among that feature's thresholds (its
    category for a categorical feature), so ``table[row_start[u] + bin, t]`` holds the AND
    of the masks of the feature's failed nodes in tree ``t``.  A row's leaf in tree ``t`` is
    the lowest set bit of the AND of its features' rows: a few vector ANDs a feature, one
    trailing-zero count a tree.
    """

    #: (U,) int32 the features the trees test, and (U,) bool whether each is categorical
    features: np.ndarray
    categorical: np.ndarray
    #: (E,) float64 sorted thresholds of the numerical features, from ``edge_start`` (U + 1,)
    edges: np.ndarray
    edge_start: np.ndarray
    #: (U + 1,) int64 first table row of every feature
    row_start: np.ndarray
    #: (R, T) uint16/32/64 leaf bitvectors
    table: np.ndarray
    #: (T, max leaves) float64 leaf values, left to right
    leaves: np.ndarray


def _left_np(values: np.ndarray, trees: CompiledTrees, node: int) -> np.ndarray:
    """Which of ``values`` go left at ``node`` (the kernel's rule, vectorised)."""
    flags, thr = int(trees.flags[node]), trees.threshold[node]
    nan = np.isnan(values)
    if flags & _CATEGORICAL:
        ok = ~nan & (values >= 0) & (values < MAX_CATEGORY)
        codes = np.where(ok, values, 0).astype(np.intp)
        return ok & trees.categories[int(thr)][codes]
    nan_left = bool(flags & _DEFAULT_LEFT) if flags & _MISSING_NAN else 0.0 <= thr
    return np.where(nan, nan_left, values <= thr)


def bit_tables(trees: CompiledTrees, max_bytes: int = 256 * 2**20) -> BitTables | None:
    """Tabulate ``trees`` (see :class:`BitTables`); None when they do not fit the scheme
    (a tree over 64 leaves, a "Zero" missing type, tables over ``max_bytes``)."""
    n_leaves = np.diff(trees.leaf_start)
    if not n_leaves.size or n_leaves.max() > 64 or (trees.flags & _MISSING_ZERO).any():
        return None
    dtype = np.dtype(np.uint16 if n_leaves.max() <= 16 else np.uint32)
    dtype = np.dtype(np.uint64) if n_leaves.max() > 32 else dtype
    ones, n_trees = np.iinfo(dtype).max, trees.roots.size
    features = np.unique(trees.feature).astype(np.int32)
    blocks, edges, categorical = [], [], []
    for f in features:
        nodes = np.nonzero(trees.feature == f)[0]
        is_cat = bool(trees.flags[nodes[0]] & _CATEGORICAL)
        categorical.append(is_cat)
        if is_cat:  # codes 0..255, then "right everywhere" (NaN, negative, too large)
            edge = np.zeros(0)
            reps = np.r_[np.arange(MAX_CATEGORY, dtype=np.float64), np.nan]
        else:  # bin k: edge[k-1] < x <= edge[k]; then x > every edge; then NaN
            edge = np.unique(trees.threshold[nodes])
            reps = np.r_[edge, np.inf, np.nan]
        edges.append(edge)
        block = np.full((reps.size, n_trees), ones, dtype=dtype)
        for node in nodes:
            t = trees.tree[node]
            lo, hi = trees.span[node] - trees.leaf_start[t]
            mask = dtype.type(ones ^ ((((1 << int(hi - lo)) - 1) << int(lo)) & int(ones)))
            block[~_left_np(reps, trees, node), t] &= mask
        blocks.append(block)
        if sum(b.nbytes for b in blocks) > max_bytes:
            return None
    leaves = np.zeros((n_trees, int(n_leaves.max())))
    for t in range(n_trees):
        leaves[t, : n_leaves[t]] = trees.leaf_value[trees.leaf_start[t] : trees.leaf_start[t + 1]]
    return BitTables(
        features=features,
        categorical=np.asarray(categorical, dtype=bool),
        edges=np.concatenate(edges) if edges else np.zeros(0),
        edge_start=np.cumsum([0] + [e.size for e in edges]).astype(np.int64),
        row_start=np.cumsum([0] + [b.shape[0] for b in blocks]).astype(np.int64),
        table=np.concatenate(blocks) if blocks else np.zeros((0, n_trees), dtype),
        leaves=leaves,
    )


@jit
def _value(cont, codes, limits, f, i):  # pragma: no cover - compiled
    """Feature ``f`` of row ``i``: a column of ``cont``, then a code of ``codes`` as a float
    (NaN when the code is >= its group's limit, "no class")."""
    c = cont.shape[1]
    if f < c:
        return np.float64(cont[i, f])
    k = codes[i, f - c]
    if k >= limits[f - c]:
        return np.nan
    return np.float64(k)


@jit
def _goes_left(v, thr, flags, categories):  # pragma: no cover - compiled
    if flags & _CATEGORICAL:
        if v != v or v < 0.0 or v >= MAX_CATEGORY:
            return False
        return categories[int(thr), int(v)]
    if v != v:
        if flags & (_MISSING_NAN | _MISSING_ZERO):
            return (flags & _DEFAULT_LEFT) != 0
        v = 0.0
    elif flags & _MISSING_ZERO and abs(v) <= _ZERO:
        return (flags & _DEFAULT_LEFT) != 0
    return v <= thr


@jit
def _walk_trees(
    cont, codes, limits, roots, feature, threshold, flags, left, right, leaf_value, categories, out
):  # pragma: no cover - compiled
    """out[i] = sum over trees of the leaf row i reaches."""
    for t in range(roots.shape[0]):
        root = roots[t]
        for i in range(out.shape[0]):
            node = root
            while node >= 0:
                v = _value(cont, codes, limits, feature[node], i)
                if _goes_left(v, threshold[node], flags[node], categories):
                    node = left[node]
                else:
                    node = right[node]
            out[i] += leaf_value[~node]


@jit
def _find_bin(edges, start, stop, v, guess):  # pragma: no cover - compiled
    """``searchsorted(edges[start:stop], v)``, first looking next to the previous row's bin
    ``guess`` (neighbouring pixels of a block fall in the same or a near bin)."""
    k = start + guess
    if k <= stop and (k == start or edges[k - 1] < v) and (k == stop or v <= edges[k]):
        return guess
    lo, hi = start, stop
    if k < stop and edges[k] < v:  # above the guess
        lo = k + 1
        if lo < stop and v <= edges[lo]:
            return lo - start
    elif k > start:  # below it
        hi = k - 1
        if hi > start and edges[hi - 1] < v:
            return hi - start
    while lo < hi:
        mid = (lo + hi) >> 1
        if edges[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo - start


@jit
def _table_rows(
    cont, codes, limits, i, features, categorical, edges, edge_start, row_start, rows, last
):  # pragma: no cover - compiled
    """rows[u] = the table row of row ``i``'s value of the ``u``-th tabulated feature (see
    BitTables); ``last``: every numerical feature's previous bin, updated."""
    for u in range(features.shape[0]):
        v = _value(cont, codes, limits, features[u], i)
        if categorical[u]:
            b = MAX_CATEGORY if (v != v or v < 0.0 or v >= MAX_CATEGORY) else int(v)
        elif v != v:
            b = edge_start[u + 1] - edge_start[u] + 1
        else:  # first edge >= v (searchsorted "left")
            b = _find_bin(edges, edge_start[u], edge_start[u + 1], v, last[u])
            last[u] = b
        rows[u] = row_start[u] + b


@jit
def _leaf_sum(bits, leaves):  # pragma: no cover - compiled
    """Sum over trees of the leaf of ``bits`` (its lowest set bit), in four partial sums:
    one chain of dependent adds would bound the loop."""
    n_trees = bits.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    top = n_trees - n_trees % 4
    for t in range(0, top, 4):
        s0 += leaves[t, trailing_zeros(bits[t])]
        s1 += leaves[t + 1, trailing_zeros(bits[t + 1])]
        s2 += leaves[t + 2, trailing_zeros(bits[t + 2])]
        s3 += leaves[t + 3, trailing_zeros(bits[t + 3])]
    for t in range(top, n_trees):
        s0 += leaves[t, trailing_zeros(bits[t])]
    return (s0 + s1) + (s2 + s3)


#: Pixels between two re-orderings of the features in :func:`_table_trees`.
TILE = 4096


@jit
def _table_trees(
    cont, codes, limits, features, categorical, edges, edge_start, row_start, table, leaves, out
):  # pragma: no cover - compiled
    """out[i] = sum over trees of row i's leaf, from the bit tables (see BitTables).

    ``prefix[k]`` holds the AND of the rows of the features ``order[:k + 1]``; a pixel
    redoes it from the first feature (in that order) whose row differs from the one held,
    and its leaf sum only when some row does.  Every :data:`TILE` pixels the features are
    ordered by how often their row changed in the previous tile, the steadiest first, so
    that most pixels AND one or two rows instead of all of them.  The order changes the
    work, never the result (the AND of the same rows).
    """
    n_feat, n_trees = features.shape[0], table.shape[1]
    prefix = np.empty((n_feat, n_trees), dtype=table.dtype)
    rows = np.empty(n_feat, dtype=np.int64)  # every feature's row, this pixel
    seen = np.full(n_feat, -1, dtype=np.int64)  # and the previous pixel's
    held = np.full(n_feat, -1, dtype=np.int64)  # the row prefix[k] holds of order[k]
    last = np.zeros(n_feat, dtype=np.int64)  # every feature's previous bin
    changes = np.zeros(n_feat, dtype=np.int64)
    order = np.arange(n_feat)
    s = 0.0
    for i in range(out.shape[0]):
        if i % TILE == 0:
            order = np.argsort(changes, kind="mergesort")
            changes[:] = 0
            held[:] = -1
        _table_rows(cont, codes, limits, i, features, categorical, edges, edge_start, row_start,
                    rows, last)  # fmt: skip
        first = n_feat
        for u in range(n_feat):
            if rows[u] != seen[u]:
                changes[u] += 1
                seen[u] = rows[u]
        for k in range(n_feat):
            if rows[order[k]] != held[k]:
                first = k
                break
        if first < n_feat:
            if first == 0:
                prefix[0] = table[rows[order[0]]]
                held[0] = rows[order[0]]
                first = 1
            for k in range(first, n_feat):
                below, here, row = prefix[k - 1], prefix[k], table[rows[order[k]]]
                for t in range(n_trees):
                    here[t] = below[t] & row[t]
                held[k] = rows[order[k]]
            s = _leaf_sum(prefix[n_feat - 1], leaves)
        out[i] = s


def tree_logits(
    trees: CompiledTrees,
    continuous: np.ndarray,
    codes: np.ndarray | None = None,
    n_classes=None,
    tables: BitTables | None = None,
) -> np.ndarray:
    """(n,) float64 raw scores of the ensemble for the rows of ``continuous`` and ``codes``.

    Parameters
    ----------
    trees : CompiledTrees
        :func:`compile_trees` of the booster.
    continuous : (n, C) float32 or float64
        The first C features, row-major (read in place, NaN: missing).
    codes : (n, G) unsigned integers, optional
        The next G features, as class codes; a code >= its group's ``n_classes`` is missing.
    n_classes : (G,) ints, optional
        Every group's class count (default: no code is missing).
    tables : BitTables, optional
        :func:`bit_tables` of the same trees: the tabulated kernel runs, else the trees are
        walked.  One thread (the caller's), the GIL released.
    """
    cont = np.asarray(continuous)
    if cont.dtype not in (np.float32, np.float64):
        cont = cont.astype(np.float64)
    cont = np.ascontiguousarray(cont)
    n = cont.shape[0]
    codes = np.zeros((n, 0), np.uint8) if codes is None else np.ascontiguousarray(codes)
    if n_classes is None:
        limits = np.full(codes.shape[1], np.iinfo(np.int64).max, dtype=np.int64)
    else:
        limits = np.asarray(n_classes, dtype=np.int64).reshape(codes.shape[1])
    out = np.zeros(n, dtype=np.float64)
    if not n or not trees.roots.size:
        return out
    if tables is not None and tables.features.size:
        _table_trees(cont, codes, limits, *tables, out)
    else:
        _walk_trees(cont, codes, limits, *trees[:8], out)
    return out
