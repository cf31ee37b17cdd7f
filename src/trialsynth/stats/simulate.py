"""Simulation studies of meta-analysis estimators (``trialsynth simulate SPEC.toml``).

A spec (TOML, documented in docs/simulate.md) lists scenarios (number of studies k, between-study
variance τ², true effect, the data type and its within-study distributions), the estimators to
compare (τ² method, Hartung–Knapp or not), the number of replications, a root seed and a chunk
size. For every scenario and estimator the study reports, over the replications (Morris, White &
Crowther, Stat Med 2019;38:2074–2102, Table 6, with their Monte Carlo standard errors):

* bias = mean(θ̂ − θ), MSE = mean((θ̂ − θ)²), coverage = share of CIs containing θ, mean CI width,
* for random-effects estimators, bias and MSE of τ̂² against the true τ².

Data types. ``normal``: per study vᵢ from the within-study variance distribution,
θᵢ ~ N(θ, τ²), yᵢ ~ N(θᵢ, vᵢ), and the analysis takes vᵢ as known (the usual generic
inverse-variance model). ``binary``: per study a control risk p₀ and an arm size n (both arms),
θᵢ ~ N(θ, τ²) on the log odds ratio scale, p₁ = expit(logit(p₀) + θᵢ), events a ~ Bin(n, p₁) and
c ~ Bin(n, p₀); log OR and its variance as :func:`trialsynth.stats.effects.binary_effects` (metafor's
conventions: 0.5 added to tables with a zero cell; double-zero tables kept with that correction,
as ``rma``'s default drop00 = FALSE, or left out, as RevMan 5, with ``double_zero = "drop"``).

Reproducibility. Replication r of scenario s (both counted from 0) draws from its own stream,
``numpy.random.Generator(PCG64(SeedSequence(seed, spawn_key=(s, r))))``, and the sums over
replications are exact (:class:`trialsynth._core.exactsum.ExactSum`), so the results are identical bit
for bit whatever the chunk size, the number of workers or the order in which chunks finish.
Memory is bounded by the chunk size: a chunk's data and fits are reduced to a few sums before the
next is taken. Fits that did not converge stay in the summaries and are counted (``converged``);
replications without an estimate (every table double-zero) are counted and left out (``estimable``).
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from trialsynth._core.errors import InputError
from trialsynth._core.exactsum import ExactSum
from trialsynth._core.serialize import OMIT, JsonResult, to_jsonable
from trialsynth.stats.pooling import IV_METHODS

DATA_TYPES = ("normal", "binary")
DISTRIBUTIONS = ("fixed", "uniform", "chi2", "integers")
DEFAULT_CHUNK = 10_000

#: Columns of the results table, in order (see :class:`SimulationResult`).
COLUMNS = (
    "scenario",
    "data",
    "k",
    "tau2",
    "effect",
    "estimator",
    "method",
    "hk",
    "replications",
    "estimable",
    "converged",
    "bias",
    "bias_mcse",
    "mse",
    "mse_mcse",
    "coverage",
    "coverage_mcse",
    "ci_width",
    "ci_width_mcse",
    "tau2_bias",
    "tau2_mse",
)


# ---------------------------------------------------------------------------------------
# The spec


@dataclass(frozen=True)
class Distribution(JsonResult):
    """A distribution to draw per-study values from: fixed, uniform, chi2 (scaled) or integers.

    ``fixed``: ``value``. ``uniform``: ``low``, ``high``. ``chi2``: ``scale``·χ²(df)/df (mean
    ``scale``). ``integers``: ``low`` to ``high``, both included.
    """

    kind: str
    params: tuple[tuple[str, float], ...]

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        p = dict(self.params)
        if self.kind == "fixed":
            return np.full(size, p["value"])
        if self.kind == "uniform":
            return rng.uniform(p["low"], p["high"], size)
        if self.kind == "chi2":
            return p["scale"] * rng.chisquare(p["df"], size) / p["df"]
        return rng.integers(int(p["low"]), int(p["high"]), size, endpoint=True).astype(float)

    __json_fields__ = (("distribution", "kind"), "**_json_params")

    @property
    def _json_params(self) -> dict[str, float]:
        return dict(self.params)

    def describe(self) -> dict:
        return to_jsonable(self)


@dataclass(frozen=True)
class Scenario:
    """One data-generating setting; ``vi`` for normal data, ``control_risk`` and ``n_per_arm`` for binary."""

    name: str
    data: str
    k: int
    tau2: float
    effect: float
    vi: Distribution | None = None
    control_risk: Distribution | None = None
    n_per_arm: Distribution | None = None
    #: Binary data: ``"keep"`` double-zero tables (0.5 added to each cell; metafor's rma,
    #: drop00 = FALSE) or ``"drop"`` them (RevMan 5); ``""`` for normal data.
    double_zero: str = ""

    #: JSON: the distributions that are set (``vi`` for normal data, the other two for binary).
    __json_fields__ = (
        "name", "data", "k", "tau2", "effect", ("vi", "_json_vi"), ("control_risk", "_json_control_risk"),
        ("n_per_arm", "_json_n_per_arm"), ("double_zero", "_json_double_zero"),
    )

    @property
    def _json_double_zero(self) -> str | object:
        return self.double_zero or OMIT

    @property
    def _json_vi(self) -> Distribution | object:
        return self.vi or OMIT

    @property
    def _json_control_risk(self) -> Distribution | object:
        return self.control_risk or OMIT

    @property
    def _json_n_per_arm(self) -> Distribution | object:
        return self.n_per_arm or OMIT


@dataclass(frozen=True)
class Estimator:
    """A τ² method (FE, DL, REML, ...) with or without the Hartung–Knapp adjustment."""

    method: str
    hk: bool = False

    @property
    def label(self) -> str:
        return f"{self.method}+HK" if self.hk else self.method


@dataclass(frozen=True)
class SimulationSpec:
    """A whole simulation study: see the module docstring and docs/simulate.md."""

    seed: int
    replications: int
    scenarios: tuple[Scenario, ...]
    estimators: tuple[Estimator, ...]
    chunk_size: int = DEFAULT_CHUNK
    level: float = 95.0
    source: str = ""

    __json_fields__ = ("seed", "replications", "level", ("estimators", "_json_estimators"), "scenarios")

    @property
    def _json_estimators(self) -> list[str]:
        return [e.label for e in self.estimators]


_TOP_KEYS = {"seed", "replications", "chunk_size", "level", "scenario", "estimator"}
_SCENARIO_KEYS = {"name", "data", "k", "tau2", "effect", "vi", "control_risk", "n_per_arm", "double_zero"}
_DIST_KEYS = {
    "fixed": {"value"},
    "uniform": {"low", "high"},
    "chi2": {"df", "scale"},
    "integers": {"low", "high"},
}


def _number(value, where: str, *, file: str, integer: bool = False, positive: bool = False) -> float:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or not math.isfinite(value):
        kind = "an integer" if integer else "a number"
        raise InputError(f"{where} must be {kind}, not {value!r}", file=file)
    if positive and value <= 0:
        raise InputError(f"{where} must be positive, not {value!r}", file=file)
    return value


def _distribution(raw, where: str, *, file: str, support: tuple[float, float], integer: bool = False):
    """A Distribution from a TOML value: a number (fixed) or a table {distribution = ..., ...}."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = {"distribution": "fixed", "value": raw}
    if not isinstance(raw, dict) or "distribution" not in raw:
        raise InputError(f"{where} must be a number or a table with 'distribution'", file=file)
    kind = raw["distribution"]
    allowed = ("fixed", "integers") if integer else ("fixed", "uniform", "chi2")
    if kind not in allowed:
        raise InputError(
            f"{where}: distribution must be one of {', '.join(allowed)}, not {kind!r}", file=file
        )
    keys = set(raw) - {"distribution"}
    if keys != _DIST_KEYS[kind]:
        need = ", ".join(sorted(_DIST_KEYS[kind]))
        raise InputError(
            f"{where}: a {kind} distribution takes {need}; got {', '.join(sorted(keys))}", file=file
        )
    params = {key: _number(raw[key], f"{where}.{key}", file=file, integer=integer) for key in sorted(keys)}
    lo_ok, hi_ok = support
    values = [params[key] for key in ("value", "low", "high") if key in params]
    if kind == "chi2":
        _number(params["df"], f"{where}.df", file=file, positive=True)
        values = [_number(params["scale"], f"{where}.scale", file=file, positive=True)]
    if any(not (lo_ok < v < hi_ok or (integer and lo_ok <= v)) for v in values):
        raise InputError(f"{where}: values must lie in ({lo_ok:g}, {hi_ok:g}); got {values}", file=file)
    if "low" in params and params["low"] > params["high"]:
        raise InputError(f"{where}: low must not exceed high", file=file)
    return Distribution(kind, tuple(sorted(params.items())))


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _scenarios(raw: dict, index: int, *, file: str) -> list[Scenario]:
    where = f"scenario {index + 1}"
    unknown = set(raw) - _SCENARIO_KEYS
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}", file=file)
    name = raw.get("name", f"scenario {index + 1}")
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: name must be a non-empty string", file=file)
    data = raw.get("data", "normal")
    if data not in DATA_TYPES:
        raise InputError(f"{where}: data must be one of {', '.join(DATA_TYPES)}, not {data!r}", file=file)
    for key in ("k", "tau2", "effect"):
        if key not in raw:
            raise InputError(f"{where}: '{key}' is required", file=file)
    ks = [int(_number(v, f"{where}.k", file=file, integer=True)) for v in _as_list(raw["k"])]
    if any(k < 1 for k in ks):
        raise InputError(f"{where}.k must be at least 1", file=file)
    tau2s = [float(_number(v, f"{where}.tau2", file=file)) for v in _as_list(raw["tau2"])]
    if any(t < 0 for t in tau2s):
        raise InputError(f"{where}.tau2 must not be negative", file=file)
    effects = [float(_number(v, f"{where}.effect", file=file)) for v in _as_list(raw["effect"])]
    if data == "normal":
        if "vi" not in raw or {"control_risk", "n_per_arm", "double_zero"} & set(raw):
            raise InputError(
                f"{where}: normal data take 'vi' (and not control_risk, n_per_arm or double_zero)", file=file
            )
        dists = {"vi": _distribution(raw["vi"], f"{where}.vi", file=file, support=(0.0, math.inf))}
    else:
        if "vi" in raw or not {"control_risk", "n_per_arm"} <= set(raw):
            raise InputError(f"{where}: binary data take 'control_risk' and 'n_per_arm' (not vi)", file=file)
        dists = {
            "control_risk": _distribution(
                raw["control_risk"], f"{where}.control_risk", file=file, support=(0.0, 1.0)
            ),
            "n_per_arm": _distribution(
                raw["n_per_arm"], f"{where}.n_per_arm", file=file, support=(1.0, math.inf), integer=True
            ),
        }
        dz = raw.get("double_zero", "keep")
        if dz not in ("keep", "drop"):
            raise InputError(f"{where}.double_zero must be 'keep' or 'drop', not {dz!r}", file=file)
        dists["double_zero"] = dz
    grid = list(itertools.product(ks, tau2s, effects))
    out = []
    for k, tau2, effect in grid:
        label = name if len(grid) == 1 else f"{name} (k={k}, tau2={tau2:g}, effect={effect:g})"
        out.append(Scenario(name=label, data=data, k=k, tau2=tau2, effect=effect, **dists))
    return out


