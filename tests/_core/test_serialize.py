"""The one serializer (trialsynth._core.serialize): every rule written out by hand.

No numerics here: each expected value is the JSON a reader must get for a given Python value
(RFC 8259, section 6: no NaN or Infinity in JSON text).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests._core.json_shape import strict_loads
from trialsynth._core.serialize import OMIT, JsonResult, dumps_json, json_key, to_jsonable


def test_strict_loads_refuses_what_python_writes_for_non_finite_numbers():
    for text in ("NaN", "[Infinity]", '{"t": -Infinity}'):
        with pytest.raises(ValueError, match="not RFC 8259"):
            strict_loads(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (math.nan, None),
        (math.inf, None),
        (-math.inf, None),
        (np.float64("nan"), None),
        (np.float32("-inf"), None),
        (np.float64(0.25), 0.25),
        (np.int64(7), 7),
        (np.bool_(True), True),
        (True, True),
        (3, 3),
        (-0.0, -0.0),
        ("NaN", "NaN"),  # a string stays a string
        (None, None),
    ],
)
def test_scalars(value, expected):
    out = to_jsonable(value)
    assert out == expected or (out is None and expected is None)
    assert type(out) is type(expected)


def test_containers_numpy_arrays_enums_and_paths():
    class Side(enum.Enum):
        LEFT = "left"

    data = {
        "t": (1.5, math.inf, np.int32(2)),
        "a": np.array([[1.0, np.nan], [np.inf, 4.0]]),
        "side": Side.LEFT,
        1: "int key",
    }
    assert to_jsonable(data) == {
        "t": [1.5, None, 2],
        "a": [[1.0, None], [None, 4.0]],
        "side": "left",
        "1": "int key",
    }
    base = Path("/reviews/crt")
    assert to_jsonable(base / "figures" / "forest.png", base=base) == "figures/forest.png"
    assert to_jsonable(Path("/elsewhere/x.csv"), base=base) == "/elsewhere/x.csv"


def test_an_object_without_a_json_form_raises():
    with pytest.raises(TypeError, match="object"):
        to_jsonable({"x": object()})


@dataclass(frozen=True)
class _Plain(JsonResult):
    study: str
    yi: float = field(metadata=json_key("effect"))
    hidden: float = field(default=0.0, metadata=json_key(None))


@dataclass(frozen=True)
class _Declared(JsonResult):
    measure: str
    rows: tuple[_Plain, ...]
    extra: dict = field(default_factory=dict)
    optional: float | None = None

    __json_fields__ = ("measure", "scale", ("studies", "rows"), ("optional", "_optional"), "**extra")

    @property
    def scale(self) -> str:
        return "log" if self.measure == "OR" else "identity"

    @property
    def _optional(self):
        return OMIT if self.optional is None else self.optional


def test_dataclass_fields_metadata_renames_and_omits():
    assert _Plain("A", math.inf, 3.0).to_json_dict() == {"study": "A", "effect": None}


def test_declared_fields_keep_their_order_merge_extra_and_leave_out_omitted_keys():
    obj = _Declared("OR", (_Plain("A", -0.5),), extra={"q_between": math.nan, "k": 1})
    out = obj.to_json_dict()
    assert list(out) == ["measure", "scale", "studies", "q_between", "k"]
    assert out == {
        "measure": "OR",
        "scale": "log",
        "studies": [{"study": "A", "effect": -0.5}],
        "q_between": None,
        "k": 1,
    }
    assert _Declared("MD", (), optional=2.0).to_json_dict()["optional"] == 2.0


def test_dumps_json_is_rfc8259_and_keeps_unicode():
    text = dumps_json({"t": -math.inf, "p": math.nan, "label": "Müller τ²", "x": [1.0, math.inf]})
    assert strict_loads(text) == {"t": None, "p": None, "label": "Müller τ²", "x": [1.0, None]}
    assert "Müller τ²" in text  # ensure_ascii=False
    assert dumps_json({"a": 1}, indent=None) == '{"a": 1}'
