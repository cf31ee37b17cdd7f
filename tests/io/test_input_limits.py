"""Input size limits (issue 15, "Scale of input": `pool` read a 200 MB CSV for more than 300 s):
files above a documented limit are refused before they are read, with a one-line message
naming the limit and the variable that changes it (docs/limits.md)."""

from __future__ import annotations

import os
import time

import pytest
from click.testing import CliRunner

from trialsynth._core.errors import InputError
from trialsynth.cli import main
from trialsynth.io.poolcsv import read_pool_csv

HEADER = "study,events_treatment,n_treatment,events_control,n_control\n"


def _table(path, rows: int):
    path.write_text(HEADER + "".join(f"s{i},{i % 7 + 1},50,{i % 5 + 1},50\n" for i in range(rows)))
    return path


def test_pool_refuses_a_200_mb_file_at_once(tmp_path, monkeypatch):
    monkeypatch.delenv("TRIALSYNTH_MAX_TABLE_MB", raising=False)
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:  # sparse: 200 MB on paper, nothing on disk
        handle.write(HEADER.encode())
        handle.truncate(200 * 1_000_000)
    start = time.monotonic()
    result = CliRunner().invoke(main, ["pool", str(big), "--measure", "OR"])
    assert time.monotonic() - start < 5
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line
    assert line == (
        f"error: {big}: the file is larger than 50 MB, the limit for this kind of file "
        "(set TRIALSYNTH_MAX_TABLE_MB to change it)"
    )


def test_the_limits_are_set_by_environment_variables(tmp_path, monkeypatch):
    path = _table(tmp_path / "t.csv", 40)
    assert len(read_pool_csv(path, measure="OR").labels) == 40
    monkeypatch.setenv("TRIALSYNTH_MAX_TABLE_MB", "0.0005")  # 500 bytes
    with pytest.raises(InputError, match=r"larger than 0.0005 MB.*TRIALSYNTH_MAX_TABLE_MB"):
        read_pool_csv(path, measure="OR")
    monkeypatch.delenv("TRIALSYNTH_MAX_TABLE_MB")
    monkeypatch.setenv("TRIALSYNTH_MAX_TABLE_ROWS", "39")
    with pytest.raises(InputError) as info:
        read_pool_csv(path, measure="OR")
    assert str(info.value) == (
        f"{path}: the table has 40 rows, more than the limit of 39 "
        "(set TRIALSYNTH_MAX_TABLE_ROWS to change it)"
    )
    monkeypatch.setenv("TRIALSYNTH_MAX_TABLE_ROWS", "40")
    assert len(read_pool_csv(path, measure="OR").labels) == 40
    for bad in ("0", "-1", "lots", "nan", "inf"):
        monkeypatch.setenv("TRIALSYNTH_MAX_TABLE_ROWS", bad)
        with pytest.raises(InputError, match=f"TRIALSYNTH_MAX_TABLE_ROWS is '{bad}', not a positive number"):
            read_pool_csv(path, measure="OR")


def test_review_folder_csv_and_record_imports_are_limited(tmp_path, monkeypatch):
    from tests.flow_review import copy_flow
    from trialsynth.io.records.importing import import_file
    from trialsynth.io.records.store import open_store
    from trialsynth.io.review import load_review

    folder = copy_flow(tmp_path)
    size = os.path.getsize(folder / "outcomes.csv")
    monkeypatch.setenv("TRIALSYNTH_MAX_TABLE_MB", str((size - 1) / 1e6))
    with pytest.raises(InputError, match="TRIALSYNTH_MAX_TABLE_MB"):
        load_review(folder)
    monkeypatch.setenv("TRIALSYNTH_MAX_TABLE_MB", "0.000001")  # 1 byte: review.toml is read first
    with pytest.raises(InputError) as info:
        load_review(folder)
    assert str(info.value).startswith(f"{folder / 'review.toml'}: the file is larger than 1e-06 MB")
    monkeypatch.delenv("TRIALSYNTH_MAX_TABLE_MB")
    ris = tmp_path / "a.ris"
    ris.write_text("TY  - JOUR\nTI  - A trial\nER  - \n" * 50, encoding="utf-8")
    (tmp_path / "review").mkdir()
    monkeypatch.setenv("TRIALSYNTH_MAX_RECORDS_MB", "0.001")
    with (
        open_store(tmp_path / "review") as store,
        pytest.raises(InputError, match="TRIALSYNTH_MAX_RECORDS_MB"),
    ):
        import_file(store, ris)


def test_help_names_the_limits():
    out = CliRunner().invoke(main, ["pool", "--help"]).output
    assert "TRIALSYNTH_MAX_TABLE_MB" in out and "TRIALSYNTH_MAX_TABLE_ROWS" in out
    out = CliRunner().invoke(main, ["records", "import", "--help"]).output
    assert "TRIALSYNTH_MAX_RECORDS_MB" in out
