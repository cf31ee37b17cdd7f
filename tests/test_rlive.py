"""tests/rlive.py: the live R tests skip, naming the package, on a machine with R and metafor
but without a package their script loads (issue 15: `make test` failed with a
CalledProcessError at library(rpact)); under TRIALSYNTH_REQUIRE_R=1 they fail instead."""

from __future__ import annotations

import os
from pathlib import Path

import _pytest.outcomes
import pytest

from tests import rlive

VALIDATION = Path(__file__).resolve().parents[1] / "validation"


def test_packages_are_read_from_the_script(tmp_path):
    code = (
        "suppressPackageStartupMessages({\n  library(metafor)\n  library('metadat')\n})\n"
        "# library(commented)\n"
        'x <- "library(instring)"\n'
        'if (!requireNamespace("clubSandwich", quietly = TRUE)) stop()\n'
        "y <- numDeriv::hessian(f, 1)\n"
        "z <- stats::qnorm(0.975)\n"
        'source(file.path(here, "helper.R"))\n'
    )
    (tmp_path / "helper.R").write_text("library(lme4)\n", encoding="utf-8")
    script = tmp_path / "s.R"
    script.write_text(code, encoding="utf-8")
    assert rlive.script_packages(script) == ("clubSandwich", "lme4", "metadat", "metafor", "numDeriv")
    assert rlive.script_packages(VALIDATION / "acceptance_fixtures.R") == ("metadat", "metafor", "rpact")


@pytest.fixture
def r_without_rpact(tmp_path, monkeypatch):
    """A stand-in Rscript that has every package but rpact (answers the package probe only)."""
    fake = tmp_path / "Rscript"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$2" in *rpact*) echo rpact ;; esac\n'
        "exit 0\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    monkeypatch.setattr(rlive, "_rscript", lambda: str(fake))
    rlive._missing.cache_clear()
    yield
    rlive._missing.cache_clear()


def test_a_missing_package_skips_naming_it(r_without_rpact, monkeypatch):
    monkeypatch.delenv("TRIALSYNTH_REQUIRE_R", raising=False)
    with pytest.raises(_pytest.outcomes.Skipped) as info:
        rlive.need_r(VALIDATION / "acceptance_fixtures.R")
    assert "R package(s) rpact not installed (loaded by acceptance_fixtures.R)" in str(info.value)
    # A script that does not load rpact runs.
    assert rlive.need_r(VALIDATION / "metafor_fixtures.R").endswith("Rscript")


def test_a_missing_package_fails_when_R_is_required(r_without_rpact, monkeypatch):
    monkeypatch.setenv("TRIALSYNTH_REQUIRE_R", "1")
    with pytest.raises(_pytest.outcomes.Failed, match=r"rpact not installed.*TRIALSYNTH_REQUIRE_R=1"):
        rlive.need_r(VALIDATION / "bayes_tsa_fixtures.R")


def test_no_rscript_skips(monkeypatch):
    monkeypatch.setattr(rlive, "_rscript", lambda: None)
    monkeypatch.delenv("TRIALSYNTH_REQUIRE_R", raising=False)
    with pytest.raises(_pytest.outcomes.Skipped, match="Rscript is not on PATH"):
        rlive.need_r(VALIDATION / "metafor_fixtures.R")


def test_every_live_test_uses_the_shared_check():
    """No test runs Rscript by itself: each goes through tests/rlive.py."""
    tests = Path(__file__).resolve().parent
    offenders = []
    for path in tests.rglob("*.py"):
        if path.name in ("rlive.py", "test_rlive.py"):
            continue
        text = path.read_text(encoding="utf-8")
        if 'which("Rscript")' in text or '["Rscript"' in text:
            offenders.append(str(path.relative_to(tests)))
    assert not offenders, offenders
    assert os.path.exists(VALIDATION / "acceptance_fixtures.R")
