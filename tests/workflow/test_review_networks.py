"""``[[networks]]`` in a review folder: the bundled smoking-cessation review's network against
metafor's rma.mv (the pinned fixture of validation/network_fixtures.R, dat.hasselblad1998 with 1/2
added to every cell, no contact as reference), in results.json and in the report; and the
one-line errors of a broken ``[[networks]]`` table."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from trialsynth._core.errors import InputError
from trialsynth.io.review import load_review
from trialsynth.report.review import run_review
from trialsynth.workflow.runner import analyse_review

ROOT = Path(__file__).resolve().parents[2]
SMOKING = ROOT / "examples" / "smoking-cessation"
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "network" / "cases.json").read_text(encoding="utf-8"))
# metafor's fit, its optimiser tightened (validation/network_fixtures.R): 1e-6 relative, as every
# metafor comparison in the suite (tests/stats/test_network.py).
REL_TOL = 1e-6
ABS_TOL = 1e-8


def _expected(method: str) -> dict:
    (case,) = [c for c in FIXTURE["cases"] if c["id"] == f"hasselblad1998_{method}"]
    return case


@pytest.fixture(scope="module")
def analysis():
    return analyse_review(SMOKING)


def test_network_spec_loads():
    (spec,) = load_review(SMOKING).networks
    assert (spec.id, spec.measure, spec.reference, spec.method, spec.better) == (
        "cessation",
        "OR",
        "no_contact",
        "REML",
        "higher",
    )
    assert (spec.add, spec.to) == (0.5, "all")
    assert spec.file == SMOKING / "network.csv"


def test_review_network_matches_metafor(analysis):
    (network,) = analysis.networks
    res, case = network.result, _expected("REML")
    want = case["expected"]
    assert list(res.treatments) == case["treatments"]
    assert math.isclose(res.tau2, want["tau2"], rel_tol=REL_TOL, abs_tol=ABS_TOL)
    np.testing.assert_allclose(res.coefficients, want["coefficients"], rtol=REL_TOL, atol=ABS_TOL)
    np.testing.assert_allclose(res.covariance, np.array(want["vcov"]), rtol=REL_TOL, atol=ABS_TOL)
    # The effects against the reference are the coefficients, their SEs the root of the diagonal.
    for effect, b, v in zip(res.effects, want["coefficients"], np.diag(want["vcov"]), strict=True):
        assert math.isclose(effect.estimate, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
        assert math.isclose(effect.se, math.sqrt(v), rel_tol=REL_TOL, abs_tol=ABS_TOL)


def test_results_json_and_report_show_the_network(tmp_path):
    report = run_review(SMOKING, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    (entry,) = doc["networks"]
    assert entry["id"] == "cessation" and entry["file"] == "network.csv" and entry["scale"] == "log"
    want = _expected("REML")["expected"]
    assert math.isclose(entry["tau2"], want["tau2"], rel_tol=REL_TOL)
    got = {e["treatment"]: e["estimate"] for e in entry["effects"]}
    for name, b in zip(["grp_counseling", "ind_counseling", "self_help"], want["coefficients"], strict=True):
        assert math.isclose(got[name], b, rel_tol=REL_TOL)
    html = report.read_text(encoding="utf-8")
    section = html[html.index('<section id="network-cessation">') :]
    section = section[: section.index("</section>")]
    # The network graph, the forest plot against the reference and the league heat map, inline.
    assert section.count("<svg") == 3
    assert "Network meta-analysis: Smoking cessation: four interventions" in section
    # Individual counselling against no contact, as the report formats it (two decimals).
    b, v = want["coefficients"][1], want["vcov"][1][1]
    lo, hi = b - 1.959963984540054 * math.sqrt(v), b + 1.959963984540054 * math.sqrt(v)
    assert f"{math.exp(b):.2f} ({math.exp(lo):.2f} to {math.exp(hi):.2f})" in section
    for stem in ("network-cessation", "network-cessation-forest", "network-cessation-league"):
        for suffix in (".svg", ".png", ".pdf"):
            assert (tmp_path / "out" / "figures" / f"{stem}{suffix}").is_file()


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "smoking"
    shutil.copytree(SMOKING, folder)
    toml = folder / "review.toml"
    text = toml.read_text(encoding="utf-8")
    assert text.count(old) == 1
    toml.write_text(text.replace(old, new), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('file = "network.csv"', 'file = "missing.csv"', ("network 'cessation'", "no file 'missing.csv'")),
        ('file = "network.csv"', 'file = "../network.csv"', ("inside the review folder",)),
        ('file = "network.csv"', 'file = "/etc/passwd"', ("inside the review folder",)),
        ('measure = "OR"\nreference', 'measure = "RD"\nreference', ('unknown measure "RD"',)),
        ('method = "REML"\nbetter', 'method = "DL"\nbetter', ('unknown method "DL"', "REML, ML, FE")),
        ('to = "all"', 'to = "all"\nadd = 2', ("'add' must be between 0 and 1",)),
        ('to = "all"', 'to = "all"\nadd = nan', ("'add' must be between 0 and 1",)),
        ('id = "cessation"', 'id = "two words"', ("not an identifier",)),
        ('to = "all"', 'to = "all"\ncolour = "red"', ("colour",)),
    ],
)
def test_broken_networks_table_is_a_one_line_error(tmp_path, old, new, words):
    folder = _broken(tmp_path, old, new)
    with pytest.raises(InputError) as info:
        load_review(folder)
    message = str(info.value)
    assert "\n" not in message and "review.toml" in message
    for word in words:
        assert word in message, (word, message)


def test_unknown_reference_names_the_network_file(tmp_path):
    folder = _broken(tmp_path, 'reference = "no_contact"', 'reference = "placebo"')
    with pytest.raises(InputError) as info:
        analyse_review(folder)
    assert "placebo" in str(info.value) and "network.csv" in str(info.value)
