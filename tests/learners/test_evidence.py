"""fr / woe against a hand computation by explicit loops (LSAT's formulas), within 1e-9."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xlandslide.errors import ConfigError
from xlandslide.learners import FrequencyRatio, PixelTable, WeightsOfEvidence

from .common import auc, sigmoid, synthetic_table

A = 0.5  # the pseudo-count


def _tiny(weight=None):
    rng = np.random.default_rng(7)
    n = 40
    cont = rng.normal(size=(n, 2)).astype("f4")
    cont[[3, 11, 20], 0] = np.nan
    codes = rng.integers(0, 3, size=(n, 1)).astype("u1")
    codes[[5, 6], 0] = 255
    codes[codes[:, 0] == 2, 0] = 1  # class 2 of 3 stays empty: smoothing makes it finite
    label = (rng.random(n) < sigmoid(cont[:, 1].astype(float))).astype("i1")
    return PixelTable(cont, codes, label, n_classes=(3,), weight=weight)


def _hand(table, n_bins):
    """Per layer: (classes of each pixel, W+, W-, C, s(C), FR), by explicit loops."""
    n = table.n
    w = table.weights()
    layers = []
    for j in range(2):
        valid = [float(v) for v in table.continuous[:, j] if not math.isnan(v)]
        breaks = sorted(set(np.quantile(valid, [k / n_bins for k in range(1, n_bins)])))
        cls = []
        for i in range(n):
            v = float(table.continuous[i, j])
            cls.append(-1 if math.isnan(v) else sum(1 for b in breaks if b <= v))
        layers.append((cls, len(breaks) + 1))
    cls = [int(c) if c < 3 else -1 for c in table.codes[:, 0]]
    layers.append((cls, 3))
    out = []
    for cls, k in layers:
        pos = [0.0] * k
        neg = [0.0] * k
        for i in range(n):
            if cls[i] >= 0:
                if table.label[i] == 1:
                    pos[cls[i]] += w[i]
                else:
                    neg[cls[i]] += w[i]
        ratio = sum(neg) / sum(pos)  # pseudo-counts: A landslide, A * ratio stable pixels
        raw_pos, raw_neg = pos, neg
        pos = [v + A for v in raw_pos]
        neg = [v + A * ratio for v in raw_neg]
        big_p, big_q = sum(pos), sum(neg)
        stats = []
        for b in range(k):
            wp = math.log((pos[b] / big_p) / (neg[b] / big_q))
            wm = math.log(((big_p - pos[b]) / big_p) / ((big_q - neg[b]) / big_q))
            var = 1 / pos[b] + 1 / neg[b] + 1 / (big_p - pos[b]) + 1 / (big_q - neg[b])
            fr = (pos[b] / big_p) / ((pos[b] + neg[b]) / (big_p + big_q))
            stats.append((wp, wm, wp - wm, math.sqrt(var), fr, raw_pos[b], raw_pos[b] + raw_neg[b]))
        out.append((cls, stats))
    return out


@pytest.mark.parametrize("weighted", [False, True])
def test_tables_and_logits_by_hand(weighted):
    weight = np.linspace(0.5, 2.0, 40) if weighted else None
    table = _tiny(weight)
    hand = _hand(table, n_bins=4)
    woe = WeightsOfEvidence(n_bins=4, smoothing=A, calibrate=False).fit(table)
    fr = FrequencyRatio(n_bins=4, smoothing=A, calibrate=False).fit(table)
    frame = woe.tables()
    assert frame.equals(fr.tables())
    for j, (_, stats) in enumerate(hand):
        rows = frame[(frame["layer"] == ["c0", "c1", "g0"][j]) & (frame["class"] >= 0)]
        got = rows[["w_plus", "w_minus", "contrast", "s_contrast", "fr", "landslides", "count"]]
        np.testing.assert_allclose(got.to_numpy(), np.array(stats), rtol=0, atol=1e-9)
        np.testing.assert_allclose(rows["studentised"], [s[2] / s[3] for s in stats], atol=1e-9)
    # missing rows: counts only; the shares of a layer sum to 1
    missing = frame[frame["class"] == -1]
    w = table.weights()
    np.testing.assert_allclose(missing["count"], [w[[3, 11, 20]].sum(), 0.0, w[[5, 6]].sum()])
    np.testing.assert_allclose(frame.groupby("layer")["area_share"].sum(), 1.0)
    assert missing["w_plus"].isna().all()
    # logits: prior + sum over layers of the class's W+ (or ln FR); missing adds 0
    prior = math.log(w[table.label == 1].sum() / w[table.label == 0].sum())
    for learner, pick in ((woe, lambda s: s[0]), (fr, lambda s: math.log(s[4]))):
        expected = []
        for i in range(table.n):
            total = prior
            for cls, stats in hand:
                if cls[i] >= 0:
                    total += pick(stats[cls[i]])
            expected.append(total)
        got = learner.predict_logit(table.continuous, table.codes)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_an_empty_class_carries_no_evidence():
    table = _tiny()
    woe = WeightsOfEvidence(calibrate=False).fit(table)
    fr = FrequencyRatio(calibrate=False).fit(table)
    rows = woe.tables().query("layer == 'g0' and `class` == 2")
    assert rows["count"].item() == 0 and abs(rows["w_plus"].item()) < 1e-12
    assert abs(fr.tables().query("layer == 'g0' and `class` == 2")["fr"].item() - 1) < 1e-12


def test_calibration_and_skill():
    table = synthetic_table(n=1500, seed=2)
    test = synthetic_table(n=1500, seed=3)
    for cls in (WeightsOfEvidence, FrequencyRatio):
        learner = cls().fit(table)
        logit = learner.predict_logit(table.continuous, table.codes)
        # a calibrated logistic fit: mean predicted probability equals the positive rate
        assert abs(sigmoid(logit).mean() - table.label.mean()) < 1e-6
        assert auc(test.label, learner.predict_logit(test.continuous, test.codes)) > 0.75
        a, b = learner.calibration_
        raw = cls(calibrate=False).fit(table).predict_logit(table.continuous, table.codes)
        np.testing.assert_allclose(logit, a + b * raw, atol=1e-12)


def test_missing_is_no_evidence_and_state_round_trip():
    table = synthetic_table(n=400, seed=4, missing=0.2)
    woe = WeightsOfEvidence(calibrate=False).fit(table)
    nan_row = np.full((1, 2), np.nan, "f4"), np.full((1, 2), 255, "u1")
    np.testing.assert_allclose(woe.predict_logit(*nan_row), woe.prior_logit_)
    again = WeightsOfEvidence.from_state(woe.to_state())
    np.testing.assert_array_equal(
        again.predict_logit(table.continuous, table.codes),
        woe.predict_logit(table.continuous, table.codes),
    )
    assert again.tables().equals(woe.tables())


def test_ties_merge_quantile_classes():
    cont = np.r_[np.zeros(30), np.arange(10)].astype("f4")[:, None]
    label = np.r_[np.zeros(35), np.ones(5)].astype("i1")
    fr = FrequencyRatio(n_bins=10).fit(PixelTable(cont, np.zeros((40, 0), "u1"), label))
    assert fr.breaks_[0].size == np.unique(fr.breaks_[0]).size < 9


@pytest.mark.parametrize(
    "kw, match", [({"n_bins": 0}, "n_bins"), ({"smoothing": 0}, "pseudo-count > 0")]
)
def test_bad_options(kw, match):
    with pytest.raises(ConfigError, match=match):
        WeightsOfEvidence(**kw)
