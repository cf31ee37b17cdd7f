"""`trialsynth run` on the bundled reviews, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trialsynth", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


@pytest.fixture(scope="module")
def crt_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("run")
    out = run_cli("run", cwd=work)
    assert out.returncode == 0, out.stderr
    return work / "out" / "imaging-guided-crt", out


def test_default_run_writes_report_results_and_figures(crt_run):
    folder, out = crt_run
    assert "report.html" in out.stdout
    for name in (
        "results.json",
        "report.html",
        "report.docx",
        "results.xlsx",
        "included.ris",
        "included.bib",
    ):
        assert (folder / name).is_file()
    figures = sorted(p.name for p in (folder / "figures").iterdir())
    assert any(f.endswith(".svg") for f in figures) and any(f.endswith(".png") for f in figures)


def test_results_json_natural_scale_and_reported(crt_run):
    folder, _ = crt_run
    doc = json.loads((folder / "results.json").read_text())
    by = {(o["analysis_set"], o["outcome"]): o for o in doc["outcomes"]}
    primary = by[("paper", "death_hfh")]
    # STARTER's HR 0.48 (0.28–0.82) is the only trial with data: shown, not pooled, natural scale.
    assert primary["k"] == 1 and primary["pooled"] is False
    assert primary["estimate"] == pytest.approx(0.48, rel=1e-12)
    assert primary["reported"]["estimate"] == 0.60
    assert primary["reported"]["ci_lower"] == 0.40 and primary["reported"]["ci_upper"] == 0.88
    for key in ("name", "measure", "k", "estimate", "ci_lower", "ci_upper", "p_value"):
        assert key in primary
    # Outcomes without any data still appear, with the paper's values and no estimate.
    walk = by[("paper", "walk6")]
    assert walk["k"] == 0 and walk["estimate"] is None and walk["reported"]["estimate"] == 25.78
    # Every data gap is listed, including the unconfirmed fourth trial.
    gaps = {(g["study"], g["outcome"]) for g in doc["data_gaps"]}
    assert ("borgquist", "death_hfh") in gaps and ("target", "death_hfh") in gaps
    # The living set replaces ImagingCRT's 2016 entry with the 2022 long-term result.
    living = by[("living", "death_hfh")]
    assert living["studies_with_data"] == ["starter", "imagingcrt"]
    assert [c["added"] for c in living["cumulative"]] == ["starter", "imagingcrt"]


def test_rerun_gives_byte_identical_results(crt_run, tmp_path):
    folder, _ = crt_run
    out = run_cli(
        "run", str(ROOT / "examples" / "imaging-guided-crt"), "--out", str(tmp_path / "again"), cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    for name in ("results.json", "report.docx", "results.xlsx", "included.ris", "included.bib"):
        assert (tmp_path / "again" / name).read_bytes() == (folder / name).read_bytes(), name


def test_crt_word_and_excel_carry_the_results(crt_run):
    """The CRT review's Word summary table and Excel index hold results.json's numbers (STARTER's
    HR 0.48 (0.28 to 0.82), the only trial with data for the primary outcome in the paper's set)."""
    import docx
    from openpyxl import load_workbook

    folder, _ = crt_run
    doc = json.loads((folder / "results.json").read_text())
    d = docx.Document(str(folder / "report.docx"))
    summary = next(
        t
        for t in d.tables
        if [c.text for c in t.rows[0].cells][:3] == ["Outcome", "Trials with data", "Recomputed"]
    )
    assert summary.rows[1].cells[2].text == "HR = 0.48; 95% CI = 0.28–0.82; p = .007"
    rows = list(load_workbook(folder / "results.xlsx")["Analyses"].iter_rows(values_only=True))
    index = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [(r["analysis_set"], r["outcome"]) for r in index] == [
        (o["analysis_set"], o["outcome"]) for o in doc["outcomes"]
    ]
    for r, o in zip(index, doc["outcomes"], strict=True):
        assert r["estimate"] == (None if o["estimate"] is None else pytest.approx(o["estimate"], rel=1e-15))


def test_report_is_self_contained_and_escaped(crt_run):
    folder, _ = crt_run
    html = (folder / "report.html").read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert "<script" not in html.lower()
    assert "HR = 0.48; 95% CI = 0.28–0.82" in html
    assert "Data gaps" in html and "Borgquist" in html


def test_bcg_review_runs_with_subgroups_and_cumulative(tmp_path):
    out = run_cli("run", str(ROOT / "examples" / "bcg"), "--out", str(tmp_path / "bcg"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "bcg" / "results.json").read_text())
    (tb,) = doc["outcomes"]
    assert tb["k"] == 13 and tb["pooled"] is True
    assert len(tb["cumulative"]) == 13 and len(tb["leave_one_out"]) == 13
    assert tb["subgroups"][0]["column"] == "allocation"
    # 13 pooled trials: the report has a Baujat and a Galbraith plot, saved in all formats.
    figures = {p.name for p in (tmp_path / "bcg" / "figures").iterdir()}
    for kind in ("baujat", "radial"):
        assert {f"{kind}-main-tb.{ext}" for ext in ("svg", "png", "pdf")} <= figures
    report = (tmp_path / "bcg" / "report.html").read_text()
    assert "Baujat plot (Baujat et al. 2002)" in report and "Galbraith (radial) plot" in report


def test_missing_review_folder_exits_2(tmp_path):
    out = run_cli("run", str(tmp_path / "nope"), cwd=tmp_path)
    assert out.returncode == 2
    assert "nope" in out.stderr and "Traceback" not in out.stderr
