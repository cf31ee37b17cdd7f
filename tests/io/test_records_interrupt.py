"""An import killed in the middle (SIGKILL) leaves the store consistent: all of the file or none."""

import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

from trialsynth._core.errors import TrialsynthWarning
from trialsynth.io.records.importing import import_file
from trialsynth.io.records.store import STORE_NAME, open_store

N = 30_000


def _big_medline(path):
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for i in range(N):
            out.write(
                f"PMID- {40000000 + i}\nDP  - 2020 Jan\nTI  - Generated trial number {i} of lead placement\n"
                f"      with a continuation line.\nFAU - Author{i}, Test\nAB  - An abstract of record {i}. "
                + "Words " * 20
                + "\n\n"
            )


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_import_leaves_all_or_nothing(tmp_path):
    source = tmp_path / "big.nbib"
    _big_medline(source)
    review = tmp_path / "review"
    review.mkdir()
    with open_store(review):
        pass  # the store exists before the import starts, so its WAL can be watched
    wal = review / (STORE_NAME + "-wal")
    process = subprocess.Popen(
        [sys.executable, "-m", "trialsynth", "records", "import", str(review), str(source)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Kill it once the write transaction has started writing records (the WAL grows).
    deadline = time.monotonic() + 120
    killed_midway = False
    while time.monotonic() < deadline and process.poll() is None:
        if wal.exists() and wal.stat().st_size > 1_000_000:
            os.kill(process.pid, signal.SIGKILL)
            killed_midway = True
            break
        time.sleep(0.002)
    process.wait(timeout=60)
    with open_store(review) as store:
        assert store.integrity_check() == "ok"
        stored = store.count_records()
        imports = store.imports()
        assert stored in (0, N)
        assert [i.n_records for i in imports] == ([N] if stored else [])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrialsynthWarning)
            outcome = import_file(store, source)
        if stored == 0:
            assert outcome.info is not None and store.count_records() == N  # re-import works
        else:
            assert outcome.info is None and "already imported" in outcome.message
    assert killed_midway, "the import finished before it could be killed; make the file larger"
