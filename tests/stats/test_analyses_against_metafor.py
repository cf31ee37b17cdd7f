"""Subgroups, meta-regression, influence and small-study-effect analyses against metafor 3.8.

tests/fixtures/metafor_analyses/ is written by validation/metafor_fixtures_analyses.R (run as
``make fixtures``): public metadat datasets, the exact R call of each case (``r_call``) and
metafor's values. Each case runs our command line (``pool --subgroup``/``--moderators``,
``influence``, ``bias``) in-process with the case's options and compares every value metafor
gave, recursively, with the tolerances of tests/test_against_metafor.py. A live test re-runs
the R script when Rscript (with metafor, metadat and numDeriv) is available.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.rlive import run_r_script
from tests.stats.test_against_metafor import ABS_TOL, REL_TOL
from trialsynth.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "metafor_analyses"
CASES = json.loads((FIXTURES / "cases.json").read_text())["cases"]
SCRIPT = ROOT / "validation" / "metafor_fixtures_analyses.R"


def _command(case) -> list[str]:
    kind = case["kind"]
    command = {"subgroup": "pool", "regression": "pool", "influence": "influence", "bias": "bias"}[kind]
    args = [command, str(FIXTURES / case["input"]), "--measure", case["measure"], "--method", case["method"]]
    if case["hk"]:
        args.append("--hk")
    for key, value in (case.get("options") or {}).items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return [*args, "--json"]


def _compare(got, expected, path: str, problems: list[str]) -> None:
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            problems.append(f"{path}: expected an object, got {got!r}")
            return
        for key, value in expected.items():
            if key not in got:
                problems.append(f"{path}.{key}: missing")
                continue
            _compare(got[key], value, f"{path}.{key}", problems)
    elif isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            problems.append(f"{path}: expected {len(expected)} items, got {got!r:.80}")
            return
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            _compare(g, e, f"{path}[{i}]", problems)
    elif expected is None or isinstance(expected, bool | str):
        if got != expected:
            problems.append(f"{path}: got {got!r}, metafor gives {expected!r}")
    elif got is None or not math.isclose(got, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL):
        problems.append(f"{path}: got {got!r}, metafor gives {expected!r}")


#: Cases that do not agree yet, with what was seen. Strict xfail: a case that starts to agree
#: fails the suite until it is taken off this list.
KNOWN_DIFFERENCES: dict[str, str] = {}


def _param(case):
    reason = KNOWN_DIFFERENCES.get(case["id"])
    marks = (
        [pytest.mark.xfail(reason=f"known difference from metafor: {reason}", strict=True)] if reason else []
    )
    return pytest.param(case, id=case["id"], marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_analysis_matches_metafor(case):
    result = CliRunner().invoke(main, _command(case))
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    problems: list[str] = []
    _compare(got, case["expected"], case["kind"], problems)
    assert not problems, f"{case['id']} ({case['citation']}):\n  " + "\n  ".join(problems[:15])


def rerun_fixture_script(script: Path, cases: list, tmp_path: Path) -> None:
    """Re-run a fixture script with R and check that it gives the pinned cases again."""
    run_r_script(script, tmp_path)
    fresh = json.loads((tmp_path / "cases.json").read_text())["cases"]
    assert [c["id"] for c in fresh] == [c["id"] for c in cases]
    for new, old in zip(fresh, cases, strict=True):
        problems: list[str] = []
        _compare(new["expected"], old["expected"], new["id"], problems)
        assert not problems, problems[:10]


def test_live_analyses_fixtures_against_R(tmp_path):
    rerun_fixture_script(SCRIPT, CASES, tmp_path)
