"""Trials with identical effects: ``bias`` and ``influence`` give a result, never a traceback.

Found in review of issue 15: Kendall's τ_b divides by √((n₀ − n₁)(n₀ − n₂)), which is 0 when every
effect is the same (n₁ = n₀ tied pairs), and Hartung–Knapp scales the covariance of the pooled
estimate by q = 0, so Cook's distance would invert a zero matrix. In both cases the statistic is
not defined (R's ``cor.test`` gives NA): it is reported as null with a warning, and the rest of
the output stands.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from trialsynth.cli.main import main

ROWS = "study,estimate,se\nA,0.5,0.1\nB,0.5,0.2\nC,0.5,0.15\nD,0.5,0.3\n"


def _strict(text: str) -> dict:
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON (RFC 8259)")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("hk", [[], ["--hk"]])
def test_bias_on_identical_effects_reports_no_rank_correlation(tmp_path, hk):
    (tmp_path / "t.csv").write_text(ROWS, encoding="utf-8")
    result = CliRunner().invoke(main, ["bias", str(tmp_path / "t.csv"), "--measure", "MD", "--json", *hk])
    assert result.exit_code == 0, result.output
    doc = _strict(result.stdout)
    assert doc["estimate"] == pytest.approx(0.5, rel=1e-12)  # every trial's effect
    assert doc["begg"]["tau"] is None and doc["begg"]["p_value"] is None
    assert "rank correlation is not defined" in result.stderr


def test_influence_with_hartung_knapp_on_identical_effects(tmp_path):
    (tmp_path / "t.csv").write_text(ROWS, encoding="utf-8")
    args = ["influence", str(tmp_path / "t.csv"), "--measure", "MD", "--hk", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = _strict(result.stdout)
    assert "Traceback" not in result.output
    # Leaving a trial out of identical effects leaves the estimate at 0.5.
    assert [row["estimate"] for row in doc["leave_one_out"]] == pytest.approx([0.5] * 4, rel=1e-12)
    # Cook's distance needs the inverse of the (here zero) covariance: not defined.
    assert all(row["cooks_distance"] is None for row in doc["influence"])
