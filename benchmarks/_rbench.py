"""Run one of the benchmark R scripts beside this file on a table written to a temporary CSV.

The scripts print ``key value`` lines (timings, estimates); :func:`run_r` returns them as a
dict of strings, or None (with the reason on stderr) when Rscript is missing or fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def run_r(script: str, csv_text: str, *args: object) -> dict[str, str] | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        path.write_text(csv_text, encoding="utf-8")
        proc = subprocess.run(
            [rscript, str(Path(__file__).with_name(script)), str(path), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
    if proc.returncode != 0:
        print(f"metafor: Rscript failed: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
