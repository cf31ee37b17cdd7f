"""Kaplan–Meier reconstruction (Guyot et al. 2012) and the HR from reconstructed data.

* Cox and log-rank against closed forms written out below (one event time: the Breslow score
  equation solves to e^β = (d₁/n₁)/(d₀/n₀)), at 1e-10 relative.
* Simulation: IPD of two exponential arms (HR 0.7, 200 per arm, accrual and dropout censoring),
  their KM curves digitised at a digitiser's resolution (time to 1/600 of the axis, survival to
  1/500: one pixel of a typical figure), numbers at risk every 6 months; the IPD is reconstructed
  and its Cox log HR compared with that of the original IPD over 12 seeds.
  Yardstick: Guyot et al. found reconstructed HRs close to the published ones, to within a few
  percent. We require |Δ log HR| < 0.06 per seed (6% in the HR, under half the SE of about 0.13,
  so reconstruction error is small beside sampling error) and a mean |Δ| < 0.03 over the seeds;
  the reconstructed event count must be within 3 of the true one per arm.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trialsynth._core.errors import InputError
from trialsynth.stats import km

HAND = 1e-10


def test_cox_and_logrank_one_event_time_closed_form():
    # Arm 1: 10 patients, 3 events at t = 1, the rest censored at 2; arm 0: 12 patients, 6 events at t = 1.
    time = np.array([1.0] * 3 + [2.0] * 7 + [1.0] * 6 + [2.0] * 6)
    event = np.array([1] * 3 + [0] * 7 + [1] * 6 + [0] * 6)
    group = np.array([1] * 10 + [0] * 12)
    beta, se, _ = km.cox_binary(time, event, group)
    assert beta == pytest.approx(math.log((3 / 10) / (6 / 12)), rel=HAND)
    p = 3 / 9  # d₁/d at the solution
    assert se == pytest.approx(1 / math.sqrt(9 * p * (1 - p)), rel=HAND)
    ome, v = km.logrank(time, event, group)
    n, n1, d = 22, 10, 9
    assert ome == pytest.approx(3 - d * n1 / n, rel=HAND)
    assert v == pytest.approx(d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1), rel=HAND)


def _km_corners(time, event):
    """Both corners of every step of the KM curve, as a digitiser clicks them."""
    s, ts, ss = 1.0, [], []
    for u in np.unique(time[event == 1]):
        at_risk = np.sum(time >= u)
        d = np.sum((time == u) & (event == 1))
        ts += [u, u]
        ss += [s, s * (1 - d / at_risk)]
        s *= 1 - d / at_risk
    return np.array(ts), np.array(ss)


def _simulate(seed, n=200, hr=0.7, lam=0.06, follow_up=36.0):
    rng = np.random.default_rng(seed)
    arms = []
    for h in (lam * hr, lam):
        t_event = rng.exponential(1 / h, n)
        t_censor = np.minimum(rng.uniform(12, follow_up, n), rng.exponential(100.0, n))
        t = np.round(np.minimum(t_event, t_censor), 3)
        arms.append(km.IPD(t, (t_event <= t_censor).astype(int)))
    return arms


def _reconstruct(arm: km.IPD, follow_up=36.0) -> km.IPD:
    ts, ss = _km_corners(arm.time, arm.event)
    step_t = follow_up / 600
    dt, ds = np.round(ts / step_t) * step_t, np.round(ss * 500) / 500
    risk_times = np.arange(0.0, follow_up + 1, 6.0)
    n_risk = np.array([np.sum(arm.time >= x) for x in risk_times])
    return km.reconstruct_ipd(dt, ds, risk_times, n_risk)


def test_reconstruction_recovers_the_hazard_ratio_over_seeds():
    errors = []
    for seed in range(12):
        treated, control = _simulate(seed)
        truth = km.hazard_ratio_from_km(treated, control)
        rec_t, rec_c = _reconstruct(treated), _reconstruct(control)
        assert rec_t.time.size == treated.time.size and rec_c.time.size == control.time.size
        assert abs(int(rec_t.event.sum()) - int(treated.event.sum())) <= 3
        assert abs(int(rec_c.event.sum()) - int(control.event.sum())) <= 3
        got = km.hazard_ratio_from_km(rec_t, rec_c)
        err = got.log_hr_cox - truth.log_hr_cox
        assert abs(err) < 0.06, (seed, err)
        assert got.se_cox == pytest.approx(truth.se_cox, rel=0.05)
        assert abs(got.log_hr_logrank - got.log_hr_cox) < 0.03  # the two routes agree near HR 0.7
        errors.append(abs(err))
    assert np.mean(errors) < 0.03


def test_reconstruction_errors_are_input_errors():
    with pytest.raises(InputError, match="start at time 0"):
        km.reconstruct_ipd([0, 1, 2], [1, 0.9, 0.8], [1, 2], [10, 8])
    with pytest.raises(InputError, match="not percent"):
        km.reconstruct_ipd([0, 1, 2], [100, 90, 80], [0], [10])
    with pytest.raises(InputError, match="never increasing"):
        km.reconstruct_ipd([0, 1, 2], [1, 0.9, 0.8], [0, 1], [10, 12])
