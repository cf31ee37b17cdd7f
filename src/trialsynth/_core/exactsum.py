"""Exact sums of float64 values, whatever their order or grouping.

A simulation study adds up millions of per-replication errors in chunks whose size and order
depend on the number of workers. Floating-point addition is not associative, so an ordinary
running sum would change in its last bits with the chunking. :class:`ExactSum` keeps the exact
value instead: every finite double is m·2^e with an integer |m| < 2^53, and the sum is kept as one
Python integer per exponent, so adding chunks in any order, or merging partial sums from several
workers, gives the same exact rational number; :meth:`ExactSum.fraction` returns it and
``float()`` rounds it once, correctly (as :func:`math.fsum` would over all the values).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

#: Values per bincount: the per-exponent sums of the 27-bit halves then stay below 2^51, exact.
_PIECE = 1 << 24


class ExactSum:
    """The exact sum of the float64 values added, kept as integers per binary exponent."""

    __slots__ = ("_terms",)

    def __init__(self) -> None:
        self._terms: dict[int, int] = {}

    def add(self, values) -> ExactSum:
        """Add every element of ``values`` (finite float64; NaN or infinity is an error)."""
        x = np.asarray(values, dtype=float).ravel()
        if not np.isfinite(x).all():
            raise ValueError("ExactSum.add needs finite values")
        x = x[x != 0]
        for start in range(0, x.size, _PIECE):
            self._add_piece(x[start : start + _PIECE])
        return self

    def _add_piece(self, x: np.ndarray) -> None:
        if x.size == 0:
            return
        mant, exp = np.frexp(x)  # x = mant·2^exp, 0.5 ≤ |mant| < 1
        m = mant * 2.0**53  # an integer, |m| < 2^53 (exact: a power-of-two scaling)
        hi = np.trunc(m * 2.0**-26)  # |hi| < 2^27, exact
        lo = m - hi * 2.0**26  # |lo| < 2^26, exact
        e0 = int(exp.min())
        idx = exp - e0
        # Sums of at most 2^24 integers below 2^27 in magnitude are exact in float64.
        s_hi = np.bincount(idx, weights=hi)
        s_lo = np.bincount(idx, weights=lo)
        for j in np.nonzero((s_hi != 0) | (s_lo != 0))[0]:
            e = e0 + int(j) - 53
            self._terms[e] = self._terms.get(e, 0) + (int(s_hi[j]) << 26) + int(s_lo[j])

    def merge(self, other: ExactSum) -> ExactSum:
        """Add another exact sum into this one."""
        for e, v in other._terms.items():
            self._terms[e] = self._terms.get(e, 0) + v
        return self

    def fraction(self) -> Fraction:
        """The exact sum as a rational number."""
        if not self._terms:
            return Fraction(0)
        emin = min(self._terms)
        total = sum(v << (e - emin) for e, v in self._terms.items())
        return Fraction(total) * Fraction(2) ** emin

    def __float__(self) -> float:
        return float(self.fraction())

    def __getstate__(self):
        return self._terms

    def __setstate__(self, state) -> None:
        self._terms = state
