"""Every ``--json`` answer is RFC 8259 JSON (no NaN/Infinity) and keeps its documented keys.

The key shapes are pinned in tests/fixtures/json_keys/cli_json_keys.json, captured from the
hand-written serializers before they were replaced by the one serializer
(trialsynth._core.serialize): a key that disappears or moves under another object fails here.
The non-finite reproducers are built from issue 15's description ("Hartung–Knapp on identical
tables or identical effects (t = −inf), q_between NaN in subgroups"); before the fix the first
crashed with "ValueError: Out of range float values are not JSON compliant: -inf".
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._core.json_shape import shape, strict_loads
from trialsynth.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
PINNED = json.loads((ROOT / "tests/fixtures/json_keys/cli_json_keys.json").read_text(encoding="utf-8"))


def _invoke(args: list[str]) -> str:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _missing(pinned, got, path="") -> list[str]:
    """Key paths of ``pinned`` absent from ``got`` (keys may be added, never lost)."""
    if isinstance(pinned, dict):
        if not isinstance(got, dict):
            return [path or "/"]
        return [m for k, v in pinned.items() for m in (
            [f"{path}/{k}"] if k not in got else _missing(v, got[k], f"{path}/{k}")
        )]  # fmt: skip
    if isinstance(pinned, list) and pinned:
        if not isinstance(got, list) or not got:
            return [path + "[]"]
        return _missing(pinned[0], got[0], path + "[]")
    return []


@pytest.mark.parametrize("command", sorted(PINNED["commands"]))
def test_json_answer_is_strict_json_with_every_pinned_key(command):
    args = [str(ROOT / a) if a.startswith("tests/") else a for a in command.split()]
    doc = strict_loads(_invoke(args))
    assert _missing(PINNED["commands"][command], shape(doc)) == []


@pytest.fixture
def identical_effects(tmp_path) -> Path:
    """Three trials with the same log odds ratio: Q = 0, the Hartung–Knapp SE is 0."""
    path = tmp_path / "identical.csv"
    path.write_text("study,log_estimate,se,grp\nA,-0.5,0.2,x\nB,-0.5,0.3,x\nC,-0.5,0.25,y\nD,-0.5,0.2,y\n")
    return path


def test_hartung_knapp_on_identical_effects_writes_null_for_infinite_t(identical_effects):
    # Hand algebra: every yi = −0.5, so Q = 0, τ² = 0 and the Hartung–Knapp SE
    # √(Σwᵢ(yᵢ − μ̂)²/((k − 1)Σwᵢ)) = 0; t = −0.5/0 = −∞, which JSON cannot hold: null.
    args = ["pool", str(identical_effects), "--measure", "OR", "--method", "REML", "--hk", "--json"]
    doc = strict_loads(_invoke(args))
    assert doc["estimate"] == pytest.approx(-0.5, abs=1e-12)
    assert doc["se"] == 0.0
    assert doc["statistic"] is None
    assert doc["q"] == pytest.approx(0.0, abs=1e-20)


def test_subgroups_with_a_nan_q_between_write_null(identical_effects):
    # Within each subgroup the effects are identical, so each subgroup's Hartung–Knapp SE is 0,
    # the weights 1/SE² are infinite and Q_between = Σw(θ − θ̄)² is inf·0 = NaN: null in JSON.
    args = ["pool", str(identical_effects), "--measure", "OR", "--method", "DL", "--hk"]
    doc = strict_loads(_invoke([*args, "--subgroup", "grp", "--json"]))
    assert [g["se"] for g in doc["subgroups"]] == [0.0, 0.0]
    assert doc["q_between"] is None
    assert doc["q_between_p_value"] is None
    assert math.isfinite(doc["q_between_df"])
