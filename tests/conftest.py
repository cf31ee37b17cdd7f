"""Shared test configuration: custom markers."""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "against_R: runs R/metafor live (needs Rscript with metafor and metadat; "
        "skips without it unless TRIALSYNTH_REQUIRE_R=1)",
    )
