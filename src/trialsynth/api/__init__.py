"""The Python API: ``import trialsynth as ts`` and pool a table of trials in three lines.

>>> import trialsynth as ts
>>> table = {"study": ["A", "B", "C"], "events_treatment": [4, 6, 3], "n_treatment": [123, 306, 231],
...          "events_control": [11, 29, 11], "n_control": [139, 303, 220]}
>>> es = ts.effects(table, measure="RR")
>>> res = ts.meta_analysis(es, method="REML")

A random-effects (REML) pool of the risk ratios of the first three BCG trials (Colditz et al.
1994); metafor's ``rma(yi, vi, method="REML")`` on ``escalc("RR", ...)`` gives −1.3302 (−1.9317 to
−0.7288) on the log scale:

>>> round(res.estimate, 4), [round(x, 4) for x in res.ci]
(-1.3302, [-1.9317, -0.7288])

This package sits above ``workflow``, ``report`` and ``plots`` (it calls them); the numerics are
those of :mod:`trialsynth.stats`, the same as the command line's.
"""

from trialsynth.api.analyses import ReviewResult, bayes, fit_batch, multilevel, network, run_review, tsa
from trialsynth.api.effects import ARGUMENTS, EffectSizes, effects
from trialsynth.api.model import (
    BiasAnalysis,
    MetaAnalysis,
    MetaRegressionAnalysis,
    meta_analysis,
    parse_formula,
)

__all__ = [
    "ARGUMENTS",
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
    "parse_formula",
    "run_review",
    "tsa",
]
