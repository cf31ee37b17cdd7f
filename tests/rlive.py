"""The live R checks: one place that decides whether a test that runs R can run here.

Every test that re-runs a script of validation/ (or an ``Rscript -e`` line) calls
:func:`need_r` or :func:`run_r_script`. The R packages are read from the script itself
(``library(x)``, ``require(x)``, ``requireNamespace("x")``, ``x::f``), so a script that
starts loading a new package is covered without touching its test. When Rscript or a package
is missing the test is skipped with a reason naming what is missing; with
``TRIALSYNTH_REQUIRE_R=1`` (set by .ci/run) it fails instead.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

#: Packages that ship with R itself (never missing where Rscript runs).
BASE_PACKAGES = frozenset(
    "base compiler datasets graphics grDevices grid methods parallel splines stats stats4 tcltk tools"
    " utils".split()
)

_LOAD = re.compile(
    r"""\b(?:library|require|requireNamespace|loadNamespace)\s*\(\s*(?:package\s*=\s*)?["']?([A-Za-z][A-Za-z0-9.]*)["']?"""
)
_NAMESPACE = re.compile(r"\b([A-Za-z][A-Za-z0-9.]*):::?[A-Za-z._]")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')


def required() -> bool:
    return os.environ.get("TRIALSYNTH_REQUIRE_R") == "1"


def _code(text: str) -> str:
    """``text`` without comments (a ``#`` outside a string starts one)."""
    lines = []
    for line in text.splitlines():
        out, i = [], 0
        while i < len(line):
            c = line[i]
            if c in "\"'":
                match = _STRING.match(line, i)
                end = match.end() if match else len(line)
                out.append(line[i:end])
                i = end
                continue
            if c == "#":
                break
            out.append(c)
            i += 1
        lines.append("".join(out))
    return "\n".join(lines)


def script_packages(script: Path | str, _seen: frozenset[Path] = frozenset()) -> tuple[str, ...]:
    """The R packages ``script`` loads (file path, or R code), base packages left out; a
    script that sources a sibling file (``source(file.path(here, "json.R"))``) loads that
    file's packages too."""
    text = Path(script).read_text(encoding="utf-8") if isinstance(script, Path) else script
    code = _code(text)
    # Strings other than a bare name ("metafor") cannot be a package argument: blank them so
    # that R code inside a string ("library(x)" in a message) is not read as a load.
    names_only = _STRING.sub(
        lambda m: m.group(0) if re.fullmatch(r"[\"'][A-Za-z][A-Za-z0-9.]*[\"']", m.group(0)) else '""', code
    )
    found = set(_LOAD.findall(names_only))
    found |= set(_NAMESPACE.findall(_STRING.sub('""', code)))  # pkg::f outside strings
    if isinstance(script, Path):
        sourced = [line for line in code.splitlines() if re.search(r"\bsource\s*\(", line)]
        for name in re.findall(r"""["']([\w.-]+\.R)["']""", "\n".join(sourced)):
            sibling = script.parent / name
            if sibling.is_file() and sibling not in _seen:
                found |= set(script_packages(sibling, _seen | {script}))
    return tuple(sorted(found - BASE_PACKAGES))


@functools.cache
def _rscript() -> str | None:
    return shutil.which("Rscript")


@functools.cache
def _missing(packages: tuple[str, ...]) -> tuple[str, ...]:
    """Which of ``packages`` R cannot load (one Rscript call per set, cached)."""
    if not packages:
        return ()
    vector = ", ".join(f'"{p}"' for p in packages)
    code = f'for (p in c({vector})) if (!requireNamespace(p, quietly = TRUE)) cat(p, "\\n", sep = "")'
    try:
        proc = subprocess.run([_rscript(), "-e", code], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return packages
    if proc.returncode != 0:
        return packages
    return tuple(line.strip() for line in proc.stdout.splitlines() if line.strip())


def _unavailable(reason: str):
    if required():
        pytest.fail(f"{reason}, and TRIALSYNTH_REQUIRE_R=1")
    pytest.skip(f"{reason}; set TRIALSYNTH_REQUIRE_R=1 to make this fail")


def need_r(script: Path | str | None = None, packages: Iterable[str] = ()) -> str:
    """The path of Rscript, when it and every package ``script`` loads (and ``packages``) are
    installed; otherwise skip (or fail under TRIALSYNTH_REQUIRE_R=1) naming what is missing."""
    rscript = _rscript()
    if rscript is None:
        _unavailable("Rscript is not on PATH (Debian: apt-get install r-base-core)")
    wanted = set(packages) | set(script_packages(script) if script is not None else ())
    missing = _missing(tuple(sorted(wanted - BASE_PACKAGES)))
    if missing:
        by = f" (loaded by {Path(script).name})" if isinstance(script, Path) else ""
        debian = " ".join(f"r-cran-{p.lower()}" for p in missing)
        _unavailable(f"R package(s) {', '.join(missing)} not installed{by} (Debian: {debian})")
    return rscript


def run_r_script(script: Path, *args: object, timeout: float = 1200, cwd: Path | None = None):
    """Run ``Rscript script args...`` after :func:`need_r`; a failure of the script fails the
    test with the end of its output."""
    rscript = need_r(script)
    proc = subprocess.run(
        [rscript, str(script), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )
    if proc.returncode != 0:
        pytest.fail(f"{script.name} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}")
    return proc


def run_r_code(code: str, *, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``Rscript -e code`` after :func:`need_r` on the packages ``code`` loads."""
    rscript = need_r(code)
    proc = subprocess.run([rscript, "-e", code], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"Rscript -e failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return proc
