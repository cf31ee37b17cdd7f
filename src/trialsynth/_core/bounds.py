"""The range of numbers a trial can report, and the range in which our arithmetic is exact.

Values outside these bounds are input errors (named by file, row and column when they come
from a file), never silently dropped or turned into NaN, ``inf%`` or an OverflowError:

* a number of participants or events is at most :data:`MAX_COUNT` (10⁹) per arm — more than
  any trial has randomised;
* a mean, an estimate, a confidence limit, a SD, a SE, a variance of O − E or a person-time
  has a magnitude of at most :data:`MAX_MAGNITUDE` (10¹⁰); a spread (SD, SE, V) or a
  person-time is at least :data:`MIN_SPREAD` (10⁻¹⁰). Rescale the unit (grams, not
  micrograms) if a real trial falls outside;
* a ratio (OR, RR, HR, ...) and its confidence limits lie in [10⁻¹⁰, 10¹⁰]; a log ratio has a
  magnitude of at most ln 10¹⁰ ≈ 23.

Within these input bounds every derived variance lies between 10⁻⁴⁰ and 10⁴⁰, its weight and
squared weight are far from underflow and overflow in double precision (≈ 10⁻³⁰⁸ to 10³⁰⁸),
and a back-transformed ratio is finite. The array-level functions (which take effects and
variances directly) accept the wider :data:`VARIANCE_RANGE` and :data:`MAX_EFFECT`, where
weights 1/v, their squares and the sums of Cochran's Q stay finite and exact to rounding.
"""

from __future__ import annotations

import math
import re

import numpy as np

from trialsynth._core.errors import InputError

MAX_COUNT = 1e9
MAX_MAGNITUDE = 1e10
MIN_SPREAD = 1e-10
MIN_RATIO, MAX_RATIO = 1e-10, 1e10
MAX_LOG_RATIO = math.log(MAX_RATIO)

#: Variances accepted by the array-level functions (``meta_analysis``, ``fit_arrays``).
VARIANCE_RANGE = (1e-100, 1e100)
#: Largest magnitude of an effect accepted by the array-level functions; for ratio measures
#: (log scale) the back-transform exp(y) must stay finite: |y| ≤ 700.
MAX_EFFECT = 1e100
MAX_LOG_EFFECT = 700.0


def check_effects(yi, vi, *, ratio: bool = False, labels=None, paired_nan: bool = True) -> None:
    """Refuse effects and variances the arithmetic cannot carry, in one line naming the study.

    A variance must be a finite number in :data:`VARIANCE_RANGE` (so never ≤ 0 or NaN);
    an effect must be finite with magnitude at most :data:`MAX_EFFECT` (:data:`MAX_LOG_EFFECT`
    on the log scale of a ratio). With ``paired_nan``, a study whose effect *and* variance are
    both NaN is a study marked not estimable and is allowed (it is shown, not pooled).
    """
    y = np.atleast_1d(np.asarray(yi, dtype=float))
    v = np.atleast_1d(np.asarray(vi, dtype=float))
    if y.shape != v.shape:
        raise InputError(f"yi and vi must have the same length ({y.shape[-1]} and {v.shape[-1]})")
    skip = np.isnan(y) & np.isnan(v) if paired_nan else np.zeros(y.shape, bool)
    names = None if labels is None else list(labels)

    def name(i) -> str:
        flat = int(np.ravel_multi_index(i, y.shape)) if isinstance(i, tuple) else int(i)
        if names is not None and y.ndim == 1:
            return f"study '{names[flat]}'"
        return f"study {flat + 1}"

    low, high = VARIANCE_RANGE
    with np.errstate(invalid="ignore"):
        bad_v = ~skip & ~((v >= low) & (v <= high))
        limit = MAX_LOG_EFFECT if ratio else MAX_EFFECT
        bad_y = ~skip & ~(np.abs(y) <= limit)
    if bad_v.any():
        i = tuple(np.argwhere(bad_v)[0])
        value = v[i]
        if np.isnan(value):
            why = "is missing (NaN); give both the effect and its variance, or neither"
        elif value <= 0:
            why = f"is {value:g}; a variance must be above 0"
        else:
            why = f"is {value:g}, outside the range {low:g} to {high:g} in which it can be pooled exactly"
        raise InputError(f"the variance of {name(i)} {why}")
    if bad_y.any():
        i = tuple(np.argwhere(bad_y)[0])
        value = y[i]
        if np.isnan(value):
            why = "is missing (NaN); give both the effect and its variance, or neither"
        else:
            scale = " (log scale)" if ratio else ""
            why = f"is {value:g}{scale}, beyond the largest magnitude that can be pooled ({limit:g})"
        raise InputError(f"the effect of {name(i)} {why}")


#: Control characters that never belong in a cell of a table: C0 controls other than tab,
#: line feed and carriage return (which CSV quoting can carry), DEL and the C1 controls. A
#: NUL or an escape sequence in a study label would be written into every output.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_character(text: str) -> str | None:
    """The first control character of ``text`` as ``U+XXXX``, or None when there is none."""
    match = _CONTROL.search(text)
    return None if match is None else f"U+{ord(match.group()):04X}"


#: Largest continuity correction accepted: the published corrections (½ of Haldane and
#: Anscombe, 1/n, the treatment-arm correction of Sweeting et al., Stat Med 2004) are at most
#: 1 per cell; a larger one outweighs the counts it corrects.
MAX_CONTINUITY_CORRECTION = 1.0


def check_continuity_correction(add: float) -> float:
    """``add`` as a float when it is a finite number in [0, 1]; an :class:`InputError` otherwise
    (``--add inf``, a negative or a NaN correction)."""
    try:
        value = float(add)
    except (TypeError, ValueError):
        raise InputError(f"the continuity correction must be a number, not {add!r}") from None
    if not 0.0 <= value <= MAX_CONTINUITY_CORRECTION:  # also refuses NaN and inf
        raise InputError(
            f"the continuity correction must be between 0 and {MAX_CONTINUITY_CORRECTION:g} "
            f"(0.5 is usual), not {value:g}"
        )
    return value


def natural_scale(x: float, ratio: bool) -> float:
    """``exp(x)`` for a ratio measure (``x`` itself otherwise), ``inf`` where exp overflows
    (a limit of a huge log-scale interval) instead of an OverflowError."""
    if not ratio:
        return x
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf
