"""Progress of the batch engine per chunk (issue 16 §3): ``fit_batch(..., progress=True)`` fits the
rows in nearly equal chunks, reports each finished chunk as a step of the task "Fits"
(trialsynth._core.progress), and returns, to the bit, the arrays of one call over the whole stack
(every row is fitted on its own; each chunk holds over ``SMALL`` values, so it takes the same
tail-area path of trialsynth._core.dist as the whole stack). The bar is drawn on a terminal only."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import trialsynth as ts
from tests.progress_helpers import Recorder, run_on_terminal
from trialsynth._core.errors import InputError
from trialsynth._core.progress import listening
from trialsynth.stats.batch import compiled_available, fit_batch

SRC = Path(__file__).resolve().parents[2] / "src"
ENGINES = ["numpy", *(["compiled"] if compiled_available() else [])]


def _stack(n: int = 2503, k: int = 9):
    """Random meta-analyses of up to k studies, with rows of 0, 1 and 2 studies among them."""
    rng = np.random.default_rng(20261206)
    yi = rng.normal(0.0, 0.5, (n, k))
    vi = rng.uniform(0.01, 0.3, (n, k))
    mask = rng.random((n, k)) < 0.7
    mask[:5] = False
    mask[5:10, 1:] = False
    mask[10:15, 2:] = False
    return np.where(mask, yi, np.nan), np.where(mask, vi, np.nan), mask


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("method", "hk", "tau2_ci"), [("REML", False, True), ("DL", True, False), ("PM", True, True)]
)
def test_chunks_give_the_numbers_of_one_call_and_one_step_each(engine, method, hk, tau2_ci):
    yi, vi, mask = _stack()
    options = {"method": method, "hk": hk, "tau2_ci": tau2_ci, "weights": True, "engine": engine}
    with np.errstate(all="ignore"):
        whole = fit_batch(yi, vi, mask, **options)
        log: list = []
        with listening(lambda description, total: Recorder(log, description, total)):
            chunked = fit_batch(yi, vi, mask, progress=True, chunk_size=1000, **options)
    # 2503 rows in chunks of at most 1000: ⌈2503/1000⌉ = 3 chunks, 834, 834 and 835 rows.
    assert log == [
        ("start", "Fits", 2503),
        ("advance", 834, "834 of 2,503"),
        ("advance", 834, "1,668 of 2,503"),
        ("advance", 835, "2,503 of 2,503"),
        ("close",),
    ]
    assert chunked.engine == whole.engine and chunked.method == whole.method
    arrays = whole.arrays()
    assert set(arrays) == set(chunked.arrays())
    for name, value in arrays.items():
        got = getattr(chunked, name)
        assert got.shape == value.shape and got.dtype == value.dtype, name
        assert np.array_equal(got, value, equal_nan=True), name


def test_batch_shape_is_kept_and_one_chunk_is_one_call():
    yi, vi, mask = _stack(2400, 6)
    shape = (40, 60, 6)
    with np.errstate(all="ignore"):
        whole = fit_batch(yi.reshape(shape), vi.reshape(shape), mask.reshape(shape), weights=True)
        log: list = []
        with listening(lambda description, total: Recorder(log, description, total)):
            chunked = fit_batch(
                yi.reshape(shape),
                vi.reshape(shape),
                mask.reshape(shape),
                weights=True,
                progress=True,
                chunk_size=1000,
            )
            single = fit_batch(yi[0], vi[0], progress=True)  # one meta-analysis: batch shape ()
    assert chunked.estimate.shape == (40, 60) and chunked.weights.shape == shape
    for name, value in whole.arrays().items():
        assert np.array_equal(getattr(chunked, name), value, equal_nan=True), name
    assert single.estimate.shape == ()
    assert [e[1] for e in log if e[0] == "advance"] == [800, 800, 800, 1]


@pytest.mark.parametrize("size", [0, 999, 2.5, True])
def test_chunk_size_below_the_minimum_is_an_input_error(size):
    yi, vi, mask = _stack(10, 3)
    with pytest.raises(InputError, match="chunk_size must be a whole number of at least 1,000"):
        fit_batch(yi, vi, mask, progress=True, chunk_size=size)


def test_api_progress_draws_nothing_when_not_a_terminal(capfd):
    yi, vi, mask = _stack(2100, 4)
    with np.errstate(all="ignore"):
        fit = ts.fit_batch(yi, vi, mask, method="DL", progress=True, chunk_size=1000)
    assert fit.estimate.shape == (2100,)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_api_progress_draws_a_bar_on_a_terminal():
    code = (
        "import numpy as np, trialsynth as ts\n"
        "rng = np.random.default_rng(1)\n"
        "fit = ts.fit_batch(rng.normal(size=(3000, 5)), np.full((3000, 5), 0.1), method='DL',"
        " progress=True, chunk_size=1000, engine='numpy')\n"
        "assert fit.estimate.shape == (3000,)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    status, stderr = run_on_terminal([sys.executable, "-c", code], env)
    assert status == 0, stderr[-2000:]
    assert "Fits" in stderr and "3000/3000" in stderr
    status, stderr = run_on_terminal(
        [sys.executable, "-c", code.replace("progress=True", "progress=False")], env
    )
    assert status == 0 and "Fits" not in stderr
