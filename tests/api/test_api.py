"""The Python API (``import trialsynth as ts``) against metafor 3.8 on the BCG trials.

Source: metadat's ``dat.bcg`` (Colditz et al., JAMA 1994) as pinned in tests/fixtures/metafor
(``validation/metafor_fixtures.R``: escalc + rma/rma.mh/rma.peto) and
tests/fixtures/metafor_analyses (``validation/metafor_fixtures_analyses.R``: subgroups,
meta-regression, leave1out, influence, cumul, regtest/ranktest/trimfill/fsn/selmodel); GLMMs
from tests/fixtures/glmm (``validation/glmm_fixtures.R``, rma.glmm). The data enter as a pandas
DataFrame, through the API only, and every value metafor gave is compared with the tolerances
of tests/stats/test_against_metafor.py (REL_TOL = 1e-6 relative, ABS_TOL = 1e-9 for zeros).
"""

from __future__ import annotations

import doctest
import importlib
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialsynth as ts
from tests.stats.test_against_metafor import ABS_TOL, REL_TOL
from tests.stats.test_analyses_against_metafor import _compare
from tests.stats.test_glmm import _tolerance as glmm_tolerance
from trialsynth import InputError, TrialsynthWarning

ROOT = Path(__file__).resolve().parents[2]
METAFOR = ROOT / "tests" / "fixtures" / "metafor"
ANALYSES = ROOT / "tests" / "fixtures" / "metafor_analyses"
BCG_CASES = [
    c for c in json.loads((METAFOR / "cases.json").read_text())["cases"] if c["id"].startswith("bcg_")
]
ANALYSIS_CASES = [
    c for c in json.loads((ANALYSES / "cases.json").read_text())["cases"] if c["input"] == "data/bcg.csv"
]
GLMM = json.loads((ROOT / "tests" / "fixtures" / "glmm" / "cases.json").read_text())


def _bcg() -> pd.DataFrame:
    return pd.read_csv(ANALYSES / "data" / "bcg.csv")


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        return func(*args, **kwargs)


def _check(got: dict, expected: dict) -> None:
    problems: list[str] = []
    _compare(got, expected, "", problems)
    assert not problems, "\n".join(problems[:10])


def _close(got: float, want: float | None) -> bool:
    if want is None:
        return math.isnan(got)
    return math.isclose(got, want, rel_tol=REL_TOL, abs_tol=ABS_TOL)


@pytest.mark.parametrize("case", BCG_CASES, ids=[c["id"] for c in BCG_CASES])
def test_bcg_dataframe_matches_metafor(case):
    """ts.effects(df) → ts.meta_analysis: every metafor value of the case (rma, rma.mh, rma.peto)."""
    df = pd.read_csv(METAFOR / case["input"])
    es = ts.effects(df, measure=case["measure"])
    res = _quiet(
        ts.meta_analysis,
        es,
        method=case["method"],
        hk=case["hk"],
        hk_variant=case["hk_variant"] or "knha",
        level=case["level"],
    )
    want = case["expected"]
    _check(res.to_dict(), want)
    assert _close(res.estimate, want["estimate"]) and _close(res.se, want["se"])
    assert _close(res.ci[0], want["ci_lower"]) and _close(res.ci[1], want["ci_upper"])
    assert _close(res.tau2, want["tau2"]) and _close(res.i2, want["i2"])
    assert _close(res.pi[0], want["pi_lower"]) and _close(res.pi[1], want["pi_upper"])
    pooled = res.summary().loc["pooled"]
    assert _close(pooled["estimate"], want["estimate"]) and _close(pooled["p_value"], want["p_value"])
    assert json.loads(res.to_json()) == res.to_dict()


def _case(case_id: str) -> dict:
    return next(c for c in BCG_CASES if c["id"] == case_id)


