"""The one serializer: result objects → JSON-safe Python values, and the one JSON writer.

Every ``--json`` answer and ``results.json`` pass through :func:`to_jsonable` and are printed by
:func:`dumps_json`, so JSON output is valid RFC 8259 text everywhere: a non-finite float (NaN,
+∞, −∞) becomes ``null`` and ``json.dumps`` is called with ``allow_nan=False``, so a value that
slipped past :func:`to_jsonable` raises instead of writing ``NaN`` or ``Infinity``.

A frozen result dataclass says what its JSON object holds, declaratively:

* by default, every field in declaration order, under the field's name;
* a field's metadata renames or omits it: ``field(metadata=json_key("effect"))``,
  ``field(metadata=json_key(None))``;
* a class attribute ``__json_fields__`` lists the keys in order where the object is not its fields
  one to one. Each entry is ``"name"`` (the attribute, field or property, of that name),
  ``("key", "attribute")`` (a renamed attribute or a property computing a derived value) or
  ``"**attribute"`` (a mapping, or a dataclass's JSON keys, merged in at that point). An
  attribute whose value is :data:`OMIT` leaves its key out (a key present only under some
  options);
* a method ``__json__(self)`` is the last resort, for a result whose JSON is not an object.

Values are converted recursively: dataclasses as above, mappings and sequences (tuples, lists,
numpy arrays) element by element, numpy scalars to Python numbers (integers stay integers),
enums to their values and paths to POSIX strings, relative to ``base`` when one is given and the
path lies under it. Anything else raises ``TypeError`` (a miss is a bug, not an output).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from pathlib import PurePath

__all__ = ["OMIT", "JsonResult", "dumps_json", "json_key", "to_jsonable"]


class _Omit:
    """The value of an attribute whose key is left out of the JSON object."""

    _instance: _Omit | None = None

    def __new__(cls) -> _Omit:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OMIT"


#: Returned by a ``__json_fields__`` attribute to leave its key out.
OMIT = _Omit()


def json_key(key: str | None) -> dict[str, Any]:
    """Field metadata: the field's JSON key (``None`` leaves the field out)."""
    return {"json": key}


_NO_TYPES: tuple[type[Any], ...] = ()


def _numpy_types() -> tuple[tuple[type[Any], ...], ...]:
    """numpy's bool, integer, floating and ndarray types, or empty tuples while numpy is not
    imported (then no numpy value can exist): ``--help`` and small commands import no numpy."""
    np = sys.modules.get("numpy")
    if np is None:
        return _NO_TYPES, _NO_TYPES, _NO_TYPES, _NO_TYPES
    return (np.bool_,), (np.integer,), (np.floating,), (np.ndarray,)


def _number(value: Any) -> Any:
    """A real number as a JSON-safe Python value: non-finite → None, integer types → int."""
    np_bool, np_int, _, _ = _numpy_types()
    if isinstance(value, (bool, *np_bool)):
        return bool(value)
    if isinstance(value, (int, *np_int)):
        return int(cast(Any, value))
    f = float(value)
    return f if math.isfinite(f) else None


def _dataclass_items(obj: Any) -> list[tuple[str, Any]]:
    spec = getattr(type(obj), "__json_fields__", None)
    if spec is None:
        items = []
        for f in dataclasses.fields(obj):
            key = f.metadata.get("json", f.name)
            if key is not None:
                items.append((key, getattr(obj, f.name)))
        return items
    items = []
    for entry in spec:
        if isinstance(entry, tuple):
            key, attr = entry
            items.append((key, getattr(obj, attr)))
        elif entry.startswith("**"):
            merged = getattr(obj, entry[2:])
            items.extend(merged.items() if isinstance(merged, Mapping) else _dataclass_items(merged))
        else:
            items.append((entry, getattr(obj, entry)))
    return items


def to_jsonable(obj: Any, *, base: PurePath | str | None = None) -> Any:
    """``obj`` as JSON-safe Python values (dict, list, str, int, float, bool, None); see the module doc."""
    if obj is None or isinstance(obj, str):
        return obj
    np_bool, np_int, np_float, np_array = _numpy_types()
    if isinstance(obj, (bool, int, float, *np_bool, *np_int, *np_float)):
        return _number(obj)
    if isinstance(obj, Mapping):
        return {
            str(k): to_jsonable(v, base=base) for k, v in obj.items() if v is not OMIT
        }
    if isinstance(obj, list | tuple):
        return [to_jsonable(v, base=base) for v in obj]
    if isinstance(obj, np_array):
        return [to_jsonable(v, base=base) for v in obj.tolist()]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        hook = getattr(obj, "__json__", None)
        if hook is not None:
            return to_jsonable(hook(), base=base)
        return {k: to_jsonable(v, base=base) for k, v in _dataclass_items(obj) if v is not OMIT}
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value, base=base)
    pathlib = sys.modules.get("pathlib")  # not imported: no path can exist (as numpy above)
    if pathlib is not None and isinstance(obj, pathlib.PurePath):
        if base is not None:
            try:
                return obj.relative_to(base).as_posix()
            except ValueError:
                pass
        return obj.as_posix()
    raise TypeError(f"to_jsonable: no JSON form for {type(obj).__name__}")


def dumps_json(data: Any, *, indent: int | None = 2, base: PurePath | str | None = None) -> str:
    """RFC 8259 JSON text of ``data`` (through :func:`to_jsonable`; UTF-8 kept, never NaN/Infinity)."""
    import json  # here, not at the top: only the commands that write JSON need it

    return json.dumps(to_jsonable(data, base=base), indent=indent, ensure_ascii=False, allow_nan=False)


class JsonResult:
    """Mixin of result dataclasses: ``to_json_dict()`` is :func:`to_jsonable` of the object."""

    __slots__ = ()

    def to_json_dict(self) -> Any:
        """The object's documented JSON form (NaN and ±∞ as null), see ``trialsynth._core.serialize``."""
        return to_jsonable(self)
