"""Nested effect sizes in a review folder (outcomes.csv's ``cluster`` and ``es_id`` columns): the
bundled school-calendars review (metadat's dat.konstantopoulos2011, 56 studies in 11 districts)
against metafor's ``rma.mv(yi, vi, random = ~ 1 | cluster/study)`` by REML and ML, its
profile-likelihood CIs, weights, and the CR2 cluster-robust test by district with Satterthwaite
df (``robust(..., clubSandwich = TRUE)``), pinned in tests/fixtures/reviews_metafor.json by
validation/review_fixtures.R (re-run live by tests/workflow/test_reviews_against_metafor.py).
Tolerance 1e-6 relative, as every metafor comparison in the suite; the profile-CI bounds 1e-5
(both sides stop root-finding on the likelihood at about 1e-8 in the log-likelihood). Also: the
same data written as ``es_id`` rows within districts give the same fit, results.json and the
report, and the one-line errors of broken nesting columns."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest

from trialsynth._core.errors import InputError
from trialsynth.io.review import load_review
from trialsynth.report.review import run_review
from trialsynth.workflow.runner import analyse_review

ROOT = Path(__file__).resolve().parents[2]
SCHOOLS = ROOT / "examples" / "school-calendars"
CASES = [
    c
    for c in json.loads((ROOT / "tests" / "fixtures" / "reviews_metafor.json").read_text())["cases"]
    if c["review"] == "school-calendars"
]
REL_TOL = 1e-6
ABS_TOL = 1e-9
CI_TOL = 1e-5


def _case(method: str, robust: bool = False) -> dict:
    (case,) = [c for c in CASES if c["method"] == method and bool(c.get("robust")) == robust]
    return case


def close(a, b, tol=REL_TOL) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=ABS_TOL)


def _check_fit(oa, case):
    fit = oa.multilevel.fit
    (coef,) = fit.coefficients
    assert fit.k == case["k"] == 56
    for key in ("estimate", "se", "ci_lower", "ci_upper", "p_value"):
        assert close(getattr(coef, key), case[key]), key
    assert all(close(a, b) for a, b in zip(fit.sigma2, case["sigma2"], strict=True))
    assert all(close(c.i2, e) for c, e in zip(fit.components, case["i2_levels"], strict=True))
    for c, lo, hi in zip(fit.components, case["sigma2_ci_lower"], case["sigma2_ci_upper"], strict=True):
        assert close(c.ci_lower, lo, CI_TOL) and close(c.ci_upper, hi, CI_TOL)
    assert close(fit.qe, case["qe"]) and close(fit.qe_p_value, case["qe_p_value"])
    assert close(fit.loglik, case["loglik"])
    weights = [s.weight for s in oa.primary.studies]
    assert all(close(w, e) for w, e in zip(weights, case["weights"], strict=True))
    assert [s.study for s in oa.primary.studies] == case["studies"]


@pytest.fixture(scope="module")
def analysis():
    return analyse_review(SCHOOLS)


def test_bundled_review_matches_rma_mv_and_cr2(analysis):
    (oa,) = analysis.outcomes
    assert oa.multilevel.levels == ("cluster", "study")
    _check_fit(oa, _case("REML"))
    # review.toml asks robust = "CR2": the primary result is the CR2 test by district.
    want = _case("REML", robust=True)
    res = oa.primary
    for key in ("estimate", "se", "ci_lower", "ci_upper", "p_value"):
        assert close(getattr(res, key), want[key]), key
    assert close(res.df, want["df"]) and res.test == "t"
    assert oa.multilevel.robust.n_clusters == 11
    assert any("~ 1 | cluster/study" in m for m in oa.messages)
    # The forest plot's footer names the model and the I² it shows; one row per study.
    from trialsynth.plots import forest_plot
    from trialsynth.plots._common import i2_definition_text, model_text

    assert model_text(res) == (
        "Multilevel random effects (~ 1 | cluster/study), REML; CR2 cluster-robust CI, t test"
    )
    assert "Cheung 2014" in i2_definition_text(res)
    rows = forest_plot(res).trialsynth["rows"]
    assert [r["label"] for r in rows if r["kind"] == "study"] == [s.study for s in res.studies]


def _copy(tmp_path, edit_toml=None, rows=None) -> Path:
    folder = tmp_path / "review"
    shutil.copytree(SCHOOLS, folder)
    if edit_toml:
        toml = folder / "review.toml"
        toml.write_text(edit_toml(toml.read_text(encoding="utf-8")), encoding="utf-8")
    if rows is not None:
        header, body = rows(_read(folder / "outcomes.csv"))
        _write(folder / "outcomes.csv", header, body)
    return folder


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    return table[0], table[1:]


def _write(path, header, body):
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *body])


def test_ml_without_robust_matches_rma_mv(tmp_path):
    folder = _copy(
        tmp_path, lambda t: t.replace('method = "REML", hk = false, robust = "CR2"', 'method = "ML"')
    )
    (oa,) = analyse_review(folder).outcomes
    assert oa.multilevel.robust is None
    _check_fit(oa, _case("ML"))
    # Without robust the primary result is the model-based z test of rma.mv.
    want = _case("ML")
    assert close(oa.primary.se, want["se"]) and close(oa.primary.p_value, want["p_value"])


def test_es_id_rows_within_districts_give_the_same_fit(tmp_path):
    """studies.csv with one row per district and the schools as es_id rows of outcomes.csv:
    ``~ 1 | study/es_id`` is the same model as ``~ 1 | district/school``."""
    folder = _copy(tmp_path)
    header, body = _read(folder / "studies.csv")
    districts = list(dict.fromkeys(r[header.index("district")] for r in body))
    first = {d: next(r for r in body if r[header.index("district")] == d) for d in districts}
    new = []
    for d in districts:
        row = list(first[d])
        row[header.index("id")] = f"district{d}"
        row[header.index("label")] = f"District {d}"
        new.append(row)
    _write(folder / "studies.csv", header, new)
    oh, ob = _read(folder / "outcomes.csv")
    oh = [("es_id" if h == "cluster" else h) for h in oh]
    for r in ob:
        district, school = r[oh.index("study")][1:].split("_s")
        r[oh.index("study")] = f"district{district}"
        r[oh.index("es_id")] = f"school{school}"
    _write(folder / "outcomes.csv", oh, ob)
    (oa,) = analyse_review(folder).outcomes
    assert oa.multilevel.levels == ("study", "es_id")
    fit = oa.multilevel.fit
    want = _case("REML")
    assert close(fit.coefficients[0].estimate, want["estimate"]) and close(fit.coefficients[0].se, want["se"])
    assert all(close(a, b) for a, b in zip(fit.sigma2, want["sigma2"], strict=True))
    assert close(oa.primary.p_value, _case("REML", robust=True)["p_value"])
    # The forest plot's rows: each district's schools, grouped, labelled with their es_id.
    from trialsynth.report.multilevel_section import row_label

    labels = {s.id: s.label for s in load_review(folder).studies}
    assert row_label(oa, 0, labels) == "District 11 · school1"


def test_results_json_and_report(tmp_path):
    report = run_review(SCHOOLS, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    (entry,) = doc["outcomes"]
    want, cr2 = _case("REML"), _case("REML", robust=True)
    assert all(close(a, b) for a, b in zip(entry["sigma2"], want["sigma2"], strict=True))
    assert close(entry["estimate"], cr2["estimate"]) and close(entry["ci_lower"], cr2["ci_lower"])
    assert entry["multilevel"]["formula"] == "~ 1 | cluster/study"
    assert close(entry["robust"]["coefficients"][0]["df"], cr2["df"])
    assert entry["trim_and_fill"] is None and len(entry["rows"]) == 56
    html = report.read_text(encoding="utf-8")
    assert "rma.mv(yi, vi, random = ~ 1 | cluster/study)" in html
    assert "profile CI" in html and "Cheung 2014" in html and "CR2" in html
    for name in ("report.docx", "results.xlsx"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def _rows_edit(change):
    def rows(table):
        header, body = table
        return change(header, body)

    return rows


def test_duplicate_rows_without_es_id_name_the_option(tmp_path):
    def dup(header, body):
        header = [h for h in header if h != "cluster"]
        body = [r[:2] + r[3:] for r in body]
        return header, [*body, body[0]]

    folder = _copy(tmp_path, rows=_rows_edit(dup))
    with pytest.raises(InputError, match=r"already has a used row.*es_id") as err:
        load_review(folder)
    assert err.value.row == 58 and "\n" not in str(err.value)


def test_es_id_twice_within_a_study(tmp_path):
    def twice(header, body):
        header = [*header, "es_id"]
        body = [[*r, "a"] for r in body]
        return header, [*body, body[0]]

    folder = _copy(tmp_path, rows=_rows_edit(twice))
    with pytest.raises(InputError, match="es_id 'a' appears twice for study 'd11_s1'") as err:
        load_review(folder)
    assert err.value.row == 58 and err.value.column == "es_id"


def test_es_id_blank_on_some_rows(tmp_path):
    def some(header, body):
        return [*header, "es_id"], [[*r, "a" if i else ""] for i, r in enumerate(body)]

    folder = _copy(tmp_path, rows=_rows_edit(some))
    with pytest.raises(InputError, match="es_id is blank, but row 3") as err:
        load_review(folder)
    assert err.value.row == 2 and err.value.column == "es_id"


def test_study_in_two_clusters(tmp_path):
    def two(header, body):
        extra = [*body[0]]
        extra[header.index("cluster")] = "district12"
        return [*header, "es_id"], [[*r, "x"] for r in body] + [[*extra, "y"]]

    folder = _copy(tmp_path, rows=_rows_edit(two))
    with pytest.raises(InputError, match="study 'd11_s1' is in cluster 'district11' on row 2") as err:
        load_review(folder)
    assert err.value.row == 58 and err.value.column == "cluster"


def test_robust_without_nesting_is_noted(tmp_path):
    """robust = "CR2" on an outcome with one row per study (no es_id, no cluster): the ordinary
    model, and a note saying the setting did not apply (never a silent no-op)."""

    def plain(header, body):
        i = header.index("cluster")
        return header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in body]

    folder = _copy(tmp_path, rows=_rows_edit(plain))
    (oa,) = analyse_review(folder).outcomes
    assert oa.multilevel is None and oa.primary.method == "REML" and oa.primary.test == "z"
    assert any('robust = "CR2" applies to nested effect sizes' in m for m in oa.messages)
