"""The other front doors: trial sequential analysis, Bayesian meta-analysis, many fits at once,
a whole review folder, network and multilevel models — each over the effect sizes of
:func:`trialsynth.effects` (or arrays) and returning the library's own result objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trialsynth._core.errors import InputError
from trialsynth.api.effects import SOURCE, EffectSizes, _columns_of, _resolve

__all__ = ["ReviewResult", "bayes", "fit_batch", "multilevel", "network", "run_review", "tsa"]


def _need_effects(obj: object, what: str) -> EffectSizes:
    if not isinstance(obj, EffectSizes):
        raise InputError(
            f"{what} takes the effect sizes of ts.effects(data, measure=...), not {type(obj).__name__}"
        )
    return obj


def tsa(effects: EffectSizes, **options: Any):
    """Trial sequential analysis of the studies in table order (sort the table by date first).

    Options as ``trialsynth tsa``: ``method`` (``"DL"``), ``alpha`` (0.05), ``power`` (0.80), and the
    anticipated effect: ``control_risk`` with ``rrr`` (binary), ``mean_difference`` with ``sd``
    (continuous) or ``hazard_ratio``; ``diversity_value`` (``"auto"``), ``better`` (``"lower"``).
    Returns a :class:`trialsynth.stats.tsa.TSAResult` (``format_text()``, ``to_json_dict()``).

    Examples
    --------
    >>> import trialsynth as ts
    >>> table = {"study": ["A", "B", "C"], "events_treatment": [4, 6, 3], "n_treatment": [123, 306, 231],
    ...          "events_control": [11, 29, 11], "n_control": [139, 303, 220]}
    >>> res = ts.tsa(ts.effects(table, measure="RR"), control_risk=0.06, rrr=0.3, diversity_value=0)
    >>> round(res.ris)  # participants needed to detect a 30% relative risk reduction
    4690
    """
    from trialsynth.stats.tsa import tsa as tsa_data

    es = _need_effects(effects, "tsa")
    return tsa_data(es.data, **{**es.options, **options})


def bayes(
    effects: EffectSizes,
    *,
    tau_prior: str | None = None,
    mu_prior: str | None = None,
    level: float = 95.0,
    interval: str = "central",
):
    """Bayesian random-effects meta-analysis by exact numerical integration (``pool --bayes``).

    ``tau_prior``: ``"halfnormal:S"``, ``"halfcauchy:S"``, ``"uniform[:A]"``, ``"lognormal:M,S"`` or
    ``"turner[:OUTCOME:COMPARISON]"`` (default half-normal(0.5) for OR, RR, HR and SMD); ``mu_prior``:
    ``"uniform"`` (default) or ``"normal:M,S"``. Returns a :class:`trialsynth.stats.bayes.BayesResult`.

    Examples
    --------
    >>> import trialsynth as ts
    >>> table = {"study": ["A", "B", "C"], "events_treatment": [4, 6, 3], "n_treatment": [123, 306, 231],
    ...          "events_control": [11, 29, 11], "n_control": [139, 303, 220]}
    >>> post = ts.bayes(ts.effects(table, measure="RR"), tau_prior="halfnormal:0.5")
    >>> post.mu.mean < 0
    True
    """
    from trialsynth.stats.bayes import DEFAULT_TAU_PRIOR, bayes_meta, parse_mu_prior, parse_tau_prior

    es = _need_effects(effects, "bayes")
    if tau_prior is None:
        if es.measure not in DEFAULT_TAU_PRIOR:
            raise InputError(
                f"give a τ prior for {es.measure}, e.g. tau_prior='halfnormal:S' in the outcome's units"
            )
        tau_prior = DEFAULT_TAU_PRIOR[es.measure]
    ok = np.isfinite(es.yi) & np.isfinite(es.vi)
    return bayes_meta(
        es.yi[ok],
        es.vi[ok],
        labels=[lab for lab, keep in zip(es.labels, ok, strict=True) if keep],
        measure=es.measure,
        tau_prior=parse_tau_prior(tau_prior),
        mu_prior=parse_mu_prior(mu_prior),
        level=level,
        interval=interval,
    )


def fit_batch(yi: Any, vi: Any, mask: Any = None, *, progress: bool = False, **options: Any):
    """Many meta-analyses at once: one per row of ``yi``, ``vi`` (shape ``(..., k)``), by the
    compiled batch engine when numba is installed (:func:`trialsynth.stats.batch.fit_batch`;
    options ``method``, ``hk``, ``level``, ``pi_type``, ``weights``, ``tau2_ci``, ``engine``,
    ``chunk_size``). Returns a :class:`trialsynth.stats.batch.BatchFit` of arrays.

    ``progress=True`` fits the rows in chunks (``chunk_size``, 100,000 by default) and shows a
    progress bar per chunk on standard error when it is a terminal (nothing otherwise); the
    numbers are those of one call over the whole stack.

    Examples
    --------
    >>> import numpy as np, trialsynth as ts
    >>> fit = ts.fit_batch(np.array([[0.1, 0.3, -0.2], [0.5, 0.4, 0.6]]), np.full((2, 3), 0.04), method="DL")
    >>> fit.estimate.shape
    (2,)
    """
    from trialsynth._core.progress import has_listener, terminal_bars
    from trialsynth.stats.batch import fit_batch as batch

    if progress and not has_listener():  # a notebook or script: draw the bars here (on a terminal)
        with terminal_bars():
            return batch(yi, vi, mask, progress=True, **options)
    return batch(yi, vi, mask, progress=progress, **options)


@dataclass(frozen=True, eq=False)
class ReviewResult:
    """A review folder run by :func:`run_review`.

    ``results`` is the ``results.json`` document (a dict, natural scale, exactly what is written
    to the file); ``analysis`` the objects it is made from (:class:`trialsynth.workflow.runner.
    ReviewAnalysis`: per outcome and analysis set the fits, sensitivity analyses, subgroups,
    TSA, Bayes); ``report`` the path of ``report.html`` when outputs were written.
    """

    folder: Path
    analysis: Any
    results: dict[str, Any]
    report: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``results.json`` document."""
        return self.results

    def to_json(self) -> str:
        """The text of ``results.json``."""
        import json

        return json.dumps(self.results, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def __repr__(self) -> str:
        n = len(self.analysis.outcomes)
        where = f", report {self.report}" if self.report else ""
        return f"ReviewResult({self.folder.name}: {n} outcome analyses{where})"


def run_review(folder: str | Path | None = None, out: str | Path | None = None) -> ReviewResult:
    """Run a review folder (the bundled imaging-guided CRT review when ``folder`` is None).

    With ``out`` the outputs of ``trialsynth run`` are written there (``results.json``, figures,
    ``report.html``); without it nothing is written. The returned :class:`ReviewResult` holds the
    ``results.json`` document and the analysis objects it was made from.
    """
    from trialsynth.report.review import analyse, review_path, write_outputs

    path = review_path(folder)
    analysis, doc = analyse(path)
    report = write_outputs(path, analysis, doc, Path(out)) if out is not None else None
    return ReviewResult(path, analysis, doc, report)


def _arms(data: object, names: dict[str, Any], n: int | None) -> dict[str, list[Any] | None]:
    columns = _columns_of(data)
    out: dict[str, list[Any] | None] = {}
    for key, value in names.items():
        out[key] = None if value is None else _resolve(key, value, columns, n)
    return out


def network(
    data: object = None,
    *,
    measure: str,
    study: str | Sequence[Any] = "study",
    treatment: str | Sequence[Any] | None = "treatment",
    events: str | Sequence[Any] | None = None,
    n: str | Sequence[Any] | None = None,
    mean: str | Sequence[Any] | None = None,
    sd: str | Sequence[Any] | None = None,
    treatment_1: str | Sequence[Any] | None = None,
    treatment_2: str | Sequence[Any] | None = None,
    estimate: str | Sequence[Any] | None = None,
    se: str | Sequence[Any] | None = None,
    **options: Any,
):
    """Network meta-analysis (``trialsynth nma``; metafor's ``rma.mv`` contrast model).

    Arm rows (``study``, ``treatment`` and ``events``/``n`` for OR and RR, or ``mean``/``sd``/``n``
    for MD and SMD) or contrast rows (``treatment_1``, ``treatment_2``, ``estimate``, ``se`` on the
    analysis scale). Each is a column name of ``data`` or an array. ``options`` go to
    :func:`trialsynth.stats.network.network_meta_analysis` (``reference``, ``method``, ``level``,
    ``better``, ``sucra_draws``, ``seed``). Returns a :class:`trialsynth.stats.network.NetworkResult`.
    """
    from trialsynth.stats.network import network_from_arms, network_from_contrasts, network_meta_analysis

    contrasts = estimate is not None
    names = (
        {
            "study": study,
            "treatment_1": treatment_1,
            "treatment_2": treatment_2,
            "estimate": estimate,
            "se": se,
        }
        if contrasts
        else {"study": study, "treatment": treatment, "events": events, "n": n, "mean": mean, "sd": sd}
    )
    cols = _arms(data, names, None)
    lengths = {len(v) for v in cols.values() if v is not None}
    if len(lengths) != 1:
        raise InputError("the network columns must all have one value per row", file=SOURCE)

    def num(values):
        return None if values is None else np.asarray(values, dtype=float)

    if contrasts:
        nd = network_from_contrasts(
            [str(s) for s in cols["study"] or []],
            [str(t) for t in cols["treatment_1"] or []],
            [str(t) for t in cols["treatment_2"] or []],
            num(cols["estimate"]),
            num(cols["se"]),
            measure=measure,
        )
    else:
        nd = network_from_arms(
            [str(s) for s in cols["study"] or []],
            [str(t) for t in cols["treatment"] or []],
            measure=measure,
            events=num(cols["events"]),
            n=num(cols["n"]),
            mean=num(cols["mean"]),
            sd=num(cols["sd"]),
        )
    return network_meta_analysis(nd, **options)


def multilevel(
    effects: EffectSizes,
    *,
    method: str = "REML",
    robust: str | None = None,
    rho: float = 0.0,
    moderators: Sequence[str] = (),
    level: float = 95.0,
) -> dict[str, Any]:
    """Three-level model ``~ 1 | study/es_id`` for several effect sizes per study
    (``pool --multilevel``): effect sizes from ``ts.effects(..., repeated=True)``, an ``es_id``
    column naming them within a study (default one per row); ``rho`` the working within-study
    correlation; ``robust="CR2"`` adds cluster-robust tests. Returns the
    ``pool --multilevel --json`` object (``multilevel``: coefficients and variance components).
    """
    from trialsynth.stats.multilevel import pool_multilevel

    es = _need_effects(effects, "multilevel")
    if robust and str(method).upper() not in ("REML", "ML"):
        raise InputError("robust='CR2' needs method 'REML' or 'ML'")
    return pool_multilevel(
        es.data,
        method=method,
        robust=robust,
        rho=rho,
        moderators=list(moderators),
        level=level,
        **{k: v for k, v in es.options.items() if k != "median_method"},
    )
