"""``pool --measure PLO --method GLMM`` and ``meta_analysis(..., method="GLMM")`` on ``events, n`` rows:
the binomial–normal model of logit proportions against metafor's ``rma.glmm(measure = "PLO", xi, ni,
method = "EE"|"ML")``, pinned in tests/fixtures/glmm/cases.json by validation/glmm_fixtures.R
(tolerances of tests/stats/test_glmm.py: 1e-6 fixed effect; 2e-5 estimate and τ², 5e-5 SE for glmer's
random-effects fits)."""

from __future__ import annotations

import json
import warnings

import pytest

from tests.stats.test_glmm import EXACT, FLOORS, GLMER_FIT, GLMER_SE, PINNED
from trialsynth._core.errors import TrialsynthWarning


@pytest.mark.parametrize("name", sorted(PINNED["proportions"]))
@pytest.mark.parametrize("fixed", [False, True])
def test_cli_pool_plo_glmm_matches_metafor(tmp_path, name, fixed):
    from click.testing import CliRunner

    from trialsynth.cli.main import main

    data = PINNED["proportions"][name]
    rows = zip(data["xi"], data["ni"], strict=True)
    lines = ["study,events,n"] + [f"P{i + 1},{int(x)},{int(n)}" for i, (x, n) in enumerate(rows)]
    path = tmp_path / "props.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["pool", str(path), "--measure", "PLO", "--method", "GLMM", "--json"]
    result = CliRunner().invoke(main, [*args, "--fixed"] if fixed else args)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"JSON has {c}"))
    want = data["glmm"]["EE" if fixed else "ML"]
    assert got["method"] == "GLMM" and got["measure"] == "PLO" and got["k"] == want["k"]
    assert got["estimate"] == pytest.approx(want["estimate"], rel=EXACT if fixed else GLMER_FIT)
    assert got["se"] == pytest.approx(want["se"], rel=EXACT if fixed else GLMER_SE)
    assert got["glmm"]["qe_lrt"] == pytest.approx(want["qe_lrt"], rel=EXACT if fixed else GLMER_FIT)
    if not fixed:
        assert got["tau2"] == pytest.approx(want["tau2"], rel=GLMER_FIT, abs=FLOORS["tau2"])


def test_api_meta_analysis_plo_glmm_matches_metafor():
    import trialsynth as ts

    data = PINNED["proportions"]["rare"]
    table = {"study": [f"P{i}" for i in range(len(data["xi"]))], "events": data["xi"], "n": data["ni"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        res = ts.meta_analysis(ts.effects(table, measure="PLO"), method="GLMM")
    want = data["glmm"]["ML"]
    assert res.estimate == pytest.approx(want["estimate"], rel=GLMER_FIT)
    assert res.tau2 == pytest.approx(want["tau2"], rel=GLMER_FIT, abs=FLOORS["tau2"])
