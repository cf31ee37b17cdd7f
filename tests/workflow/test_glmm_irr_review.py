"""A review folder outcome with measure IRR pooled by ``method = "GLMM"`` (events and person-time),
against metafor's rma.glmm(measure = "IRR") as pinned by validation/glmm_irr_fixtures.R
(tests/fixtures/glmm/irr_cases.json; tolerances of tests/stats/test_glmm_irr.py)."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import pytest

from tests.stats.test_glmm_irr import ABS_FLOOR, CASES, PINNED
from tests.stats.test_glmm_irr import _tolerance as irr_tolerance
from trialsynth._core.errors import TrialsynthWarning
from trialsynth.workflow.runner import analyse_review

ROOT = Path(__file__).resolve().parents[2]
CATHETER = ROOT / "examples" / "catheter-infections"


def _irr_folder(tmp_path: Path) -> Path:
    """The catheter example turned into a rate outcome: dat.nielweise2008's nine trials (events per
    catheter-day) under the first nine study ids, primary model GLMM CM.EL, sensitivity UM.FS fixed."""
    folder = tmp_path / "irr-review"
    shutil.copytree(CATHETER, folder)
    toml = (folder / "review.toml").read_text(encoding="utf-8")
    toml = toml.replace('data_type = "binary"', 'data_type = "generic"').replace(
        'measure = "OR"', 'measure = "IRR"'
    )
    toml = re.sub(
        r"^model = .*?^sensitivity = \[.*?^\]\n",
        'model = { method = "GLMM", glmm = "CM.EL", assumption = "Conditional binomial-normal model." }\n'
        'sensitivity = [ { method = "GLMM", glmm = "UM.FS", fixed = true, assumption = "Poisson FE." } ]\n',
        toml,
        flags=re.S | re.M,
    )
    (folder / "review.toml").write_text(toml, encoding="utf-8")
    ids = [
        line.split(",")[1]
        for line in (CATHETER / "outcomes.csv").read_text(encoding="utf-8").splitlines()[1:]
    ]
    d = PINNED["datasets"]["nielweise2008"]
    lines = [
        "outcome,study,use,events_treatment,person_time_treatment,events_control,person_time_control,"
        "kind,source,note"
    ]
    rows = zip(ids, d["x1i"], d["t1i"], d["x2i"], d["t2i"], strict=False)
    lines += [
        f"crbsi,{sid},yes,{int(a)},{t1:g},{int(c)},{t2:g},quoted,metadat::dat.nielweise2008,"
        for sid, a, t1, c, t2 in rows
    ]
    lines += [
        f"crbsi,{sid},no,,,,,quoted,metadat::dat.nielweise2008,not in the rate data set" for sid in ids[9:]
    ]
    (folder / "outcomes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_review_folder_irr_glmm_matches_metafor(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        (oa,) = analyse_review(_irr_folder(tmp_path)).outcomes
    primary = oa.primary
    case = next(c for c in CASES if c["id"] == "nielweise2008_CM.EL_ML")
    want = case["expected"]
    assert primary.method == "GLMM" and primary.measure == "IRR" and primary.k == want["k"] == 9
    assert primary.estimate == pytest.approx(want["estimate"], rel=irr_tolerance(case, "estimate"))
    assert primary.se == pytest.approx(want["se"], rel=irr_tolerance(case, "se"))
    assert primary.tau2 == pytest.approx(want["tau2"], rel=irr_tolerance(case, "tau2"), abs=ABS_FLOOR)
    ((spec, sens),) = oa.sensitivity
    case = next(c for c in CASES if c["id"] == "nielweise2008_UM.FS_EE")
    assert (spec.glmm, spec.fixed) == ("UM.FS", True)
    assert sens.estimate == pytest.approx(case["expected"]["estimate"], rel=irr_tolerance(case, "estimate"))
    assert sens.se == pytest.approx(case["expected"]["se"], rel=irr_tolerance(case, "se"))
    assert "Poisson" in json.dumps(list(sens.notes))


def test_report_shows_rate_rows(tmp_path):
    """The report's data column for events and person-time (it had no case for rate rows)."""
    from trialsynth.report.html import _data_text

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        (oa,) = analyse_review(_irr_folder(tmp_path)).outcomes
    # dat.nielweise2008 trial 1: 7 infections in 1344 catheter-days vs 11 in 1988
    assert _data_text(oa.data, 0) == "7 events / 1344 person-time vs 11 / 1988"
