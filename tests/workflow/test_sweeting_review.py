"""A review folder model with ``to = "sweeting"``: the treatment-arm continuity correction
(Sweeting, Sutton & Lambert, Stat Med 2004;23:1351–75) in the catheter example, by hand algebra."""

from __future__ import annotations

import math
import shutil
import warnings
from pathlib import Path

import pytest

from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.workflow.runner import analyse_review

ROOT = Path(__file__).resolve().parents[2]
CATHETER = ROOT / "examples" / "catheter-infections"
PRIMARY = 'model = { method = "REML", '


def _folder(tmp_path: Path, new: str) -> Path:
    folder = tmp_path / "catheter"
    shutil.copytree(CATHETER, folder)
    toml = (folder / "review.toml").read_text(encoding="utf-8")
    assert toml.count(PRIMARY) == 1
    (folder / "review.toml").write_text(toml.replace(PRIMARY, new), encoding="utf-8")
    return folder


def test_primary_model_with_treatment_arm_correction(tmp_path):
    folder = _folder(tmp_path, 'model = { method = "REML", to = "sweeting", ')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrialsynthWarning)
        (oa,) = analyse_review(folder).outcomes
    row = next(r for r in oa.primary.studies if r.study == "corral2003")
    # Corral 2003: 0/70 vs 1/58, k_T = 70/128, k_C = 58/128 (they sum to 1).
    kt, kc = 70 / 128, 58 / 128
    a, b, c, d = kt, 70 + kt, 1 + kc, 57 + kc
    assert row.yi == pytest.approx(math.log(a * d / (b * c)), rel=1e-12)
    assert row.vi == pytest.approx(1 / a + 1 / b + 1 / c + 1 / d, rel=1e-12)
    assert row.note == "treatment-arm correction: 0.5469 added to treatment cells, 0.4531 to control cells"
    assert any("Sweeting" in c for c in oa.primary.corrections)
    # The runner collects the per-study warnings into the outcome's messages.
    said = [str(w.message) for w in caught] + list(oa.messages)
    assert any("study 'corral2003': treatment-arm" in m for m in said)


def test_sweeting_is_refused_for_a_risk_difference(tmp_path):
    folder = _folder(tmp_path, 'model = { method = "REML", to = "sweeting", ')
    toml = (folder / "review.toml").read_text(encoding="utf-8")
    start = toml.index("sensitivity = [")
    end = toml.index("]\n", start) + 2
    toml = toml[:start] + toml[end:]
    toml = toml.replace('measure = "OR"', 'measure = "RD"')
    (folder / "review.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(InputError, match="treatment-arm continuity correction"):
        analyse_review(folder)
