"""results.json is RFC 8259 JSON even when a number is not finite (issue 15).

Reproducer built from the issue's description ("q_between NaN in subgroups"): the bundled BCG
review with Hartung–Knapp and the two alternately allocated trials given the same 2×2 table, so
that subgroup's Hartung–Knapp SE is 0 and Q_between = Σw(θ − θ̄)² with an infinite weight is NaN.
Before the one JSON writer, ``trialsynth run`` stopped with "ValueError: Out of range float values
are not JSON compliant: nan" and wrote no results.json.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests._core.json_shape import strict_loads
from trialsynth.report.review import run_review
from trialsynth.workflow.runner import EXAMPLES


def _alternate_identical(tmp_path: Path) -> Path:
    folder = tmp_path / "bcg-hk"
    shutil.copytree(EXAMPLES / "bcg", folder)
    with open(folder / "studies.csv", newline="", encoding="utf-8") as handle:
        alternate = {r["id"] for r in csv.DictReader(handle) if r["allocation"] == "alternate"}
    assert len(alternate) == 2  # Frimodt-Møller 1973 and Stein & Aronson 1953 in dat.bcg
    with open(folder / "outcomes.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    for row in rows:
        if row["study"] in alternate:
            row.update(events_treatment="10", n_treatment="100", events_control="20", n_control="100")
    with open(folder / "outcomes.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    toml = (folder / "review.toml").read_text(encoding="utf-8")
    assert 'method = "REML", hk = false' in toml
    toml = toml.replace('method = "REML", hk = false', 'method = "REML", hk = true')
    (folder / "review.toml").write_text(toml, encoding="utf-8")
    return folder


@pytest.mark.filterwarnings("ignore::trialsynth._core.errors.TrialsynthWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # so that main fails where it failed for users
def test_nan_q_between_is_null_in_results_json(tmp_path):
    out = tmp_path / "out"
    run_review(_alternate_identical(tmp_path), out)
    doc = strict_loads((out / "results.json").read_text(encoding="utf-8"))
    (outcome,) = doc["outcomes"]
    (sub,) = outcome["subgroups"]
    alternate = next(g for g in sub["groups"] if g["level"] == "alternate")
    # Two identical tables: RR = (10/100)/(20/100) = 0.5 exactly, Q = 0, Hartung–Knapp SE = 0.
    assert alternate["estimate"] == pytest.approx(0.5, rel=1e-12)
    assert alternate["ci_lower"] == pytest.approx(0.5, rel=1e-12)
    assert sub["q_between"] is None
    assert sub["q_between_p_value"] is None
    assert sub["q_between_df"] == 2
