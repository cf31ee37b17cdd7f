"""Individual patient data reconstructed from published Kaplan–Meier curves, and a HR from it.

:func:`reconstruct_ipd` implements the algorithm of Guyot P, Ades AE, Ouwens MJNM, Welton NJ,
"Enhanced secondary analysis of survival data: reconstructing the data from published
Kaplan-Meier survival curves", BMC Med Res Methodol 2012;12:9 (from the paper's description,
section "Algorithm"): for each interval between the times of the numbers-at-risk table, the
number censored is first guessed from the drop in the curve, censorings are spread evenly over
the interval, events at each digitised point are d = round(n̂·(1 − S/S_last)) with n̂ the
reconstructed number at risk, and the number censored is corrected until the reconstructed
number at risk at the start of the next interval equals the published one. The last interval
uses the average censoring rate of the earlier ones (or, when the total number of events is
known, is adjusted to it).

:func:`cox_binary` fits the Cox model with one binary covariate (treatment = 1) by Newton's
method on the Breslow partial likelihood; :func:`logrank` gives O − E and V (hypergeometric
variance), so log HR ≈ (O − E)/V with SE 1/√V (Tierney et al., Trials 2007;8:16).
Pure numerics over arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialsynth._core.errors import InputError

__all__ = ["IPD", "HazardRatio", "cox_binary", "hazard_ratio_from_km", "logrank", "reconstruct_ipd"]


@dataclass(frozen=True, eq=False)
class IPD:
    """Reconstructed individual patient data of one arm: ``time`` and ``event`` (1 event, 0 censored)."""

    time: np.ndarray
    event: np.ndarray


@dataclass(frozen=True)
class HazardRatio:
    """Log HR (treatment vs control) and its SE by the Cox model and by the log-rank route."""

    log_hr_cox: float
    se_cox: float
    log_hr_logrank: float
    se_logrank: float
    o_minus_e: float
    v: float
    iterations: int


def _clean_curve(time, survival) -> tuple[np.ndarray, np.ndarray]:
    """Digitised points sorted by time, survival made non-increasing and started at (0, 1)."""
    t = np.asarray(time, dtype=float)
    s = np.asarray(survival, dtype=float)
    if t.shape != s.shape or t.ndim != 1 or t.size < 2:
        raise InputError("a Kaplan–Meier curve needs matching lists of at least two times and survivals")
    if np.any(~np.isfinite(t)) or np.any(~np.isfinite(s)):
        raise InputError("a Kaplan–Meier curve has a blank or non-numeric point")
    if np.any(t < 0) or np.any((s < 0) | (s > 1)):
        raise InputError("Kaplan–Meier times must be 0 or more and survival between 0 and 1 (not percent)")
    order = np.lexsort((-s, t))
    t, s = t[order], s[order]
    s = np.minimum.accumulate(s)  # digitising noise can make a curve rise; a KM curve cannot
    if t[0] > 0 or s[0] < 1:
        t, s = np.concatenate(([0.0], t)), np.concatenate(([1.0], s))
    return t, s


def _risk_table_arrays(risk_times, n_risk) -> tuple[np.ndarray, np.ndarray]:
    """The numbers-at-risk table as arrays; InputError unless it starts at 0 and never increases."""
    tr = np.asarray(risk_times, dtype=float)
    nr = np.asarray(n_risk, dtype=float)
    if tr.ndim != 1 or tr.shape != nr.shape or tr.size < 1:
        raise InputError("the numbers at risk need matching lists of times and counts")
    if tr[0] != 0:
        raise InputError("the numbers-at-risk table must start at time 0 (the arm's size)")
    if np.any(np.diff(tr) <= 0) or np.any(np.diff(nr) > 0) or np.any(nr != np.round(nr)) or nr[0] <= 0:
        raise InputError("numbers at risk must be whole numbers at increasing times, never increasing")
    return tr, nr


def _ipd_records(t, d, cen, tr, nr, lower, upper) -> IPD:
    """One record per patient: ``d`` events at the digitised times ``t``, the ``cen`` censorings of
    each risk interval spread evenly within it, and whoever is left censored at the last time."""
    n_int = tr.size
    k_all = t.size
    times: list[np.ndarray] = []
    events: list[np.ndarray] = []
    for k in range(k_all):
        if d[k] > 0:
            times.append(np.full(int(d[k]), t[k]))
            events.append(np.ones(int(d[k]), dtype=int))
    # Censoring times: spread within each interval as they were placed above.
    for i in range(n_int):
        lo, hi = lower[i], upper[i]
        if hi < lo:
            continue
        n_c = int(cen[lo : hi + 1].sum())
        end_time = tr[i + 1] if i + 1 < n_int else t[hi]
        if n_c:
            times.append(tr[i] + (end_time - tr[i]) * np.arange(1, n_c + 1) / (n_c + 1))
            events.append(np.zeros(n_c, dtype=int))
    # Whoever is left at the end is censored at the last digitised time.
    remaining = int(nr[0] - sum(len(e) for e in events))
    if remaining > 0:
        times.append(np.full(remaining, t[-1]))
        events.append(np.zeros(remaining, dtype=int))
    return IPD(np.concatenate(times), np.concatenate(events))


def reconstruct_ipd(time, survival, risk_times, n_risk, *, total_events: int | None = None) -> IPD:
    """Guyot et al. (2012): IPD of one arm from digitised KM points and its numbers at risk.

    ``time``/``survival``: the digitised points (survival as a proportion); ``risk_times`` and
    ``n_risk``: the numbers-at-risk table (its first time 0, with the arm's size). Returns one
    record per patient.
    """
    t, s = _clean_curve(time, survival)
    tr, nr = _risk_table_arrays(risk_times, n_risk)
    tr, nr = tr[tr <= t[-1]], nr[tr <= t[-1]]
    n_int = tr.size
    # Indices of the digitised points in each risk interval [tr[i], tr[i+1]).
    lower = np.searchsorted(t, tr, side="left")
    upper = np.append(lower[1:] - 1, t.size - 1)
    k_all = t.size
    d = np.zeros(k_all)
    cen = np.zeros(k_all)
    n_hat = np.zeros(k_all + 1)
    n_hat[lower[0]] = nr[0]
    km_hat = np.ones(k_all)
    last = 0
    sum_cen, sum_time = 0.0, 0.0

    def run_interval(i: int, n_censor: int, last_in: int):
        """Events and censorings of interval i given its number censored; returns (n at end, last)."""
        lo, hi = lower[i], upper[i]
        end_time = tr[i + 1] if i + 1 < n_int else t[hi]
        cen[lo : hi + 1] = 0
        if n_censor > 0:
            cen_t = tr[i] + (end_time - tr[i]) * np.arange(1, n_censor + 1) / (n_censor + 1)
            idx = np.searchsorted(t[lo : hi + 1], cen_t, side="right") - 1 + lo
            np.add.at(cen, np.clip(idx, lo, hi), 1)
        last_k = last_in
        n_hat[lo] = nr[i]
        for k in range(lo, hi + 1):
            if k == 0:
                d[k] = 0.0
                km_hat[k] = 1.0
            else:
                d[k] = np.round(n_hat[k] * (1 - s[k] / km_hat[last_k])) if km_hat[last_k] > 0 else 0.0
                d[k] = min(max(d[k], 0.0), n_hat[k])
                km_hat[k] = km_hat[last_k] * (1 - d[k] / n_hat[k]) if n_hat[k] > 0 else km_hat[last_k]
            n_hat[k + 1] = max(n_hat[k] - d[k] - cen[k], 0.0)
            if d[k] != 0:
                last_k = k
        return n_hat[hi + 1], last_k

    for i in range(n_int):
        lo, hi = lower[i], upper[i]
        if hi < lo:  # no digitised point in this interval: everybody who left was censored
            if i + 1 < n_int:
                sum_cen += nr[i] - nr[i + 1]
                sum_time += tr[i + 1] - tr[i]
            continue
        if i + 1 < n_int:
            s_next = s[lower[i + 1]] if lower[i + 1] < k_all else s[-1]
            guess = nr[i] - nr[i + 1] * s_next / s[lo] if s[lo] > 0 else 0.0
            n_censor = int(max(np.round(guess), 0))
            for _ in range(200):
                n_end, new_last = run_interval(i, n_censor, last)
                gap = n_end - nr[i + 1]
                if gap == 0:
                    break
                n_censor = int(max(n_censor + gap, 0))
                if n_censor == 0 and gap < 0:
                    break
            last = new_last
            sum_cen += cen[lo : hi + 1].sum()
            sum_time += tr[i + 1] - tr[i]
        else:
            rate = sum_cen / sum_time if sum_time > 0 else 0.0
            n_censor = int(min(np.round(rate * (t[hi] - tr[i])), nr[i]))
            _, last = run_interval(i, n_censor, last)
            if total_events is not None:
                for _ in range(200):
                    gap = d.sum() - total_events
                    if gap == 0:
                        break
                    n_censor = int(min(max(n_censor + gap, 0), nr[i]))
                    _, last = run_interval(i, n_censor, last)
                    if n_censor in (0, nr[i]):
                        break

    return _ipd_records(t, d, cen, tr, nr, lower, upper)


def _risk_table(time, event, group):
    """Per distinct event time: events in group 1, all events, at risk in group 1 and in all."""
    time, event, group = (np.asarray(x) for x in (time, event, group))
    event_times = np.unique(time[event == 1])
    order = np.argsort(time, kind="stable")
    ts = time[order]
    g = group[order]
    # at risk at t: time >= t
    n_all = time.size - np.searchsorted(ts, event_times, side="left")
    cum1 = np.concatenate(([0], np.cumsum(g)))
    n1 = cum1[-1] - cum1[np.searchsorted(ts, event_times, side="left")]
    ev = event == 1
    d_all = np.array([np.sum(ev & (time == u)) for u in event_times], dtype=float)
    d1 = np.array([np.sum(ev & (time == u) & (group == 1)) for u in event_times], dtype=float)
    return d1, d_all, n1.astype(float), n_all.astype(float)


def logrank(time, event, group) -> tuple[float, float]:
    """Log-rank O − E (group 1) and its hypergeometric variance V."""
    d1, d, n1, n = _risk_table(time, event, group)
    e1 = d * n1 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(n > 1, d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1), 0.0)
    return float(np.sum(d1 - e1)), float(np.sum(v))


def cox_binary(time, event, group, *, tol: float = 1e-12, max_iter: int = 50) -> tuple[float, float, int]:
    """Cox model with one binary covariate: (log HR, SE, iterations), Breslow ties, Newton's method.

    Partial log-likelihood ℓ(β) = Σ_t [d₁β − d·ln(n₀ + n₁e^β)] over the distinct event times.
    """
    d1, d, n1, n = _risk_table(time, event, group)
    n0 = n - n1
    if d1.sum() == 0 or d1.sum() == d.sum():
        raise InputError("a Cox model needs events in both arms")
    beta, iterations = 0.0, 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        eb = np.exp(beta)
        p = n1 * eb / (n0 + n1 * eb)
        score = float(np.sum(d1 - d * p))
        info = float(np.sum(d * p * (1 - p)))
        step = score / info
        beta += step
        if abs(step) < tol:
            break
    eb = np.exp(beta)
    p = n1 * eb / (n0 + n1 * eb)
    info = float(np.sum(d * p * (1 - p)))
    return beta, 1 / np.sqrt(info), iterations


def hazard_ratio_from_km(treatment: IPD, control: IPD) -> HazardRatio:
    """Log HR (treatment vs control) from two arms' (reconstructed) IPD by Cox and by log-rank."""
    time = np.concatenate((treatment.time, control.time))
    event = np.concatenate((treatment.event, control.event))
    group = np.concatenate((np.ones(treatment.time.size, int), np.zeros(control.time.size, int)))
    beta, se, iterations = cox_binary(time, event, group)
    ome, v = logrank(time, event, group)
    return HazardRatio(beta, se, ome / v, 1 / np.sqrt(v), ome, v, iterations)
