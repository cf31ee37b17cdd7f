"""Rich display of result objects (Jupyter's ``_repr_html_``) without the numerics depending
on the presentation layer.

Results in ``_core`` and ``stats`` call :func:`html_for`; the presentation layer
(:mod:`trialsynth.report.notebook`) registers one renderer per result type with
:func:`register_html`. It is loaded on the first display, so a notebook needs no extra
import and importing the numerics stays free of matplotlib.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_RENDERERS: dict[str, Callable[[Any], str]] = {}

#: The module that registers the HTML renderers (imported by name: it sits above this layer).
PRESENTATION_MODULE = "trialsynth.report.notebook"


def register_html(type_name: str) -> Callable[[Callable[[Any], str]], Callable[[Any], str]]:
    """Decorator: ``fn(result) -> str`` renders results whose class is named ``type_name``."""

    def decorate(fn: Callable[[Any], str]) -> Callable[[Any], str]:
        _RENDERERS[type_name] = fn
        return fn

    return decorate


def html_for(result: object) -> str:
    """The HTML of ``result`` from the renderer registered for its class."""
    name = type(result).__name__
    if name not in _RENDERERS:
        importlib.import_module(PRESENTATION_MODULE)
    return _RENDERERS[name](result)