def test_user_column_names_and_arrays_match_metafor():
    """The same trials under a user's own column names (metafor's ai/n1i/ci/n2i mapping, and
    bi/di non-events), and as plain arrays: bcg_RR_REML_z and bcg_OR_MH from metafor."""
    df = _bcg().rename(
        columns={
            "study": "trial",
            "events_treatment": "tpos",
            "n_treatment": "tn",
            "events_control": "cpos",
            "n_control": "cn",
        }
    )
    es = ts.effects(df, measure="RR", study="trial", ai="tpos", n1i="tn", ci="cpos", n2i="cn")
    _check(ts.meta_analysis(es, method="REML").to_dict(), _case("bcg_RR_REML_z")["expected"])
    # Non-events, as dat.bcg itself holds them (tneg = tn − tpos).
    df["tneg"], df["cneg"] = df["tn"] - df["tpos"], df["cn"] - df["cpos"]
    es = ts.effects(df, measure="OR", study="trial", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    _check(ts.meta_analysis(es, method="MH").to_dict(), _case("bcg_OR_MH")["expected"])
    # Arrays, no DataFrame; the effect table keeps its counts, so MH needs nothing else.
    es = ts.effects(
        study=df["trial"].to_numpy(),
        ai=df["tpos"].to_numpy(),
        n1i=df["tn"].to_list(),
        ci=df["cpos"].to_numpy(),
        n2i=df["cn"].to_numpy(),
        measure="OR",
    )
    assert list(es.data.values["events_treatment"]) == list(df["tpos"].astype(float))
    _check(ts.meta_analysis(es, method="PETO").to_dict(), _case("bcg_OR_PETO")["expected"])
    # yi/vi from the table of effects (escalc output): FE and DL from the effects alone.
    want = _case("bcg_OR_DL_z")["expected"]
    yi = [s["effect"] for s in want["studies"]]
    vi = [s["variance"] for s in want["studies"]]
    es = ts.effects({"study": df["trial"], "y": yi, "v": vi}, measure="OR", yi="y", vi="v")
    _check(ts.meta_analysis(es, method="DL").to_dict(), want)


def test_effect_table_keeps_counts_and_columns():
    es = ts.effects(_bcg(), measure="RR")
    frame = es.to_frame()
    assert list(frame.columns[:3]) == ["study", "yi", "vi"]
    assert frame["events_treatment"].iloc[0] == 4 and frame["ablat"].iloc[0] == "44"
    want = _case("bcg_RR_REML_z")["expected"]["studies"]
    np.testing.assert_allclose(es.yi, [s["effect"] for s in want], rtol=REL_TOL)
    np.testing.assert_allclose(es.vi, [s["variance"] for s in want], rtol=REL_TOL)
    assert repr(es).startswith("Effect sizes: log RR, k = 13")


def _analysis_kwargs(case: dict) -> dict:
    return {"method": case["method"], "hk": case["hk"]}


@pytest.mark.parametrize(
    "case",
    [c for c in ANALYSIS_CASES if c["kind"] in ("subgroup", "regression")],
    ids=lambda c: c["id"],
)
def test_subgroups_and_meta_regression_match_metafor(case):
    es = ts.effects(_bcg(), measure=case["measure"])
    opts = case["options"]
    if case["kind"] == "subgroup":
        res = _quiet(
            ts.meta_analysis,
            es,
            subgroup=opts["subgroup"],
            subgroup_tau2=opts["subgroup_tau2"],
            **_analysis_kwargs(case),
        )
        assert list(res.summary().index) == [g["name"] for g in case["expected"]["subgroups"]] + ["pooled"]
    else:
        # A formula string, as R's mods = ~ ablat + alloc + year.
        formula = "~ " + " + ".join(opts["moderators"].split(","))
        res = _quiet(
            ts.meta_analysis,
            es,
            moderators=formula,
            permutations=opts.get("permutations"),
            seed=1,
            **_analysis_kwargs(case),
        )
        coefs = case["expected"]["coefficients"]
        np.testing.assert_allclose(res.estimate, [c["estimate"] for c in coefs], rtol=REL_TOL, atol=ABS_TOL)
        assert list(res.summary().index) == [c["name"] for c in coefs]
    expected = dict(case["expected"])
    if "permutations" in opts:  # permutation p-values are random: compared in tests/stats
        expected["coefficients"] = [
            {k: v for k, v in c.items() if k != "permutation_p_value"} for c in expected["coefficients"]
        ]
        expected.pop("permutation", None)
    _check(res.to_dict(), expected)


@pytest.mark.parametrize(
    "case", [c for c in ANALYSIS_CASES if c["kind"] == "influence"], ids=lambda c: c["id"]
)
def test_leave_one_out_influence_cumulative_match_metafor(case):
    es = ts.effects(_bcg(), measure=case["measure"])
    opts = case["options"]
    want = case["expected"]
    if "moderators" in opts:
        res = _quiet(ts.meta_analysis, es, moderators=opts["moderators"].split(","), **_analysis_kwargs(case))
    else:
        res = _quiet(ts.meta_analysis, es, **_analysis_kwargs(case))
    if "leave_one_out" in want:
        got = _quiet(res.leave_one_out).reset_index().to_dict("records")
        _check({"leave_one_out": _nan_to_none(got)}, {"leave_one_out": want["leave_one_out"]})
    if "influence" in want:
        if want["influence"] is None:
            with pytest.raises(InputError, match="inverse-variance"):
                res.influence()
        else:
            got = _quiet(res.influence).reset_index().to_dict("records")
            _check({"influence": _nan_to_none(got)}, {"influence": want["influence"]})
    if "cumulative" in want:
        got = _quiet(res.cumulative, by=opts["cumulative_by"]).reset_index().to_dict("records")
        _check({"cumulative": _nan_to_none(got)}, {"cumulative": want["cumulative"]})


def _nan_to_none(rows: list[dict]) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in rows
    ]


