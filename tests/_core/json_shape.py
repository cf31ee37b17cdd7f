"""Test helpers for JSON output: a strict RFC 8259 parser and the key shape of a document."""

from __future__ import annotations

import json
from typing import Any


def strict_loads(text: str):
    """json.loads that refuses NaN, Infinity and -Infinity (Python's parser accepts them)."""

    def refuse(constant: str):
        raise ValueError(f"not RFC 8259 JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def shape(doc: Any) -> Any:
    """Objects as {key: shape}, arrays as [union of their elements' shapes], scalars as ".".

    Numbers, strings, booleans and null all map to "." (a value may be null in one run and a
    number in another); an empty array is [].
    """
    if isinstance(doc, dict):
        return {k: shape(v) for k, v in doc.items()}
    if isinstance(doc, list):
        merged: Any = None
        for item in doc:
            merged = _union(merged, shape(item))
        return [] if merged is None else [merged]
    return "."


def _union(a: Any, b: Any) -> Any:
    if a is None or a == ".":
        return b if a is None or isinstance(b, dict | list) else a
    if b == ".":
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _union(out.get(k), v)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if not a:
            return b
        if not b:
            return a
        return [_union(a[0], b[0])]
    return b
