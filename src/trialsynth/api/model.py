"""``ts.meta_analysis`` and the objects it returns: one fit that carries everything its
summaries, plots and follow-up analyses (leave-one-out, cumulative, influence, bias) need."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from trialsynth._core.errors import InputError
from trialsynth._core.results import MetaResult
from trialsynth._core.serialize import to_jsonable
from trialsynth.api.effects import EffectSizes

__all__ = ["BiasAnalysis", "MetaAnalysis", "MetaRegressionAnalysis", "meta_analysis", "parse_formula"]

_SUMMARY_COLUMNS = ("k", "estimate", "se", "statistic", "p_value", "ci_lower", "ci_upper")


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)


def _frame(rows: list[dict[str, Any]], index: str | None = None):
    import pandas as pd

    frame = pd.DataFrame(rows)
    return frame.set_index(index) if index else frame


def _fit_row(study: str, r: MetaResult) -> dict[str, Any]:
    """One fit of a sequence (leave-one-out, cumulative) as a row: analysis scale, full precision."""
    from trialsynth.stats.influence import _loo_entry

    return _loo_entry(study, r)


@dataclass(frozen=True, eq=False)
class BiasAnalysis:
    """Small-study effects and publication bias (``trialsynth bias``): Egger's regression test
    (``egger``: mixed-effects, as metafor's regtest; ``egger_lm``: the classic weighted
    regression), Begg's rank correlation (``begg``), trim and fill (``trimfill``), fail-safe N
    (``failsafe``), Peters' and Harbord's tests where the data allow, and a step-function
    selection model (``selmodel``). Each is a dict of full-precision values (analysis scale),
    None where it does not apply."""

    results: Mapping[str, Any]
    text: str

    def __getattr__(self, name: str) -> Any:
        results = self.__dict__.get("results", {})
        if name in results:
            return results[name]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        """Every analysis, JSON-ready (the ``trialsynth bias --json`` object)."""
        return dict(self.results)

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text."""
        return _json(self.to_dict())

    def summary(self):
        """A DataFrame of the tests: ``test``, ``statistic``, ``p_value`` (index ``test``)."""
        rows = []
        for key, stat in (
            ("egger", "statistic"),
            ("egger_lm", "statistic"),
            ("begg", "tau"),
            ("peters", "statistic"),
            ("harbord", "statistic"),
        ):
            entry = self.results.get(key)
            if entry:
                rows.append({"test": key, "statistic": entry.get(stat), "p_value": entry.get("p_value")})
        return _frame(rows, "test")

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True, eq=False)
class MetaAnalysis:
    """A fitted meta-analysis (:func:`trialsynth.meta_analysis`).

    ``estimate``, ``se``, ``ci``, ``pi`` are on the analysis scale (log for ratio measures),
    as ``trialsynth pool --json``; ``i2`` is in percent. ``result`` is the full
    :class:`trialsynth._core.results.MetaResult` (per-study rows, weights, Q, convergence);
    ``subgroups`` the subgroup analysis when the fit was made with ``subgroup=``.
    """

    result: MetaResult
    effects: EffectSizes
    options: Mapping[str, Any] = field(default_factory=dict)
    subgroups: Any = None

    # -- the numbers ---------------------------------------------------------------
    @property
    def estimate(self) -> float:
        """The pooled effect (analysis scale)."""
        return self.result.estimate

    @property
    def se(self) -> float:
        """Its standard error."""
        return self.result.se

    @property
    def ci(self) -> tuple[float, float]:
        """The confidence interval (lower, upper) at ``level``."""
        return (self.result.ci_lower, self.result.ci_upper)

    @property
    def p_value(self) -> float:
        """Two-sided p-value of the test for the overall effect."""
        return self.result.p_value

    @property
    def tau2(self) -> float:
        """τ² (NaN for fixed-effect, Mantel–Haenszel and Peto fits)."""
        return self.result.tau2

    @property
    def tau(self) -> float:
        """τ."""
        return self.result.tau

    @property
    def i2(self) -> float:
        """I² in percent."""
        return self.result.i2

    @property
    def q(self) -> float:
        """Cochran's Q."""
        return self.result.q

    @property
    def pi(self) -> tuple[float, float]:
        """The prediction interval (lower, upper); NaN for fixed-effect models."""
        return (self.result.pi_lower, self.result.pi_upper)

    @property
    def k(self) -> int:
        """Number of studies pooled."""
        return self.result.k

    @property
    def measure(self) -> str:
        return self.result.measure

    @property
    def method(self) -> str:
        return self.result.method

    # -- tables and serialisation --------------------------------------------------
    def summary(self):
        """A DataFrame of the pooled estimate(s), full precision, analysis scale.

        Columns ``k``, ``estimate``, ``se``, ``statistic``, ``p_value``, ``ci_lower``, ``ci_upper``,
        ``pi_lower``, ``pi_upper``, ``tau2``, ``i2``, ``q``, ``q_p_value``; one row ``pooled``,
        preceded by one row per subgroup for a subgroup analysis.
        """
        r = self.result
        rows = []
        if self.subgroups is not None:
            for g in self.subgroups.groups:
                rows.append(
                    {
                        "name": g.name,
                        "k": g.k,
                        "estimate": g.estimate,
                        "se": g.se,
                        "statistic": g.estimate / g.se if g.se else math.nan,
                        "p_value": g.p_value,
                        "ci_lower": g.ci_lower,
                        "ci_upper": g.ci_upper,
                        "tau2": g.tau2,
                    }
                )
        rows.append(
            {
                "name": "pooled",
                **{c: getattr(r, c) for c in _SUMMARY_COLUMNS},
                "pi_lower": r.pi_lower,
                "pi_upper": r.pi_upper,
                "tau2": r.tau2,
                "i2": r.i2,
                "q": r.q,
                "q_p_value": r.q_p_value,
            }
        )
        return _frame(rows, "name")

    def to_frame(self):
        """The per-study rows as a DataFrame: ``study``, ``yi``, ``vi``, ``weight`` (percent),
        ``ci_lower``, ``ci_upper``, ``included``, ``note``."""
        return _frame(
            [
                {
                    "study": s.study,
                    "yi": s.yi,
                    "vi": s.vi,
                    "weight": s.weight,
                    "ci_lower": s.ci_lower,
                    "ci_upper": s.ci_upper,
                    "included": s.included,
                    "note": s.note,
                }
                for s in self.result.studies
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``trialsynth pool --json`` object (with the subgroup keys of ``pool --subgroup``)."""
        out = self.result.to_json_dict()
        if self.subgroups is not None:
            out.update(self.subgroups.to_json_dict())
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text (NaN as null)."""
        return _json(self.to_dict())

    def __repr__(self) -> str:
        from trialsynth.report.text import result_table

        text = result_table(self.result)
        if self.subgroups is not None:
            from trialsynth.stats.analyses import format_subgroups

            text += "\n\n" + format_subgroups(self.subgroups)
        return text

    def _repr_html_(self) -> str:
        return self.result._repr_html_()

    # -- plots ---------------------------------------------------------------------
    def forest(self, **options: Any):
        """The forest plot (a :class:`matplotlib.figure.Figure`); options as
        :func:`trialsynth.plots.forest_plot`. With subgroups, one block per subgroup."""
        from trialsynth.plots import forest_plot

        if self.subgroups is not None and "subgroups" not in options:
            sub = self.subgroups
            groups = [(g.name, g.result) for g in sub.groups if g.result is not None]
            if len(groups) == len(sub.groups):
                test = {"q": sub.q_between, "df": sub.q_between_df, "p": sub.q_between_p_value}
                options = {"subgroups": groups, "subgroup_test": test, **options}
        return forest_plot(self.result, **options)

    def funnel(self, **options: Any):
        """The funnel plot (a :class:`matplotlib.figure.Figure`); options as
        :func:`trialsynth.plots.funnel_plot` (``trimfill=True`` adds the filled-in studies)."""
        from trialsynth.plots import funnel_plot

        if options.get("trimfill") is True:
            options["trimfill"] = self._trimfill_points()
        return funnel_plot(self.result, **options)

    def _trimfill_points(self):
        from trialsynth.stats.bias import trim_and_fill

        yi, vi = self._included()
        m = self._iv_method()
        tf = trim_and_fill(
            yi, vi, method=m, hk=self._hk(), hk_variant=self._hk_variant(), level=self._level()
        )
        return {"yi": tf.filled_yi, "vi": tf.filled_vi}

    # -- follow-up analyses ------------------------------------------------------------
    def _pool_options(self) -> dict[str, Any]:
        return {**self.effects.options, **self.options}

    def _included(self) -> tuple[np.ndarray, np.ndarray]:
        inc = [s for s in self.result.studies if s.included]
        return np.array([s.yi for s in inc]), np.array([s.vi for s in inc])

    def _iv_method(self) -> str:
        return "FE" if self.method in ("MH", "PETO", "GLMM") else self.method

    def _hk(self) -> bool:
        return self.result.test == "t"

    def _hk_variant(self) -> str:
        return self.result.hk_variant or "knha"

    def _level(self) -> float:
        return self.result.level / 100.0

    def _check_iv(self, what: str) -> None:
        if self.method in ("MH", "PETO", "GLMM"):
            raise InputError(
                f"{what} needs an inverse-variance model (FE or a τ² estimator), not {self.method}"
            )

    def leave_one_out(self):
        """Leave-one-out fits (metafor's ``leave1out``): a DataFrame with one row per study left
        out, indexed by ``study``: ``k``, ``estimate``, ``se``, ``statistic``, ``p_value``,
        ``ci_lower``, ``ci_upper``, ``tau2``, ``i2``, ``h2``, ``q``, ``q_p_value``."""
        from trialsynth.stats.analyses import leave_one_out

        if len(self.effects) < 2:
            raise InputError("leave-one-out needs at least two studies")
        pooled = {s.study for s in self.result.studies if s.included}
        fits = leave_one_out(self.effects.data, **self._pool_options())
        return _frame([_fit_row(s, r) for s, r in fits if r is not None and s in pooled], "study")

    def cumulative(self, by: str | None = None, *, descending: bool = False):
        """Cumulative meta-analysis (metafor's ``cumul``): studies added in table order, or in the
        order of column ``by`` (numbers numerically, text in R's order). A DataFrame indexed by
        the study added at each step; columns as :meth:`leave_one_out`."""
        from trialsynth.stats.analyses import cumulative_by

        steps = cumulative_by(self.effects.data, by, descending=descending, **self._pool_options())
        return _frame([_fit_row(s, r) for s, r in steps], "study")

    def influence(self):
        """Influence diagnostics (metafor's ``influence``): a DataFrame indexed by ``study`` with
        the externally standardised residual, DFFITS, Cook's distance, covariance ratio, τ² and
        Q without the study, hat value, weight and the ``influential`` flag."""
        from trialsynth.stats.influence import influence_diagnostics

        self._check_iv("influence diagnostics")
        yi, vi = self._included()
        labels = [s.study for s in self.result.studies if s.included]
        diags = influence_diagnostics(
            yi,
            vi,
            labels=labels,
            method=self.method,
            hk=self._hk(),
            hk_variant=self._hk_variant(),
            level=self._level(),
        )
        return _frame([d.to_json_dict() for d in diags], "study")

    def bias(
        self,
        *,
        trimfill_estimator: str = "L0",
        side: str | None = None,
        orwin_target: float | None = None,
        fsn_alpha: float = 0.05,
        steps: Sequence[float] | str = (0.025,),
    ) -> BiasAnalysis:
        """Small-study effects and publication bias (Egger, Begg, trim and fill, fail-safe N,
        Peters, Harbord, selection model), as ``trialsynth bias``; see :class:`BiasAnalysis`."""
        from trialsynth.workflow.pool_files import bias_input

        options = {k: v for k, v in self._pool_options().items() if k not in ("glmm", "fixed")}
        out, text = bias_input(
            self.effects.data,
            trimfill_estimator=trimfill_estimator,
            side=side,
            orwin_target=orwin_target,
            fsn_alpha=fsn_alpha,
            steps=steps,
            **options,
        )
        return BiasAnalysis(out, text)


@dataclass(frozen=True, eq=False)
class MetaRegressionAnalysis:
    """A fitted meta-regression (:func:`trialsynth.meta_analysis` with ``moderators``).

    ``estimate``, ``se`` and ``ci`` hold one value per coefficient (intercept first, analysis
    scale); ``tau2`` and ``i2`` are the residual ones; ``r2`` the share of τ² explained (percent).
    ``regression`` is the full :class:`trialsynth.stats.regression.MetaRegression`, ``pooled``
    the intercept-only fit of the same studies.
    """

    regression: Any
    pooled: MetaResult
    effects: EffectSizes
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """Coefficient names (``intrcpt`` first, as metafor)."""
        return tuple(c.name for c in self.regression.coefficients)

    @property
    def estimate(self) -> np.ndarray:
        return np.array([c.estimate for c in self.regression.coefficients])

    @property
    def se(self) -> np.ndarray:
        return np.array([c.se for c in self.regression.coefficients])

    @property
    def ci(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.array([c.ci_lower for c in self.regression.coefficients]),
            np.array([c.ci_upper for c in self.regression.coefficients]),
        )

    @property
    def tau2(self) -> float:
        return self.regression.tau2

    @property
    def i2(self) -> float:
        return self.regression.i2

    @property
    def r2(self) -> float:
        return self.regression.r2

    @property
    def k(self) -> int:
        return self.regression.k

    def summary(self):
        """A DataFrame with one row per coefficient (index ``name``): ``estimate``, ``se``,
        ``statistic``, ``p_value``, ``ci_lower``, ``ci_upper``."""
        return _frame(
            [
                {
                    "name": c.name,
                    "estimate": c.estimate,
                    "se": c.se,
                    "statistic": c.statistic,
                    "p_value": c.p_value,
                    "ci_lower": c.ci_lower,
                    "ci_upper": c.ci_upper,
                }
                for c in self.regression.coefficients
            ],
            "name",
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``trialsynth pool --moderators --json`` keys (analysis scale)."""
        out = self.regression.to_json_dict()
        out["k"] = self.regression.k
        return to_jsonable(out)

    def to_json(self) -> str:
        return _json(self.to_dict())

    def __repr__(self) -> str:
        return self.regression.format_text()

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def influence(self):
        """Influence diagnostics of the meta-regression (metafor's ``influence``), as
        :meth:`MetaAnalysis.influence`."""
        from trialsynth.stats.influence import influence_diagnostics
        from trialsynth.stats.regression import design_matrix

        data = self.effects.data
        usable = np.array([s.included for s in self.pooled.studies], dtype=bool)
        design = design_matrix(
            data.extra_columns,
            list(self.options["moderators"]),
            source=data.source,
            usable=usable,
            labels=data.labels,
        )
        rows = list(design.rows)
        yi = np.array([self.pooled.studies[i].yi for i in rows])
        vi = np.array([self.pooled.studies[i].vi for i in rows])
        diags = influence_diagnostics(
            yi,
            vi,
            design.X,
            labels=[data.labels[i] for i in rows],
            method=self.regression.method,
            hk=self.regression.hk,
            hk_variant=self.regression.hk_variant or "knha",
            level=self.regression.level,
        )
        return _frame([d.to_json_dict() for d in diags], "study")


_FORMULA_TERM = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


def parse_formula(formula: str) -> list[str]:
    """The moderator columns of a formula such as ``"~ ablat + year"`` (R's ``mods = ~ ...``).

    Only sums of column names are understood; a column that is not all numbers is treated as
    categorical (as ``factor()``).

    >>> parse_formula("~ ablat + factor(alloc)")
    ['ablat', 'alloc']
    """
    text = formula.strip()
    if not text.startswith("~"):
        raise InputError(f"a moderator formula starts with '~' (e.g. '~ ablat + year'), not '{formula}'")
    terms = []
    for raw in text[1:].split("+"):
        term = raw.strip()
        inner = re.fullmatch(r"factor\((.*)\)", term)
        term = inner.group(1).strip() if inner else term
        if not _FORMULA_TERM.match(term):
            raise InputError(
                f"cannot read the moderator term '{raw.strip()}' in '{formula}': "
                "give column names joined by +"
            )
        terms.append(term)
    return terms


def meta_analysis(
    effects: EffectSizes,
    *,
    method: str = "REML",
    hk: bool = False,
    hk_variant: str = "knha",
    level: float = 95.0,
    pi_type: str = "default",
    subgroup: str | None = None,
    subgroup_tau2: str = "separate",
    moderators: Sequence[str] | str | None = None,
    permutations: int | None = None,
    seed: int | None = None,
    glmm: str = "UM.FS",
    fixed: bool = False,
    exclude_derived: bool = False,
) -> MetaAnalysis | MetaRegressionAnalysis:
    """Pool effect sizes: fixed or random effects, Mantel–Haenszel, Peto or a GLMM; with
    subgroups or moderators. metafor's ``rma`` (and ``rma.mh``, ``rma.peto``, ``rma.glmm``).

    Parameters
    ----------
    effects : EffectSizes
        From :func:`trialsynth.effects`.
    method : str
        ``"FE"``, ``"MH"``, ``"PETO"`` (2×2 counts), a τ² estimator (``"DL"``, ``"REML"``, ``"PM"``,
        ``"ML"``, ``"HE"``, ``"SJ"``, ``"EB"``, ``"HS"``) or ``"GLMM"`` (odds ratios from 2×2 counts,
        IRR from events and person-time, or PLO from events of n; the model of OR and IRR in
        ``glmm``: ``"UM.FS"``, ``"UM.RS"``, ``"CM.EL"``, ``"CM.AL"``; ``fixed=True`` for τ² = 0).
    hk : bool
        Hartung–Knapp: scaled SE and t(k−1) tests and intervals (``hk_variant``: ``"knha"`` as
        metafor's ``test="knha"``, or ``"adhoc"`` with the floor max(1, q)).
    level : float
        Confidence level in percent (95) or as a fraction (0.95).
    pi_type : {"default", "z", "t", "higgins"}
        Prediction interval (default: z, or t(k−1) under Hartung–Knapp, as metafor).
    subgroup : str, optional
        A column of the table: pool within each of its values and test the difference
        (``subgroup_tau2``: ``"separate"`` τ² per subgroup, or ``"common"``).
    moderators : list of str or str, optional
        Meta-regression on these columns, or a formula such as ``"~ ablat + year"``;
        ``permutations`` (with ``seed``) adds a permutation test.
    exclude_derived : bool
        Leave out the studies whose numbers had to be derived (sensitivity analysis).

    Returns
    -------
    MetaAnalysis or MetaRegressionAnalysis
        The fit: ``estimate``, ``se``, ``ci``, ``tau2``, ``i2``, ``pi`` (analysis scale), ``summary()``,
        ``to_dict()``, ``to_json()``, ``forest()``, ``funnel()``, ``leave_one_out()``,
        ``cumulative()``, ``influence()``, ``bias()``. With moderators, a
        :class:`MetaRegressionAnalysis`.

    Examples
    --------
    >>> import trialsynth as ts
    >>> table = {"study": ["A", "B", "C"], "events_treatment": [4, 6, 3], "n_treatment": [123, 306, 231],
    ...          "events_control": [11, 29, 11], "n_control": [139, 303, 220]}
    >>> res = ts.meta_analysis(ts.effects(table, measure="RR"), method="REML")
    >>> # metafor: rma(yi, vi, method="REML") gives -1.3302 and tau2 = 0 for these three BCG trials
    >>> round(res.estimate, 4), round(res.tau2, 4), res.k
    (-1.3302, 0.0, 3)
    >>> bool(res.summary().loc["pooled", "p_value"] < 0.001)
    True
    """
    if not isinstance(effects, EffectSizes):
        raise InputError(
            "meta_analysis takes the effect sizes of ts.effects(data, measure=...), "
            f"not {type(effects).__name__}"
        )
    from trialsynth.stats.meta import pool_input

    options: dict[str, Any] = {
        "method": str(method).upper(),
        "hk": bool(hk),
        "hk_variant": hk_variant,
        "level": level,
        "pi_type": pi_type,
        "exclude_derived": exclude_derived,
    }
    if options["method"] == "GLMM":
        options.update(glmm=str(glmm).upper(), fixed=bool(fixed))
    pool_options = {**effects.options, **options}
    if subgroup is not None and moderators is not None:
        raise InputError("use either subgroup= or moderators=, not both")
    if moderators is not None:
        from trialsynth.stats.regression import meta_regression

        mods = parse_formula(moderators) if isinstance(moderators, str) else [str(m) for m in moderators]
        if not mods:
            raise InputError("moderators= names no column")
        reg, pooled = meta_regression(
            effects.data, mods, permutations=permutations, seed=seed, **pool_options
        )
        return MetaRegressionAnalysis(
            reg, cast(MetaResult, pooled), effects, {**options, "moderators": tuple(mods)}
        )
    result = pool_input(effects.data, **pool_options)
    sub = None
    if subgroup is not None:
        from trialsynth.stats.analyses import subgroup_analysis

        sub = subgroup_analysis(effects.data, subgroup, tau2=subgroup_tau2, **pool_options)
    return MetaAnalysis(result, effects, options, sub)
