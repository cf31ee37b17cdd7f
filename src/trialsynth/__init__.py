"""trialsynth: systematic reviews and meta-analyses of randomized controlled trials.

>>> import trialsynth as ts
>>> table = {"study": ["A", "B", "C"], "events_treatment": [4, 6, 3], "n_treatment": [123, 306, 231],
...          "events_control": [11, 29, 11], "n_control": [139, 303, 220]}
>>> res = ts.meta_analysis(ts.effects(table, measure="RR"), method="REML")
>>> round(res.estimate, 4)
-1.3302

The names below are loaded on first use (PEP 562), so ``import trialsynth`` and the command
line stay fast: :func:`effects`, :func:`meta_analysis` (with its result's ``summary()``,
``forest()``, ``funnel()``, ``leave_one_out()``, ``cumulative()``, ``influence()``, ``bias()``),
:func:`tsa`, :func:`bayes`, :func:`fit_batch`, :func:`run_review`, :func:`network`,
:func:`multilevel` (:mod:`trialsynth.api`) and :mod:`derive` (:mod:`trialsynth.stats.derive`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trialsynth._core.errors import InputError, TrialsynthWarning

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    # trialsynth.api.effects is both a submodule and the function api re-exports under that name.
    from trialsynth.api import (  # type: ignore[no-redef]  # noqa: F401
        BiasAnalysis,
        EffectSizes,
        MetaAnalysis,
        MetaRegressionAnalysis,
        ReviewResult,
        bayes,
        effects,
        fit_batch,
        meta_analysis,
        multilevel,
        network,
        run_review,
        tsa,
    )
    from trialsynth.stats import derive

__version__ = "0.1.0"

#: Public names served lazily from trialsynth.api.
_API = (
    "BiasAnalysis",
    "EffectSizes",
    "MetaAnalysis",
    "MetaRegressionAnalysis",
    "ReviewResult",
    "bayes",
    "effects",
    "fit_batch",
    "meta_analysis",
    "multilevel",
    "network",
    "run_review",
    "tsa",
)

__all__ = ["InputError", "TrialsynthWarning", "__version__", "derive", *_API]


def __getattr__(name: str) -> Any:
    """The API names of :mod:`trialsynth.api` and ``derive``, imported on first use."""
    # By name (importlib), not an import statement: the package root sits above every layer.
    if name in _API:
        value = getattr(importlib.import_module("trialsynth.api"), name)
    elif name == "derive":
        value = importlib.import_module("trialsynth.stats.derive")
    else:
        raise AttributeError(f"module 'trialsynth' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
