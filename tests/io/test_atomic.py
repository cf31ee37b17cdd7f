"""Atomic writes (trialsynth.io.atomic) and `trialsynth run` killed at random moments (issue 15,
"Lost or mixed output": 16 of 16 kills left a mix of old and new files before the fix)."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flow_review import FLOW
from trialsynth.io import atomic
from trialsynth.io.atomic import replace_file, replace_folder

SRC = Path(__file__).resolve().parents[2] / "src"


def manifest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path → SHA-256 of its bytes)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_replace_file_writes_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "a.csv"
    replace_file(target, "old\n")
    assert target.read_bytes() == b"old\n"
    replace_file(target, b"new\n")
    assert target.read_bytes() == b"new\n"

    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", broken)
    with pytest.raises(OSError):
        replace_file(target, "third\n")
    assert target.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]  # no temporary file left behind


def test_replace_folder_swaps_on_success_and_keeps_the_old_folder_on_error(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), replace_folder(out) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("the run failed half-way")
    assert manifest(out) == {"old.txt": hashlib.sha256(b"old").hexdigest()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with replace_folder(out) as tmp:
        assert tmp.parent == out.parent and tmp != out
        (tmp / "new.txt").write_text("new")
        assert (out / "old.txt").exists()  # the old run stays until the new one is complete
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_replace_folder_without_an_atomic_exchange(tmp_path, monkeypatch):
    # The portable path (rename the old folder away, the new one in, delete the old).
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with replace_folder(out) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_leftovers_of_a_killed_process_are_tidied(tmp_path):
    code = "import os; print(os.getpid())"
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    out = tmp_path / "out"
    # Killed between "rename old away" and "rename new in" (portable path): out is missing.
    old = tmp_path / f".out{atomic._OLD_TAG}{pid}-x"
    old.mkdir()
    (old / "old.txt").write_text("old")
    half = tmp_path / f".out{atomic._TMP_TAG}{pid}-y"
    half.mkdir()
    (half / "partial.txt").write_text("par")
    with pytest.raises(RuntimeError), replace_folder(out):
        raise RuntimeError("stop before the swap")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]


def test_a_file_in_place_of_the_output_folder_is_an_input_error(tmp_path):
    from trialsynth._core.errors import InputError

    (tmp_path / "out").write_text("x")
    with pytest.raises(InputError, match="not a folder"), replace_folder(tmp_path / "out"):
        pass


def test_run_refuses_an_output_folder_it_must_not_replace(tmp_path):
    """A run replaces its output folder whole, so it refuses ``--out`` holding other files
    (``--out ~/Documents``) or the review folder itself."""
    from trialsynth._core.errors import InputError
    from trialsynth.report.review import run_review

    review = tmp_path / "review"
    shutil.copytree(FLOW, review)
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "thesis.docx").write_text("years of work")
    with pytest.raises(InputError, match="holds no earlier run"):
        run_review(review, documents)
    assert (documents / "thesis.docx").read_text() == "years of work"
    for out in (review, tmp_path):
        with pytest.raises(InputError, match="would hold the review folder itself"):
            run_review(review, out)
    assert manifest(review) == manifest(FLOW)


def _run(out: Path, review: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "MPLBACKEND": "Agg"}
    return subprocess.Popen(
        [sys.executable, "-m", "trialsynth", "run", str(review), "--out", str(out), "--no-pdf"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_runs(tmp_path: Path, kills: int, seed: int) -> None:
    """Run the flow review over an earlier output folder and SIGKILL it at ``kills`` seeded
    random moments: each time the folder must be the old output or the complete new one."""
    reference = tmp_path / "reference"
    start = time.monotonic()
    assert _run(reference, FLOW).wait(timeout=600) == 0
    duration = time.monotonic() - start
    new = manifest(reference)
    assert "report.html" in new and "results.json" in new and any(k.startswith("figures/") for k in new)
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "report.html").write_text("<p>the previous run</p>")
    (out / "results.json").write_text('{"previous": true}\n')
    (out / "figures" / "forest-old.svg").write_text("<svg/>")
    old = manifest(out)
    rng = random.Random(seed)
    seen = {"old": 0, "new": 0}
    for _ in range(kills):
        if manifest(out) == new:  # start each kill from the old output
            with replace_folder(out) as tmp:
                (tmp / "figures").mkdir()
                (tmp / "report.html").write_text("<p>the previous run</p>")
                (tmp / "results.json").write_text('{"previous": true}\n')
                (tmp / "figures" / "forest-old.svg").write_text("<svg/>")
        process = _run(out, FLOW)
        time.sleep(rng.uniform(0.2, 1.0) * duration)
        process.send_signal(signal.SIGKILL)
        process.wait()
        now = manifest(out)
        assert now in (old, new), f"mixed or truncated output after a kill: {sorted(set(now) ^ set(new))[:5]}"
        seen["old" if now == old else "new"] += 1
    # The next write to the folder clears the dead processes' temporary folders.
    with replace_folder(out) as tmp:
        (tmp / "x").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "reference"]


def test_run_killed_at_random_moments_leaves_old_or_new_output(tmp_path):
    _kill_runs(tmp_path, kills=2, seed=15)


@pytest.mark.slow
def test_run_killed_at_many_random_moments(tmp_path):
    _kill_runs(tmp_path, kills=10, seed=1515)
