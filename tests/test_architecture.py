"""The layout rules of docs/architecture.md that a linter does not check.

- No function in ``trialsynth/stats`` is longer than 100 lines (issue 14 §2: long numerical
  functions are split into named helpers). Counted from the ``def`` line to the last line of the
  body, docstring included, for every function and method (nested ones too).
- One serializer: no result class writes its own ``to_json_dict`` (trialsynth._core.serialize).
- Tests mirror the packages: every test module lives in tests/<package>/ (or is this file).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "trialsynth"
MAX_LINES = 100
PACKAGES = {"_core", "stats", "io", "workflow", "plots", "report", "web", "api", "cli"}
#: Tests of the test suite itself (the layout check, the live-R helper tests/rlive.py).
SUITE_TESTS = {"test_architecture.py", "test_rlive.py"}


def _functions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_no_stats_function_over_100_lines():
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in sorted((SRC / "stats").rglob("*.py"))
        for node in _functions(path)
        if node.end_lineno - node.lineno + 1 > MAX_LINES
    ]
    assert long == []


def test_the_line_count_sees_a_long_function(tmp_path):
    # The counter itself: a 101-line function is found, a 100-line one is not.
    body = "\n".join(f"    x{i} = {i}" for i in range(99))
    (tmp_path / "m.py").write_text(f"def f():\n{body}\n\n\ndef g():\n{body}\n    return 1\n")
    sizes = {n.name: n.end_lineno - n.lineno + 1 for n in _functions(tmp_path / "m.py")}
    assert sizes == {"f": 100, "g": 101}


def test_no_hand_written_json_serializers():
    hand = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted(SRC.rglob("*.py"))
        for node in _functions(path)
        if node.name == "to_json_dict" and path.name != "serialize.py"
    ]
    assert hand == []


def test_tests_mirror_the_packages():
    stray = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("test_*.py")
        if p.parent != ROOT / "tests" or p.name not in SUITE_TESTS
        if p.relative_to(ROOT / "tests").parts[0] not in PACKAGES
    ]
    assert stray == []
    packages = {d.name for d in (ROOT / "tests").iterdir() if (d / "__init__.py").exists()}
    assert packages >= PACKAGES