@pytest.mark.parametrize("case", [c for c in ANALYSIS_CASES if c["kind"] == "bias"], ids=lambda c: c["id"])
def test_bias_matches_metafor(case):
    es = ts.effects(_bcg(), measure=case["measure"])
    res = _quiet(ts.meta_analysis, es, **_analysis_kwargs(case))
    opts = dict(case["options"])
    steps = [float(s) for s in opts.pop("steps").split(",")]
    bias = _quiet(res.bias, steps=steps, **opts)
    _check(bias.to_dict(), case["expected"])
    assert bias.egger["p_value"] == bias.to_dict()["egger"]["p_value"]
    assert "egger" in bias.summary().index


@pytest.mark.parametrize("case_id", ["bcg_CM.AL_ML", "bcg_UM.FS_EE"])
def test_glmm_matches_metafor_rma_glmm(case_id):
    case = next(c for c in GLMM["or_cases"] if c["id"] == case_id)
    es = ts.effects(_bcg(), measure="OR")
    res = _quiet(ts.meta_analysis, es, method="GLMM", glmm=case["model"], fixed=case["method"] == "EE")
    want = case["expected"]
    for key in ("estimate", "se"):
        assert getattr(res, key) == pytest.approx(want[key], rel=glmm_tolerance(case, key))
    if case["method"] == "ML":
        assert res.tau2 == pytest.approx(want["tau2"], rel=glmm_tolerance(case, "tau2"))


def test_plots_repr_and_html():
    import matplotlib.figure

    res = _quiet(ts.meta_analysis, ts.effects(_bcg(), measure="RR"), method="REML")
    fig = res.forest()
    assert isinstance(fig, matplotlib.figure.Figure)
    assert fig.trialsynth["measure"] == "RR" and fig.trialsynth["subgroups"] == []
    funnel = _quiet(res.funnel, trimfill=True)
    assert isinstance(funnel, matplotlib.figure.Figure)
    text = repr(res)
    pooled_line = next(line for line in text.splitlines() if line.startswith("Pooled"))
    assert pooled_line.split()[1] == "0.49" and "Model: random effects (REML); k = 13" in text  # exp(−0.7145)
    html = res._repr_html_()
    assert '<img src="data:image/svg+xml;base64,' in html
    sub = _quiet(ts.meta_analysis, ts.effects(_bcg(), measure="RR"), subgroup="alloc")
    assert "alloc" in repr(sub)
    assert sub.forest().trialsynth["subgroups"] == ["alternate", "random", "systematic"]


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda df: ts.effects(df), "give the effect measure, measure=...: one of OR, RR, RD"),
        (lambda df: ts.effects(df, measure="XX"), "unknown measure 'XX'; choose one of OR"),
        (
            lambda df: ts.effects(df, measure="OR", ai="tpos"),
            "ai='tpos': no such column (the columns are: study",
        ),
        (lambda df: ts.effects(df.assign(n_treatment=-1), measure="OR"), "data, row 0, column 'n_treatment'"),
        (lambda df: ts.effects(df.drop(columns="study"), measure="OR"), "no study labels"),
        (lambda df: ts.effects(df, measure="OR", yi=[0.1]), "yi has 1 values for 13 studies"),
        (lambda df: ts.meta_analysis(df), "takes the effect sizes of ts.effects"),
        (lambda df: ts.meta_analysis(ts.effects(df, measure="OR"), method="XX"), "unknown method 'XX'"),
        (lambda df: ts.meta_analysis(ts.effects(df, measure="OR"), moderators="ablat"), "starts with '~'"),
        (
            lambda df: ts.meta_analysis(ts.effects(df, measure="OR"), subgroup="alloc", moderators=["ablat"]),
            "either subgroup= or moderators=",
        ),
        (
            lambda df: ts.meta_analysis(ts.effects(df, measure="RR"), method="MH").influence(),
            "inverse-variance",
        ),
    ],
)
def test_user_errors_are_one_line_input_errors(call, words):
    with pytest.raises(InputError) as info:
        _quiet(call, _bcg())
    assert words in str(info.value) and "\n" not in str(info.value)


