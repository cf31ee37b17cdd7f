"""ML and REML where the likelihood of τ² has two maxima, against R's metafor.

tests/fixtures/multimodal (validation/multimodal_fixtures.R) holds eleven simulated
meta-analyses (k = 10) and metafor's ML and REML fits at tight convergence settings. In several
the score is negative at τ² = 0 (a local maximum on the boundary) yet a higher maximum lies
inside; in others the inside maximum is the lower one and τ² = 0 is right. The single fit and
both batch engines must pick the same maximum as metafor, at the tolerances of
tests/test_against_metafor.py.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.rlive import need_r, run_r_script
from tests.stats.test_against_metafor import ABS_TOL, REL_TOL
from trialsynth.stats.batch import compiled_available, fit_batch
from trialsynth.stats.meta import meta_analysis

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "multimodal"
CASES = json.loads((ROOT / "metafor.json").read_text(encoding="utf-8"))["cases"]
with open(ROOT / "data.csv", encoding="utf-8") as handle:
    DATA = {int(r["row"]): r for r in csv.DictReader(handle)}
K = 10


def _data(row: int):
    r = DATA[row]
    return (
        np.array([float(r[f"y{j + 1}"]) for j in range(K)]),
        np.array([float(r[f"v{j + 1}"]) for j in range(K)]),
    )


def _score_at_zero(y, v, restricted):
    """Score of the (restricted) likelihood at τ² = 0, written out: w = 1/v, μ = Σwy/Σw,
    ML: Σw²(y − μ)² − Σw; REML adds Σw²/Σw (Viechtbauer 2005)."""
    w = 1 / v
    mu = sum(w * y) / sum(w)
    s = sum(w**2 * (y - mu) ** 2) - sum(w)
    return s + sum(w**2) / sum(w) if restricted else s


def _close(got, want):
    return math.isclose(got, want, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def test_fixtures_hold_both_kinds_of_bimodal_case():
    inside = [
        c for c in CASES if c["tau2"] > 0 and _score_at_zero(*_data(c["row"]), c["method"] == "REML") < 0
    ]
    assert {c["method"] for c in inside} == {"ML", "REML"}  # τ² > 0 though the score at 0 is negative
    boundary = [
        c for c in CASES if c["tau2"] == 0 and _score_at_zero(*_data(c["row"]), c["method"] == "REML") < 0
    ]
    assert boundary


@pytest.mark.parametrize("case", CASES, ids=[f"row{c['row']}-{c['method']}" for c in CASES])
def test_single_fit_finds_metafors_maximum(case):
    y, v = _data(case["row"])
    fit = meta_analysis(y, v, method=case["method"])
    for key in ("tau2", "estimate", "se"):
        assert _close(getattr(fit, key), case[key]), (key, getattr(fit, key), case[key])


ENGINES = [
    "numpy",
    pytest.param("compiled", marks=pytest.mark.skipif(not compiled_available(), reason="numba")),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_batch_finds_metafors_maximum(method, engine):
    cases = [c for c in CASES if c["method"] == method]
    y = np.array([_data(c["row"])[0] for c in cases])
    v = np.array([_data(c["row"])[1] for c in cases])
    fit = fit_batch(y, v, method=method, engine=engine)
    assert fit.converged.all()
    for i, case in enumerate(cases):
        for key in ("tau2", "estimate", "se"):
            got = float(getattr(fit, key)[i])
            assert _close(got, case[key]), (case["row"], key, got, case[key])


@pytest.mark.against_R
def test_live_metafor_gives_the_pinned_values_against_R(tmp_path):
    """Re-run validation/multimodal_fixtures.R on the pinned data: metafor must give the pinned numbers."""
    script = ROOT.parents[1].parent / "validation" / "multimodal_fixtures.R"
    need_r(script)
    shutil.copy(ROOT / "data.csv", tmp_path / "data.csv")
    run_r_script(script, tmp_path, timeout=300)
    fresh = json.loads((tmp_path / "metafor.json").read_text(encoding="utf-8"))["cases"]
    assert [(c["row"], c["method"]) for c in fresh] == [(c["row"], c["method"]) for c in CASES]
    for new, old in zip(fresh, CASES, strict=True):
        for key in ("tau2", "estimate", "se", "loglik"):
            assert _close(new[key], old[key]), (new["row"], new["method"], key, new[key], old[key])
