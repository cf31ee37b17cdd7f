"""``trialsynth km``: a hazard ratio from digitised KM curves, as a user runs it.

The curves come from simulated individual patient data (tests/stats/test_km.py: two exponential
arms, HR 0.7, digitised at one pixel of a typical figure, numbers at risk every 6 months); the
reference is the Cox log HR of the original IPD, with the yardstick of that test (|Δ log HR| <
0.06: reconstruction error well under the SE of about 0.13, Guyot et al. 2012). The CI is checked
by hand algebra (log HR ± z·SE), and the printed row is pooled by ``trialsynth pool`` as a
generic HR row.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from tests.stats.test_km import _km_corners, _simulate
from trialsynth.cli.main import main
from trialsynth.stats import km

Z95 = 1.959963984540054


def _write(tmp_path, seed=3, names=("imaging", "usual"), percent=False):
    treated, control = _simulate(seed)
    curve_rows, risk_rows = [], []
    for name, arm in zip(names, (treated, control), strict=True):
        ts, ss = _km_corners(arm.time, arm.event)
        dt, ds = np.round(ts / (36 / 600)) * (36 / 600), np.round(ss * 500) / 500
        for t, s in zip(dt, ds, strict=True):
            curve_rows.append(f"{name},{float(t)!r},{float(s * 100 if percent else s)!r}")
        for x in np.arange(0.0, 37, 6.0):
            risk_rows.append(f"{name},{float(x)!r},{int(np.sum(arm.time >= x))}")
    curves, risk = tmp_path / "curves.csv", tmp_path / "risk.csv"
    column = "survival_percent" if percent else "survival"
    curves.write_text(f"arm,time,{column}\n" + "\n".join(curve_rows) + "\n", encoding="utf-8")
    risk.write_text("arm,time,n_risk\n" + "\n".join(risk_rows) + "\n", encoding="utf-8")
    return curves, risk, km.hazard_ratio_from_km(treated, control), (treated, control)


def _run(*args):
    return CliRunner().invoke(main, ["km", *map(str, args)])


@pytest.mark.parametrize("percent", [False, True])
def test_km_recovers_the_ipd_hazard_ratio(tmp_path, percent):
    curves, risk, truth, arms = _write(tmp_path, percent=percent)
    result = _run(curves, risk, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["treatment"]["arm"] == "imaging" and doc["control"]["arm"] == "usual"
    assert doc["treatment"]["n"] == arms[0].time.size and doc["control"]["n"] == arms[1].time.size
    assert abs(doc["treatment"]["events"] - int(arms[0].event.sum())) <= 3
    assert abs(doc["log_hr"] - truth.log_hr_cox) < 0.06
    assert doc["se"] == pytest.approx(truth.se_cox, rel=0.05)
    assert doc["ci_lower"] == pytest.approx(doc["log_hr"] - Z95 * doc["se"], rel=1e-12)
    assert doc["ci_upper"] == pytest.approx(doc["log_hr"] + Z95 * doc["se"], rel=1e-12)


def test_printed_row_pools_as_a_generic_hazard_ratio(tmp_path):
    curves, risk, _, _ = _write(tmp_path)
    text = _run(curves, risk, "--study", "Trial, 2020").output
    doc = json.loads(_run(curves, risk, "--json").output)
    assert f"HR (imaging vs usual) = {math.exp(doc['log_hr']):.3f}" in text
    row = text[text.index("study,log_estimate,se") :]
    (tmp_path / "pool.csv").write_text(row, encoding="utf-8")
    pooled = CliRunner().invoke(main, ["pool", str(tmp_path / "pool.csv"), "--measure", "HR", "--json"])
    assert pooled.exit_code == 0, pooled.output
    got = json.loads(pooled.stdout)
    assert got["studies"][0]["study"] == "Trial, 2020"
    assert got["estimate"] == pytest.approx(doc["log_hr"], rel=1e-12)


@pytest.mark.parametrize(
    ("edit", "args", "words"),
    [
        (
            lambda c, r: None,
            ("--treatment", "imaging", "--control", "nobody"),
            ("no arm 'nobody'", "curves.csv"),
        ),
        (lambda c, r: None, ("--treatment", "imaging"), ("both --treatment and --control",)),
        (
            lambda c, r: c.write_text(c.read_text() + "third,0,1\nthird,1,0.5\n"),
            (),
            ("3 arms", "--treatment"),
        ),
        (
            lambda c, r: c.write_text(c.read_text().replace("arm,time,survival", "arm,time,surv")),
            (),
            ("survival",),
        ),
        (
            lambda c, r: c.write_text(c.read_text().replace("\nusual,", "\nusual\x00,", 1)),
            (),
            ("control character",),
        ),
        (
            lambda c, r: r.write_text(r.read_text().replace("\nusual,0.0,", "\nusual,0.0,x")),
            (),
            ("risk.csv", "not a number"),
        ),
        (
            lambda c, r: r.write_text("arm,time,n_risk\nimaging,0,200\n"),
            (),
            ("no numbers at risk for arm 'usual'",),
        ),
        (
            lambda c, r: c.write_text(c.read_text().replace("\nimaging,0.0,1.0", "\nimaging,0.0,1e999")),
            (),
            ("too large",),
        ),
    ],
)
def test_bad_input_is_a_one_line_error(tmp_path, edit, args, words):
    curves, risk, _, _ = _write(tmp_path)
    edit(curves, risk)
    result = _run(curves, risk, *args)
    assert result.exit_code != 0
    message = result.output.strip()
    assert message.startswith("error:") and "\n" not in message and "Traceback" not in message, message
    for word in words:
        assert word in message, (word, message)