def test_run_review_returns_the_results_json_document(tmp_path):
    review = ts.run_review(ROOT / "src" / "trialsynth" / "examples" / "bcg", out=tmp_path)
    written = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert written == json.loads(review.to_json()) and review.report == tmp_path / "report.html"
    assert review.analysis.outcomes[0].primary.k == 13


def test_tsa_bayes_fit_batch_network_multilevel_derive_are_reachable():
    es = ts.effects(_bcg(), measure="RR")
    assert _quiet(ts.tsa, es, control_risk=0.05, rrr=0.2).measure == "RR"
    assert ts.bayes(es).k == 13
    # The batch engine on the BCG effects agrees with the single fit (metafor: bcg_RR_DL_z).
    want = _case("bcg_RR_DL_z")["expected"]
    fit = ts.fit_batch(np.asarray(es.yi)[None, :], np.asarray(es.vi)[None, :], method="DL")
    assert math.isclose(float(fit.estimate[0]), want["estimate"], rel_tol=REL_TOL)
    assert callable(ts.network) and callable(ts.multilevel) and hasattr(ts.derive, "sd_from_se")


def test_api_doctests_run():
    """The examples in the docstrings of trialsynth and trialsynth.api run as doctests."""
    names = [
        "trialsynth",
        "trialsynth.api",
        "trialsynth.api.effects",
        "trialsynth.api.model",
        "trialsynth.api.analyses",
    ]
    for name in names:
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, name
        assert name != "trialsynth.api.effects" or result.attempted >= 4


def test_import_trialsynth_is_light():
    """``import trialsynth`` loads none of numpy, scipy, pandas, matplotlib (PEP 562 lazy names)."""
    heavy = "('numpy', 'scipy', 'pandas', 'matplotlib')"
    code = f"import sys, trialsynth; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert set(ts.__all__) >= {
        "effects",
        "meta_analysis",
        "tsa",
        "bayes",
        "fit_batch",
        "run_review",
        "network",
        "multilevel",
        "derive",
        "InputError",
    }


def test_network_from_a_dataframe_matches_metafor_rma_mv():
    """ts.network on arm rows (a DataFrame with the user's column names) against metafor's
    rma.mv contrast model (tests/fixtures/network, validation/network_fixtures.R), 1e-6."""
    root = ROOT / "tests" / "fixtures" / "network"
    case = next(
        c for c in json.loads((root / "cases.json").read_text())["cases"] if c["id"] == "simulated_rr_REML"
    )
    df = pd.read_csv(root / case["input"]).rename(columns={"study": "trial", "treatment": "arm"})
    res = ts.network(
        df, measure="RR", study="trial", treatment="arm", events="events", n="n", method="REML",
        reference=case["reference"], sucra_draws=0, node_splitting=False, inconsistency=False,
    )  # fmt: skip
    want = case["expected"]
    assert math.isclose(res.tau2, want["tau2"], rel_tol=REL_TOL)
    np.testing.assert_allclose(res.coefficients, want["coefficients"], rtol=REL_TOL)