def load_spec(path) -> SimulationSpec:
    """Read and check a simulation spec (TOML); every problem is an InputError naming the file."""
    path = Path(path)
    file = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", file=file) from None
    return spec_from_dict(raw, file=file)


def spec_from_dict(raw: dict, *, file: str = "<spec>") -> SimulationSpec:
    """A SimulationSpec from the parsed TOML document (see :func:`load_spec`)."""
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(sorted(unknown))}", file=file)
    for key in ("seed", "replications", "scenario", "estimator"):
        if key not in raw:
            raise InputError(f"'{key}' is required", file=file)
    seed = int(_number(raw["seed"], "seed", file=file, integer=True))
    if seed < 0:
        raise InputError("seed must not be negative", file=file)
    reps = int(_number(raw["replications"], "replications", file=file, integer=True, positive=True))
    chunk = int(
        _number(raw.get("chunk_size", DEFAULT_CHUNK), "chunk_size", file=file, integer=True, positive=True)
    )
    level = float(_number(raw.get("level", 95.0), "level", file=file, positive=True))
    if not 0 < (level / 100 if level > 1 else level) < 1:
        raise InputError(f"level must be between 0 and 100 percent, not {level:g}", file=file)
    if not isinstance(raw["scenario"], list) or not raw["scenario"]:
        raise InputError("give at least one [[scenario]]", file=file)
    if not isinstance(raw["estimator"], list) or not raw["estimator"]:
        raise InputError("give at least one [[estimator]]", file=file)
    scenarios = [s for i, sc in enumerate(raw["scenario"]) for s in _scenarios(sc, i, file=file)]
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise InputError("scenario names must be distinct", file=file)
    estimators = []
    for i, est in enumerate(raw["estimator"]):
        unknown = set(est) - {"method", "hk"}
        if unknown:
            raise InputError(f"estimator {i + 1}: unknown key(s) {', '.join(sorted(unknown))}", file=file)
        method = str(est.get("method", "")).upper()
        if method not in IV_METHODS:
            raise InputError(f"estimator {i + 1}: method must be one of {', '.join(IV_METHODS)}", file=file)
        hk = est.get("hk", False)
        if not isinstance(hk, bool):
            raise InputError(f"estimator {i + 1}: hk must be true or false", file=file)
        estimators.append(Estimator(method, hk))
    if len({e.label for e in estimators}) != len(estimators):
        raise InputError("estimators must be distinct", file=file)
    return SimulationSpec(
        seed=seed,
        replications=reps,
        scenarios=tuple(scenarios),
        estimators=tuple(estimators),
        chunk_size=chunk,
        level=level,
        source=file,
    )


