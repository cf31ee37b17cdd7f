"""ExactSum (trialsynth._core.exactsum): exact float sums, checked against math.fsum and Fraction."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from trialsynth._core.exactsum import ExactSum


def test_exact_sum_is_math_fsum_in_any_grouping():
    rng = np.random.default_rng(7)
    x = rng.normal(size=5000) * np.exp(rng.normal(size=5000) * 30)
    whole = ExactSum().add(x)
    assert float(whole) == math.fsum(x)
    merged = ExactSum()
    for part in np.array_split(rng.permutation(x), 13):
        merged.merge(ExactSum().add(part))
    assert merged.fraction() == whole.fraction() == sum(Fraction(v) for v in x)
    with pytest.raises(ValueError):
        ExactSum().add([1.0, math.nan])