# ---------------------------------------------------------------------------------------
# Data and one chunk of replications


def replication_rng(seed: int, scenario: int, replication: int) -> np.random.Generator:
    """The random stream of one replication: PCG64 seeded by SeedSequence(seed, spawn_key=(s, r))."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(scenario, replication)))
    )


def generate(spec: SimulationSpec, scenario: int, start: int, stop: int):
    """Data of replications ``start`` to ``stop`` − 1 of a scenario: ``(yi, vi, mask)``, shape (n, k)."""
    sc = spec.scenarios[scenario]
    n, k = stop - start, sc.k
    sd = math.sqrt(sc.tau2)
    if sc.data == "normal":
        if sc.vi is None:
            raise InputError(f"scenario '{sc.name}': normal data need the distribution of vi")
        yi = np.empty((n, k))
        vi = np.empty((n, k))
        for row, r in enumerate(range(start, stop)):
            rng = replication_rng(spec.seed, scenario, r)
            v = sc.vi.draw(rng, k)
            z = rng.standard_normal(2 * k)
            vi[row] = v
            yi[row] = sc.effect + sd * z[:k] + np.sqrt(v) * z[k:]
        return yi, vi, np.ones((n, k), dtype=bool)
    from trialsynth.stats.effects import binary_effects

    if sc.control_risk is None or sc.n_per_arm is None:
        raise InputError(f"scenario '{sc.name}': binary data need control_risk and n_per_arm")
    a = np.empty((n, k))
    c = np.empty((n, k))
    size = np.empty((n, k))
    for row, r in enumerate(range(start, stop)):
        rng = replication_rng(spec.seed, scenario, r)
        p0 = sc.control_risk.draw(rng, k)
        m = sc.n_per_arm.draw(rng, k)
        theta = sc.effect + sd * rng.standard_normal(k)
        p1 = 1.0 / (1.0 + np.exp(-(np.log(p0 / (1.0 - p0)) + theta)))
        a[row] = rng.binomial(m.astype(np.int64), p1)
        c[row] = rng.binomial(m.astype(np.int64), p0)
        size[row] = m
    eff = binary_effects(a, size, c, size, "OR", drop00=sc.double_zero == "drop")
    return eff.yi, eff.vi, ~eff.dropped


@dataclass
class Tally:
    """Exact running sums for one scenario × estimator (mergeable across chunks and workers)."""

    replications: int = 0
    estimable: int = 0
    converged: int = 0
    covered: int = 0
    tau2_n: int = 0
    err: ExactSum = field(default_factory=ExactSum)
    err2: ExactSum = field(default_factory=ExactSum)
    err4: ExactSum = field(default_factory=ExactSum)
    width: ExactSum = field(default_factory=ExactSum)
    width2: ExactSum = field(default_factory=ExactSum)
    tau2_err: ExactSum = field(default_factory=ExactSum)
    tau2_err2: ExactSum = field(default_factory=ExactSum)

    def merge(self, other: Tally) -> Tally:
        for name in ("replications", "estimable", "converged", "covered", "tau2_n"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("err", "err2", "err4", "width", "width2", "tau2_err", "tau2_err2"):
            getattr(self, name).merge(getattr(other, name))
        return self


def run_chunk(spec: SimulationSpec, scenario: int, start: int, stop: int) -> dict[str, Tally]:
    """Generate and fit replications ``start`` to ``stop`` − 1 of a scenario; one Tally per estimator."""
    from trialsynth.stats.batch import fit_batch

    sc = spec.scenarios[scenario]
    yi, vi, mask = generate(spec, scenario, start, stop)
    out = {}
    for est in spec.estimators:
        fit = fit_batch(yi, vi, mask, method=est.method, hk=est.hk, level=spec.level)
        ok = np.isfinite(fit.estimate) & np.isfinite(fit.ci_lower) & np.isfinite(fit.ci_upper)
        e = fit.estimate[ok] - sc.effect
        e2 = e * e
        width = fit.ci_upper[ok] - fit.ci_lower[ok]
        t = Tally(replications=stop - start, estimable=int(ok.sum()))
        t.converged = int(fit.converged[ok].sum())
        t.covered = int(((fit.ci_lower[ok] <= sc.effect) & (sc.effect <= fit.ci_upper[ok])).sum())
        t.err.add(e)
        t.err2.add(e2)
        t.err4.add(e2 * e2)
        t.width.add(width)
        t.width2.add(width * width)
        tau_ok = ok & np.isfinite(fit.tau2)
        if est.method != "FE":
            d = fit.tau2[tau_ok] - sc.tau2
            t.tau2_n = int(tau_ok.sum())
            t.tau2_err.add(d)
            t.tau2_err2.add(d * d)
        out[est.label] = t
    return out


# ---------------------------------------------------------------------------------------
# Running: serially, on local processes or on a Dask cluster


def chunks(spec: SimulationSpec, chunk_size: int | None = None) -> list[tuple[int, int, int]]:
    """The work units (scenario, start, stop), ``chunk_size`` replications at most each."""
    size = chunk_size or spec.chunk_size
    return [
        (s, start, min(start + size, spec.replications))
        for s in range(len(spec.scenarios))
        for start in range(0, spec.replications, size)
    ]


def _init_worker() -> None:  # pragma: no cover - runs in worker processes
    """One thread per worker process for the compiled kernel: the processes are the parallelism."""
    try:
        import numba
    except ImportError:
        return
    numba.set_num_threads(1)


def _serial(spec, units) -> Iterator[tuple[tuple[int, int, int], dict[str, Tally]]]:
    for unit in units:
        yield unit, run_chunk(spec, *unit)


def _processes(spec, units, workers: int):
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
        pending: dict[Any, Any] = {}
        todo = list(units)
        while todo or pending:
            while todo and len(pending) < 2 * workers:
                unit = todo.pop(0)
                pending[pool.submit(run_chunk, spec, *unit)] = unit
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield pending.pop(fut), fut.result()


def _dask(spec, units, client):
    from distributed import wait

    window = 2 * max(1, len(client.scheduler_info().get("workers", {})))
    spec_future = client.scatter(spec, broadcast=True)
    pending: dict[Any, Any] = {}
    todo = list(units)
    while todo or pending:
        while todo and len(pending) < window:
            unit = todo.pop(0)
            pending[client.submit(run_chunk, spec_future, *unit, pure=False)] = unit
        done = wait(list(pending), return_when="FIRST_COMPLETED").done
        for fut in done:
            unit = pending.pop(fut)
            yield unit, fut.result()
            fut.release()


@dataclass(frozen=True)
class SimulationResult(JsonResult):
    """One row per scenario × estimator (keys: :data:`COLUMNS`), never rounded, and the spec."""

    spec: SimulationSpec
    rows: tuple[dict, ...]

    #: JSON: the spec's keys (seed, replications, level, estimators, scenarios), then the rows.
    __json_fields__ = ("**spec", ("results", "rows"))


def _isnan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _sqrt(x: Fraction) -> float:
    return math.sqrt(max(0.0, float(x)))


def _summarise(spec: SimulationSpec, tallies: dict[tuple[int, str], Tally]) -> tuple[dict, ...]:
    rows = []
    for s, sc in enumerate(spec.scenarios):
        for est in spec.estimators:
            t = tallies[(s, est.label)]
            n = t.estimable
            row = {
                "scenario": sc.name,
                "data": sc.data,
                "k": sc.k,
                "tau2": sc.tau2,
                "effect": sc.effect,
                "estimator": est.label,
                "method": est.method,
                "hk": est.hk,
                "replications": t.replications,
                "estimable": n,
                "converged": t.converged,
            }
            nan = math.nan
            if n >= 1:
                s1, s2, s4 = t.err.fraction(), t.err2.fraction(), t.err4.fraction()
                w1, w2 = t.width.fraction(), t.width2.fraction()
                mse = s2 / n
                cov = Fraction(t.covered, n)
                row.update(bias=float(s1 / n), mse=float(mse), coverage=float(cov), ci_width=float(w1 / n))
                if n >= 2:
                    # Morris et al. 2019, Table 6
                    row["bias_mcse"] = _sqrt((s2 - s1 * s1 / n) / (n - 1) / n)
                    row["mse_mcse"] = _sqrt((s4 - n * mse * mse) / (n * (n - 1)))
                    row["coverage_mcse"] = _sqrt(cov * (1 - cov) / n)
                    row["ci_width_mcse"] = _sqrt((w2 - w1 * w1 / n) / (n - 1) / n)
            for key in (
                "bias",
                "bias_mcse",
                "mse",
                "mse_mcse",
                "coverage",
                "coverage_mcse",
                "ci_width",
                "ci_width_mcse",
            ):
                row.setdefault(key, nan)
            if t.tau2_n >= 1:
                row["tau2_bias"] = float(t.tau2_err.fraction() / t.tau2_n)
                row["tau2_mse"] = float(t.tau2_err2.fraction() / t.tau2_n)
            else:
                row["tau2_bias"] = row["tau2_mse"] = nan
            rows.append({key: row[key] for key in COLUMNS})
    return tuple(rows)


def run_simulation(
    spec: SimulationSpec,
    *,
    workers: int = 1,
    client=None,
    chunk_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Run every chunk of ``spec`` and summarise; see the module docstring.

    ``client``: a ``distributed.Client`` whose cluster runs the chunks; otherwise ``workers``
    local processes (1: in this process). ``chunk_size`` overrides the spec's. ``progress`` is
    called with the number of replications each finished chunk held.
    """
    units = chunks(spec, chunk_size)
    if client is not None:
        stream = _dask(spec, units, client)
    elif workers > 1:
        stream = _processes(spec, units, workers)
    else:
        stream = _serial(spec, units)
    tallies: dict[tuple[int, str], Tally] = {
        (s, e.label): Tally() for s in range(len(spec.scenarios)) for e in spec.estimators
    }
    for (s, start, stop), result in stream:
        for label, tally in result.items():
            tallies[(s, label)].merge(tally)
        if progress is not None:
            progress(stop - start)
    return SimulationResult(spec=spec, rows=_summarise(spec, tallies))


def csv_text(result: SimulationResult) -> str:
    """The results table as CSV text (full precision; empty cells for not-applicable values)."""
    import csv
    import io

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in result.rows:
        writer.writerow(
            ["" if _isnan(row[c]) else repr(row[c]) if isinstance(row[c], float) else row[c] for c in COLUMNS]
        )
    return buffer.getvalue()
