"""Tests for trialsynth.io.review: the review folder format and the two bundled reviews.

The CRT numbers are checked against the evidence dossier (/work/shared/crt-evidence.md, which
cites each trial's abstract); the BCG numbers against R's metadat::dat.bcg (Colditz et al.,
JAMA 1994), live when R is available. Every error test breaks one thing in a copy of a bundled
folder and checks that the InputError names the file and the line, or the row and column.
"""

from __future__ import annotations

import csv
import io
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.rlive import run_r_code
from trialsynth._core.errors import InputError
from trialsynth.io.poolcsv import parse_pool_table
from trialsynth.io.review import DATA_COLUMNS, DEFAULT_MODEL, load_review
from trialsynth.io.review._toml import key_lines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CRT = EXAMPLES / "imaging-guided-crt"
BCG = EXAMPLES / "bcg"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def crt():
    return load_review(CRT)


@pytest.fixture(scope="module")
def bcg():
    return load_review(BCG)


def copy(tmp_path: Path, source: Path = CRT) -> Path:
    folder = tmp_path / source.name
    shutil.copytree(source, folder)
    return folder


def replace_text(path: Path, old: str, new: str) -> str:
    """Replace the one occurrence of ``old`` in a file; return the new text."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path.name}"
    text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return text


def line_of(text: str, marker: str) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), start=1) if marker in line]
    assert len(lines) == 1, (marker, lines)
    return lines[0]


def edit_csv(path: Path, change: Callable[[list[list[str]]], None]) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    change(rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def set_cell(path: Path, match: dict[str, str], column: str, value: str) -> int:
    """Set ``column`` in the one row matching ``match``; return its row number (header = 1)."""
    found: list[int] = []

    def change(rows: list[list[str]]) -> None:
        header = rows[0]
        for i, row in enumerate(rows[1:], start=2):
            if all(row[header.index(k)] == v for k, v in match.items()):
                found.append(i)
                row[header.index(column)] = value

    edit_csv(path, change)
    assert len(found) == 1, found
    return found[0]


def load_error(folder: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_review(folder)
    return info.value


def assert_toml_error(error: InputError, folder: Path, line: int, *words: str) -> None:
    source = str(folder / "review.toml")
    assert error.file == source
    assert error.row == line
    assert str(error).startswith(f"{source}, line {line}: "), str(error)
    assert "\n" not in str(error)
    for word in words:
        assert word in str(error), (word, str(error))


def assert_csv_error(
    error: InputError, folder: Path, name: str, row: int | None, column: str | None, *words: str
) -> None:
    source = str(folder / name)
    assert error.file == source
    assert error.row == row
    assert error.column == column
    where = (
        [source] + ([f"row {row}"] if row is not None else []) + ([f"column '{column}'"] if column else [])
    )
    assert str(error).startswith(", ".join(where) + ": "), str(error)
    assert "\n" not in str(error)
    for word in words:
        assert word in str(error), (word, str(error))


# --------------------------------------------------------------------------- the bundled reviews


def test_crt_review_loads(crt) -> None:
    assert crt.title.startswith("Imaging-guided cardiac resynchronization therapy")
    assert [s.id for s in crt.analysis_sets] == ["paper", "living"]
    assert crt.primary_set == "paper"
    assert [o.id for o in crt.outcomes] == ["death_hfh", "response", "nyha", "walk6", "mlhfq", "lvef"]
    assert [(o.measure, o.better) for o in crt.outcomes] == [
        ("HR", "lower"),
        ("OR", "higher"),
        ("OR", "higher"),
        ("MD", "higher"),
        ("MD", "lower"),
        ("MD", "higher"),
    ]
    assert crt.outcome("death_hfh").primary
    assert crt.analysis.profile == "revman"
    for outcome in crt.outcomes:
        assert (outcome.model.method, outcome.model.hk, outcome.model.origin) == ("DL", False, "analysis")
        assert "assum" in outcome.model.assumption.lower()
        assert [(m.method, m.hk) for m in outcome.sensitivity] == [("FE", False), ("REML", True)]
        assert outcome.label_treatment == "Favours imaging-guided"
        assert outcome.label_control == "Favours control"
    assert crt.outcome("walk6").unit == "m"
    assert [s.column for s in crt.subgroups] == ["imaging_approach"]
    assert crt.cumulative is not None and crt.cumulative.order_by == "year"
    # The abstract names no databases: nothing is invented.
    assert crt.search.databases == () and crt.search.queries == ()
    assert "not state" in crt.search.note


def test_crt_studies_as_in_the_dossier(crt) -> None:
    rows = {s.id: s for s in crt.studies}
    assert list(rows) == ["target", "starter", "imagingcrt", "borgquist", "raise_crt"]
    expected = {"target": (110, 110, 2012), "starter": (110, 77, 2013), "imagingcrt": (89, 93, 2016)}
    for study_id, (n_t, n_c, year) in expected.items():
        study = rows[study_id]
        assert (study.n_randomised_treatment, study.n_randomised_control, study.year) == (n_t, n_c, year)
        assert study.analysis_sets == ("paper", "living")
    # 220 + 187 + 182 = 589 of the paper's 691 patients.
    assert sum(rows[s].n_randomised_treatment + rows[s].n_randomised_control for s in expected) == 589
    borgquist = rows["borgquist"]
    assert borgquist.unconfirmed and borgquist.n_randomised_treatment is None
    assert "691 - 589 = 102" in borgquist.note
    assert rows["raise_crt"].analysis_sets == ("living",)
    assert (rows["raise_crt"].n_randomised_treatment, rows["raise_crt"].n_randomised_control) == (115, 57)
    assert [s.id for s in crt.studies_in("paper")] == ["target", "starter", "imagingcrt", "borgquist"]
    approach = {s.id: s.get("imaging_approach") for s in crt.studies}
    assert approach == {
        "target": "speckle tracking",
        "starter": "speckle tracking",
        "imagingcrt": "multimodality",
        "borgquist": "multimodality",
        "raise_crt": "",
    }


def _used(crt, outcome: str, study: str, analysis_set: str = "paper"):
    [row] = [r for r in crt.pool_table(outcome, analysis_set).records if r.study == study]
    return row


def _pooled_events(crt, outcome: str, study: str) -> list[float]:
    """The 2×2 counts a used row gives once read for pooling (events derived from percentages)."""
    from trialsynth.io.poolcsv import parse_pool_table

    table = crt.pool_table(outcome, "paper")
    header, rows, options = table.pool_arguments()
    data = parse_pool_table(header, rows, measure="OR", **options)
    i = list(table.studies).index(study)
    columns = ("events_treatment", "n_treatment", "events_control", "n_control")
    return [float(data.values[c][i]) for c in columns]


def test_crt_numbers_as_in_the_dossier(crt) -> None:
    binary = ("events_treatment", "n_treatment", "events_control", "n_control")
    percent = ("percent_treatment", "n_treatment", "percent_control", "n_control")
    # Counts from quoted percentages are derived by trialsynth.stats.derive, not typed in.
    target = _used(crt, "response", "target")
    assert [target.get(c) for c in percent] == ["70", "103", "55", "104"]
    assert [target.get(c) for c in binary[::2]] == ["", ""]
    assert _pooled_events(crt, "response", "target") == [72, 103, 57, 104]
    assert target.kind == "derived" and "70% × 103 → 72" in target.note
    assert target.denominator == "analysed"
    nyha = _used(crt, "nyha", "target")
    assert [nyha.get(c) for c in percent] == ["83", "103", "65", "104"] and nyha.kind == "derived"
    assert _pooled_events(crt, "nyha", "target") == [85, 103, 68, 104]
    lvef = _used(crt, "lvef", "target")
    columns = ("mean_treatment", "sd_treatment", "n_treatment", "mean_control", "sd_control", "n_control")
    assert [lvef.get(c) for c in columns] == ["+8", "7", "103", "+5", "8", "104"]
    assert lvef.kind == "quoted"
    starter = _used(crt, "death_hfh", "starter")
    assert [starter.get(c) for c in ("estimate", "ci_lower", "ci_upper", "p_value")] == [
        "0.48",
        "0.28",
        "0.82",
        "0.006",
    ]
    # ImagingCRT: the quoted non-response kept for provenance (use = no) beside the response used.
    rows = crt.rows("response")
    imaging = [r for r in rows if r.study == "imagingcrt"]
    assert [(r.use, r.kind) for r in imaging] == [(False, "derived"), (True, "derived")]
    non_response, response = imaging
    assert [non_response.get(c) for c in percent] == ["26", "89", "42", "93"]
    assert "26%" in non_response.note and "42%" in non_response.note
    assert "non-response" in non_response.definition.lower()
    assert [response.get(c) for c in percent] == ["74", "89", "58", "93"]
    assert _pooled_events(crt, "response", "imagingcrt") == [66, 89, 54, 93]
    assert "89 − 23" in response.note
    assert response.definition != non_response.definition


def test_crt_data_gaps(crt) -> None:
    both, living = ("paper", "living"), ("living",)
    gaps = {(g.outcome, g.study): g.analysis_sets for g in crt.data_gaps()}
    expected = {
        ("death_hfh", "target"): both,
        ("death_hfh", "imagingcrt"): ("paper",),
        ("death_hfh", "borgquist"): both,
        ("death_hfh", "raise_crt"): living,
        ("response", "starter"): both,
        ("response", "borgquist"): both,
        ("response", "raise_crt"): living,
        ("nyha", "starter"): both,
        ("nyha", "imagingcrt"): both,
        ("nyha", "borgquist"): both,
        ("nyha", "raise_crt"): living,
        ("lvef", "starter"): both,
        ("lvef", "imagingcrt"): both,
        ("lvef", "borgquist"): both,
        ("lvef", "raise_crt"): living,
    }
    for outcome in ("walk6", "mlhfq"):
        expected.update({(outcome, s): both for s in ("target", "starter", "imagingcrt", "borgquist")})
        expected[outcome, "raise_crt"] = living
    assert gaps == expected
    for gap in crt.data_gaps():
        assert gap.note.strip(), gap
    [target_hfh] = [g for g in crt.data_gaps("paper") if (g.outcome, g.study) == ("death_hfh", "target")]
    assert "lower rates" in target_hfh.note
    # In the paper set the primary outcome has data from STARTER only.
    assert {g.study for g in crt.data_gaps("paper") if g.outcome == "death_hfh"} == {
        "target",
        "imagingcrt",
        "borgquist",
    }


def test_living_set_replaces_imagingcrt_never_adds(crt) -> None:
    paper = crt.pool_table("death_hfh", "paper")
    living = crt.pool_table("death_hfh", "living")
    assert paper.studies == ("starter",)
    assert living.studies == ("starter", "imagingcrt")  # one ImagingCRT row, not two
    long_term = living.records[1]
    assert [long_term.get(c) for c in ("estimate", "ci_lower", "ci_upper")] == ["1.22", "0.83", "1.81"]
    assert [long_term.get(c) for c in ("events_treatment", "n_treatment", "events_control", "n_control")] == [
        "53",
        "89",
        "48",
        "93",
    ]
    # The 2016 entry of ImagingCRT belongs to the paper set only.
    [old] = [r for r in crt.rows("death_hfh", "paper") if r.study == "imagingcrt"]
    assert old.analysis_sets == ("paper",) and not old.use
    # Cumulative order by publication year: the long-term result counts as 2022.
    assert [crt.order_value(r) for r in living.records] == [2013.0, 2022.0]
    # The other outcomes are unchanged in the living set.
    assert crt.pool_table("response", "living").studies == crt.pool_table("response", "paper").studies


def test_crt_pool_tables_are_valid_pooling_input(crt) -> None:
    """Every used row passes trialsynth.io.poolcsv's checks, with no rows left out and no warnings."""
    for outcome in crt.outcomes:
        for analysis_set in crt.analysis_sets:
            table = crt.pool_table(outcome.id, analysis_set.id)
            if not len(table):
                continue
            header, rows, options = table.pool_arguments()
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                data = parse_pool_table(header, rows, measure=outcome.measure, **options)
            assert data.labels == table.studies
            assert data.rows == table.row_numbers
            assert data.source == str(CRT / "outcomes.csv")


def test_crt_reported_results_verbatim(crt) -> None:
    reported = {r.outcome: r for r in crt.reported}
    assert list(reported) == ["death_hfh", "response", "nyha", "walk6", "mlhfq", "lvef"]
    primary = reported["death_hfh"]
    assert (primary.estimate, primary.ci_lower, primary.ci_upper, primary.p_value) == (0.60, 0.40, 0.88, 0.01)
    assert primary.p_bound == "" and primary.analysis_set == "paper"
    response = reported["response"]
    assert response.p_value_text == "<.01" and response.p_bound == "upper" and response.p_value == 0.01
    assert response.estimate == 2.10 and response.ci_lower is None and response.ci_upper is None
    assert (reported["nyha"].estimate, reported["nyha"].p_value_text) == (1.89, ".01")
    walk = reported["walk6"]
    assert (walk.estimate, walk.p_value_text, walk.unit) == (25.78, "<.01", "feet")
    assert "metres" in walk.note
    assert (reported["mlhfq"].estimate, reported["mlhfq"].p_value) == (-4.04, 0.04)
    lvef = reported["lvef"]
    assert lvef.estimate is None and lvef.ci_lower is None and lvef.p_value_text == ".08"
    assert crt.reported_for("death_hfh") is primary
    assert crt.reported_for("death_hfh", "living") is None


def test_crt_baseline_keeps_medians_and_sources(crt) -> None:
    target = [b for b in crt.baseline if b.study == "target"]
    age = [b for b in target if b.characteristic == "age (years)"]
    assert [(b.statistic, b.number) for b in age] == [("median", 72.0)]  # never a mean
    male = [b for b in target if b.characteristic == "male"]
    assert [(b.value, b.low, b.high, b.number) for b in male] == [("77–80", 77.0, 80.0, None)]
    [ef] = [b for b in target if b.characteristic == "LVEF (%)"]
    assert ef.statistic == "unstated"
    pooled = {(b.characteristic, b.statistic): b.number for b in crt.baseline if b.study == "pooled"}
    assert pooled[("age (years)", "mean")] == 69.5 and pooled[("age (years)", "sd")] == 10.3
    assert pooled[("patients randomised", "count")] == 691
    assert all(b.source.strip() and b.kind in ("quoted", "derived") for b in crt.baseline)
    lead = {(p.study, p.arm, p.position): p.percent for p in crt.lead_positions}
    assert lead[("target", "treatment", "lateral wall")] == 46
    assert lead[("target", "control", "inferior wall")] == 6
    assert lead[("starter", "treatment", "concordant with or adjacent to the target segment")] == 85
    assert lead[("pooled", "unstated", "anterolateral (paced segment)")] == 45


def test_bcg_review_loads(bcg) -> None:
    assert [s.id for s in bcg.analysis_sets] == ["main"]
    [outcome] = bcg.outcomes
    assert (outcome.measure, outcome.data_type, outcome.better) == ("RR", "binary", "lower")
    assert (outcome.model.method, outcome.model.hk) == ("REML", False)
    assert [m.method for m in outcome.sensitivity] == ["DL", "FE"]
    assert [s.column for s in bcg.subgroups] == ["allocation"]
    assert [m.column for m in bcg.moderators] == ["latitude"]
    assert bcg.cumulative is not None and bcg.cumulative.order_by == "year"
    assert len(bcg.studies) == 13 and bcg.data_gaps() == ()
    table = bcg.pool_table("tb")
    assert len(table) == 13
    assert all(r.source.strip() and r.kind == "derived" and r.note.strip() for r in table.records)


def _bcg_entered(bcg) -> list[dict[str, str]]:
    """The BCG folder as dat.bcg's columns, rebuilt from studies.csv and outcomes.csv."""
    out = []
    for row in bcg.pool_table("tb").records:
        study = bcg.study(row.study)
        events_t, n_t = int(row.get("events_treatment")), int(row.get("n_treatment"))
        events_c, n_c = int(row.get("events_control")), int(row.get("n_control"))
        out.append(
            {
                "trial": study.get("trial"),
                "year": str(study.year),
                "tpos": str(events_t),
                "tneg": str(n_t - events_t),
                "cpos": str(events_c),
                "cneg": str(n_c - events_c),
                "ablat": study.get("latitude"),
                "alloc": study.get("allocation"),
                "label": study.label,
            }
        )
    return out


def test_bcg_folder_is_consistent(bcg) -> None:
    entered = _bcg_entered(bcg)
    assert [e["trial"] for e in entered] == [str(i) for i in range(1, 14)]
    # Spot values from Colditz et al. 1994 as printed in metafor's documentation (dat.bcg).
    assert entered[0] == {
        "trial": "1",
        "year": "1948",
        "tpos": "4",
        "tneg": "119",
        "cpos": "11",
        "cneg": "128",
        "ablat": "44",
        "alloc": "random",
        "label": "Aronson 1948",
    }
    assert (entered[7]["tpos"], entered[7]["tneg"], entered[7]["cpos"], entered[7]["cneg"]) == (
        "505",
        "87886",
        "499",
        "87892",
    )
    for row in bcg.pool_table("tb").records:  # the note shows the arithmetic of each derived n
        assert f"= {row.get('n_treatment')};" in row.note and row.note.endswith(f"= {row.get('n_control')}")


@pytest.mark.against_R
def test_bcg_matches_metadat_against_R(bcg) -> None:
    """Every cell of the BCG folder equals R's metadat::dat.bcg.

    R: ``library(metadat); write.csv(dat.bcg, row.names = FALSE)``
    """
    proc = run_r_code("library(metadat); write.csv(dat.bcg, row.names = FALSE)", timeout=120)
    reference = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(reference) == 13
    entered = _bcg_entered(bcg)
    for ours, theirs in zip(entered, reference, strict=True):
        for column in ("trial", "year", "tpos", "tneg", "cpos", "cneg", "ablat", "alloc"):
            assert ours[column] == theirs[column], (ours["label"], column)
        assert ours["label"] == f"{theirs['author']} {theirs['year']}"


# --------------------------------------------------------------------------- verbatim


def test_text_round_trips_verbatim(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    odd = ' TARGET «Khan» 2012, "quoted"; α≥β — 5% ±1\t'
    set_cell(folder / "studies.csv", {"id": "target"}, "label", odd)
    note = 'line one\nline two, with "quotes" and ; and ,'
    set_cell(folder / "outcomes.csv", {"outcome": "response", "study": "starter"}, "note", note)
    replace_text(folder / "review.toml", 'name = "CRT response"', 'name = "CRT response — «Ä» \\"q\\""')
    review = load_review(folder)
    assert review.study("target").label == odd
    assert review.study("target").get("label") == odd
    [row] = [r for r in review.rows("response") if r.study == "starter"]
    assert row.note == note
    assert review.outcome("response").name == 'CRT response — «Ä» "q"'
    # The raw row handed on for pooling is the file's row, cell for cell.
    with (CRT / "outcomes.csv").open(encoding="utf-8", newline="") as handle:
        original = list(csv.reader(handle))
    used = review.pool_table("lvef").records[0]
    assert list(used.raw) == original[used.row - 1]
    assert review.outcome_header == tuple(original[0])


def test_bom_and_case_of_column_names_are_accepted(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    path = folder / "studies.csv"
    text = path.read_text(encoding="utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("id,label", " ID , Label", 1).encode("utf-8"))
    review = load_review(folder)
    assert review.study("target").label == "TARGET (Khan 2012)"


# --------------------------------------------------------------------------- review.toml errors


@pytest.mark.parametrize(
    ("old", "new", "marker", "words"),
    [
        ("[search]\n", 'colour = "blue"\n[search]\n', "colour", ("unknown key 'colour'",)),
        (
            "primary = true\n",
            'primary = true\nmodle = { method = "DL" }\n',
            "modle",
            ("did you mean 'model'",),
        ),
        (
            'model = { method = "DL", hk = false,',
            'model = { method = "DL", hkk = false,',
            "hkk",
            ("unknown key 'hkk' in [analysis.model]",),
        ),
        (
            '{ method = "FE", assumption',
            '{ method = "FE", hk = "yes", assumption',
            'hk = "yes"',
            ("'hk' must be true or false",),
        ),
        (
            'measure = "HR"',
            'measure = "XX"',
            'measure = "XX"',
            ("unknown measure", "OR, RR, RD, MD, SMD, HR"),
        ),
        ('measure = "HR"', 'measure = "hr"', 'measure = "hr"', ("write it as 'HR'",)),
        ('{ method = "REML", hk = true', '{ method = "DLX", hk = true', "DLX", ("unknown method",)),
        (
            'measure = "OR"\nbetter = "higher"\n\n[[outcomes]]\nid = "walk6"',
            'measure = "MD"\nbetter = "higher"\n\n[[outcomes]]\nid = "walk6"',
            'measure = "MD"\nbetter = "higher"\n\n[[outcomes]]\nid = "walk6"',
            ("does not go with data_type",),
        ),
        (
            'better = "lower"\nunit = "points"',
            'better = "smaller"\nunit = "points"',
            "smaller",
            ("unknown better",),
        ),
        ("level = 95", "level = 0.95", "level = 0.95", ("percentage between 50 and 100",)),
        ("level = 95", 'level = "95"', 'level = "95"', ("must be a number",)),
        ('id = "nyha"', 'id = "response"', 'id = "response"\nname = "NYHA', ("used twice",)),
        (
            'column = "imaging_approach"',
            'column = "approach"',
            'column = "approach"',
            ("not a column of", "studies.csv"),
        ),
        ('id = "walk6"', 'id = "walk 6"', 'id = "walk 6"', ("must be an identifier",)),
        (
            'inclusion = [\n    "Randomized',
            'inclusion = [\n    3,\n    "Randomized',
            "    3,",
            ("list texts in quotes",),
        ),
        (
            '{ method = "FE", assumption',
            '{ method = "MH", hk = true, assumption',
            '"MH", hk = true',
            ("does not apply to method MH",),
        ),
    ],
)
def test_review_toml_errors_name_the_line(tmp_path: Path, old: str, new: str, marker: str, words) -> None:
    folder = copy(tmp_path)
    text = replace_text(folder / "review.toml", old, new)
    # The error is on the first line of ``marker`` (a unique piece of the edited file).
    assert text.count(marker) == 1
    line = text[: text.index(marker)].count("\n") + 1
    error = load_error(folder)
    assert_toml_error(error, folder, line, *words)


def test_cumulative_column_must_be_numeric(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    replace_text(folder / "review.toml", 'order_by = "year"', 'order_by = "label"')
    error = load_error(folder)
    assert_csv_error(error, folder, "studies.csv", 2, "label", "is not a number")


def test_missing_required_key_names_the_table_line(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    text = replace_text(
        folder / "review.toml",
        'measure = "OR"\nbetter = "higher"\n\n[[outcomes]]\nid = "walk6"',
        'measure = "OR"\n\n[[outcomes]]\nid = "walk6"',
    )
    header = line_of(text, 'id = "nyha"') - 1
    assert text.splitlines()[header - 1] == "[[outcomes]]"
    error = load_error(folder)
    assert_toml_error(
        error, folder, header, '[[outcomes]] no. 3 (id "nyha")', "lacks the required key 'better'"
    )


def test_missing_required_table(tmp_path: Path) -> None:
    folder = copy(tmp_path, BCG)
    text = (folder / "review.toml").read_text(encoding="utf-8")
    start = text.index("[review.question]")
    end = text.index("[review.eligibility]")
    (folder / "review.toml").write_text(text[:start] + text[end:], encoding="utf-8")
    error = load_error(folder)
    assert_toml_error(error, folder, line_of(text, "[review]"), "[review] lacks the required key 'question'")


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    text = replace_text(folder / "review.toml", 'unit = "points"', 'unit = "points')
    error = load_error(folder)
    assert_toml_error(error, folder, line_of(text, 'unit = "points'), "not valid TOML")


def test_missing_review_toml(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    (folder / "review.toml").unlink()
    error = load_error(folder)
    assert error.file == str(folder / "review.toml") and "no review.toml" in str(error)
    with pytest.raises(InputError, match="does not exist"):
        load_review(tmp_path / "nowhere")


def test_key_lines_handles_toml_layouts() -> None:
    text = (
        '# c\n[review]\ntitle = """two\nlines "" \\""""\nq = { a = "x, ]", "b c" = 1 }\n'
        "[[o]]\nid = 'x'\nm = [\n  { k = 1 },  # ]\n  { k = 2 },\n]\n[[o]]\n[o.t]\nk = 1979-05-27 07:32:00\n"
        "[[o.s]]\nk = 1\n[[o.s]]\nk = 2\n"
    )
    lines = key_lines(text)
    assert lines[("review",)] == 2
    assert lines[("review", "title")] == 3
    assert lines[("review", "q", "b c")] == 5
    assert lines[("o", 0, "m", 0, "k")] == 9 and lines[("o", 0, "m", 1)] == 10
    assert lines[("o", 1)] == 12 and lines[("o", 1, "t", "k")] == 14
    assert lines[("o", 1, "s", 1, "k")] == 18


# --------------------------------------------------------------------------- CSV errors


def _header_index(path: Path, column: str) -> int:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle)).index(column)


def test_outcomes_missing_column(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    path = folder / "outcomes.csv"
    i = _header_index(path, "use")
    edit_csv(path, lambda rows: [row.pop(i) for row in rows])
    assert_csv_error(load_error(folder), folder, "outcomes.csv", 1, "use", "missing column(s) 'use'")


def test_outcomes_unknown_column(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    path = folder / "outcomes.csv"
    i = _header_index(path, "events_treatment")
    edit_csv(path, lambda rows: rows[0].__setitem__(i, "event_treatment"))
    error = load_error(folder)
    assert_csv_error(error, folder, "outcomes.csv", 1, "event_treatment", "did you mean 'events_treatment'")


@pytest.mark.parametrize(
    ("match", "column", "value", "error_column", "words"),
    [
        ({"outcome": "nyha", "study": "target"}, "study", "targett", "study", ("unknown study 'targett'",)),
        ({"outcome": "nyha", "study": "target"}, "outcome", "nyha2", "outcome", ("unknown outcome 'nyha2'",)),
        ({"outcome": "nyha", "study": "target"}, "kind", "estimated", "kind", ("'estimated' is not one of",)),
        ({"outcome": "nyha", "study": "target"}, "kind", "Quoted", "kind", ("quoted, derived",)),
        ({"outcome": "nyha", "study": "target"}, "note", "", "note", ("derived number needs a note",)),
        ({"outcome": "nyha", "study": "starter"}, "note", " ", "note", ("needs a note saying why",)),
        ({"outcome": "nyha", "study": "starter"}, "use", "yes", "use", ("the row has no data",)),
        ({"outcome": "nyha", "study": "starter"}, "use", "", "use", ("is not one of yes, no",)),
        (
            {"outcome": "nyha", "study": "target"},
            "denominator",
            "all",
            "denominator",
            ("randomised, analysed",),
        ),
        ({"outcome": "nyha", "study": "target"}, "source", "", "source", ("must not be blank",)),
        (
            {"outcome": "nyha", "study": "target"},
            "analysis_set",
            "update",
            "analysis_set",
            ("unknown analysis set 'update'",),
        ),
        (
            {"outcome": "nyha", "study": "raise_crt"},
            "analysis_set",
            "paper",
            "analysis_set",
            ("not in analysis set 'paper'",),
        ),
        ({"outcome": "nyha", "study": "target"}, "year", "soon", "year", ("not a number",)),
    ],
)
def test_outcomes_row_errors(tmp_path: Path, match, column, value, error_column, words) -> None:
    folder = copy(tmp_path)
    row = set_cell(folder / "outcomes.csv", match, column, value)
    assert_csv_error(load_error(folder), folder, "outcomes.csv", row, error_column, *words)


def test_a_second_used_row_in_a_set_is_an_error(tmp_path: Path) -> None:
    """A later result replaces an earlier one; adding it beside the old one is refused."""
    folder = copy(tmp_path)
    path = folder / "outcomes.csv"
    set_cell(
        path, {"outcome": "death_hfh", "study": "imagingcrt", "analysis_set": "paper"}, "estimate", "0.9"
    )
    set_cell(
        path, {"outcome": "death_hfh", "study": "imagingcrt", "analysis_set": "paper"}, "ci_lower", "0.5"
    )
    set_cell(
        path, {"outcome": "death_hfh", "study": "imagingcrt", "analysis_set": "paper"}, "ci_upper", "1.6"
    )
    set_cell(path, {"outcome": "death_hfh", "study": "imagingcrt", "analysis_set": "paper"}, "kind", "quoted")
    set_cell(path, {"outcome": "death_hfh", "study": "imagingcrt", "analysis_set": "paper"}, "use", "yes")
    assert len(load_review(folder).pool_table("death_hfh", "paper")) == 2  # still one row per set
    row = set_cell(
        path, {"outcome": "death_hfh", "study": "imagingcrt", "analysis_set": "paper"}, "analysis_set", ""
    )
    error = load_error(folder)
    assert_csv_error(error, folder, "outcomes.csv", row + 1, "use", "already has a used row", "'living'")


def test_every_study_needs_a_row_for_every_outcome(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    path = folder / "outcomes.csv"
    edit_csv(path, lambda rows: rows.remove(next(r for r in rows if r[:2] == ["walk6", "starter"])))
    error = load_error(folder)
    assert_csv_error(error, folder, "outcomes.csv", None, None, "'starter' has no row for outcome 'walk6'")


@pytest.mark.parametrize(
    ("match", "column", "value", "words"),
    [
        ({"id": "starter"}, "id", "target", ("appears twice",)),
        ({"id": "starter"}, "id", "pooled", ("reserved",)),
        ({"id": "starter"}, "label", "TARGET (Khan 2012)", ("used twice",)),
        ({"id": "starter"}, "year", "2013.5", ("not a whole number",)),
        ({"id": "starter"}, "year", "", ("must not be blank",)),
        ({"id": "starter"}, "n_randomised_control", "0", ("above 0",)),
        ({"id": "starter"}, "status", "maybe", ("included, unconfirmed",)),
        ({"id": "starter"}, "kind", "derived", ("needs a note",)),
        ({"id": "starter"}, "citation", "", ("must not be blank",)),
    ],
)
def test_studies_row_errors(tmp_path: Path, match, column, value, words) -> None:
    folder = copy(tmp_path)
    if column == "kind":
        set_cell(folder / "studies.csv", match, "note", "")
    row = set_cell(folder / "studies.csv", match, column, value)
    error_column = "note" if column == "kind" else column
    assert_csv_error(load_error(folder), folder, "studies.csv", row, error_column, *words)


def test_studies_missing_column(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    path = folder / "studies.csv"
    i = _header_index(path, "label")
    edit_csv(path, lambda rows: [row.pop(i) for row in rows])
    assert_csv_error(load_error(folder), folder, "studies.csv", 1, "label", "missing column(s) 'label'")


def test_studies_extra_column_is_an_attribute(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    edit_csv(
        folder / "studies.csv",
        lambda rows: [row.append("x" if i else "Blinding") for i, row in enumerate(rows)],
    )
    assert load_review(folder).study("starter").get("blinding") == "x"


def test_csv_structure_errors(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    path = folder / "outcomes.csv"
    edit_csv(path, lambda rows: rows[3].append("stray"))
    assert_csv_error(load_error(folder), folder, "outcomes.csv", 4, None, "cells but the header has only")
    folder = copy(tmp_path / "b")
    path = folder / "outcomes.csv"
    path.write_bytes(path.read_bytes().replace("×".encode(), b"\xd7", 1))
    error = load_error(folder)
    assert error.file == str(path) and error.row == 8 and "not UTF-8" in str(error)
    folder = copy(tmp_path / "c")
    edit_csv(folder / "outcomes.csv", lambda rows: rows[0].__setitem__(1, "outcome"))
    assert_csv_error(load_error(folder), folder, "outcomes.csv", 1, "outcome", "appears twice")


@pytest.mark.parametrize(
    ("match", "column", "value", "error_column", "words"),
    [
        (
            {"study": "target", "characteristic": "age (years)"},
            "statistic",
            "average",
            "statistic",
            ("'average' is not one of",),
        ),
        ({"study": "target", "characteristic": "age (years)"}, "arm", "both", "arm", ("treatment, control",)),
        (
            {"study": "target", "characteristic": "age (years)"},
            "value",
            "72 years",
            "value",
            ("not a number",),
        ),
        ({"study": "target", "characteristic": "age (years)"}, "study", "khan", "study", ("unknown study",)),
        ({"study": "target", "characteristic": "age (years)"}, "kind", "", "kind", ("is not one of",)),
        (
            {"study": "target", "characteristic": "male"},
            "note",
            "",
            "note",
            ("given as a range needs a note",),
        ),
        ({"study": "target", "characteristic": "male"}, "value", "80–77", "value", ("runs backwards",)),
        (
            {"study": "target", "characteristic": "ischemic cardiomyopathy"},
            "value",
            "156",
            "value",
            ("between 0 and 100",),
        ),
        (
            {"study": "starter", "characteristic": "LVEF (%)", "statistic": "sd"},
            "value",
            "0",
            "value",
            ("above 0",),
        ),
        (
            {"study": "pooled", "characteristic": "patients randomised"},
            "value",
            "691.5",
            "value",
            ("whole number",),
        ),
        (
            {"study": "target", "characteristic": "NYHA class IV"},
            "characteristic",
            "NYHA class III",
            "statistic",
            ("given twice",),
        ),
    ],
)
def test_baseline_errors(tmp_path: Path, match, column, value, error_column, words) -> None:
    folder = copy(tmp_path)
    row = set_cell(folder / "baseline.csv", match, column, value)
    assert_csv_error(load_error(folder), folder, "baseline.csv", row, error_column, *words)


@pytest.mark.parametrize(
    ("match", "column", "value", "error_column", "words"),
    [
        (
            {"study": "target", "arm": "treatment", "position": "lateral wall"},
            "percent",
            "146",
            "percent",
            ("not a percentage",),
        ),
        (
            {"study": "target", "arm": "treatment", "position": "lateral wall"},
            "percent",
            "",
            "percent",
            ("must not be blank",),
        ),
        (
            {"study": "target", "arm": "treatment", "position": "lateral wall"},
            "arm",
            "guided",
            "arm",
            ("is not one of",),
        ),
        (
            {"study": "target", "arm": "treatment", "position": "posterior wall"},
            "position",
            "lateral wall",
            "position",
            ("given twice",),
        ),
    ],
)
def test_lead_position_errors(tmp_path: Path, match, column, value, error_column, words) -> None:
    folder = copy(tmp_path)
    row = set_cell(folder / "lead_position.csv", match, column, value)
    assert_csv_error(load_error(folder), folder, "lead_position.csv", row, error_column, *words)


@pytest.mark.parametrize(
    ("outcome", "column", "value", "error_column", "words"),
    [
        ("response", "p_value", "p<.01", "p_value", ("not a p-value",)),
        ("response", "p_value", "1.5", "p_value", ("not a p-value",)),
        ("response", "ci_lower", "1.2", "ci_upper", ("both confidence limits or neither",)),
        ("death_hfh", "ci_lower", "0.95", "ci_lower", ("not below",)),
        ("death_hfh", "estimate", "0.30", "estimate", ("outside its confidence interval",)),
        ("death_hfh", "estimate", "-0.51", "estimate", ("above 0", "not its logarithm")),
        ("death_hfh", "outcome", "mortality", "outcome", ("unknown outcome",)),
        ("death_hfh", "analysis_set", "main", "analysis_set", ("unknown analysis set",)),
        ("nyha", "outcome", "response", "outcome", ("reported result twice",)),
        ("nyha", "source", "", "source", ("must not be blank",)),
    ],
)
def test_reported_errors(tmp_path: Path, outcome, column, value, error_column, words) -> None:
    folder = copy(tmp_path)
    row = set_cell(folder / "reported.csv", {"outcome": outcome}, column, value)
    assert_csv_error(load_error(folder), folder, "reported.csv", row, error_column, *words)


def test_reported_p_bounds(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    set_cell(folder / "reported.csv", {"outcome": "nyha"}, "p_value", ">.05")
    set_cell(folder / "reported.csv", {"outcome": "mlhfq"}, "p_value", "≤0.001")
    review = load_review(folder)
    assert (review.reported_for("nyha").p_bound, review.reported_for("nyha").p_value) == ("lower", 0.05)
    assert review.reported_for("mlhfq").p_bound == "upper"
    assert review.reported_for("mlhfq").p_value_text == "≤0.001"


# --------------------------------------------------------------------------- defaults and documentation


def test_defaults_when_analysis_is_absent(tmp_path: Path) -> None:
    folder = copy(tmp_path, BCG)
    text = (folder / "review.toml").read_text(encoding="utf-8")
    start, end = text.index("[analysis]"), text.index("[[outcomes]]")
    (folder / "review.toml").write_text(text[:start] + text[end:], encoding="utf-8")
    review = load_review(folder)
    assert review.analysis.profile == "metafor" and review.analysis.level == 95
    assert review.outcomes[0].model == DEFAULT_MODEL
    assert (DEFAULT_MODEL.method, DEFAULT_MODEL.hk, DEFAULT_MODEL.origin) == ("REML", False, "default")
    assert review.outcomes[0].sensitivity == ()
    assert review.outcomes[0].label_treatment == "Favours treatment"


def test_outcome_model_overrides_and_checks_measure(tmp_path: Path) -> None:
    folder = copy(tmp_path, BCG)
    replace_text(folder / "review.toml", "primary = true\n", 'primary = true\nmodel = { method = "MH" }\n')
    model = load_review(folder).outcomes[0].model
    assert (model.method, model.origin) == ("MH", "outcome")
    text = replace_text(folder / "review.toml", 'model = { method = "MH" }', 'model = { method = "PETO" }')
    assert_toml_error(load_error(folder), folder, line_of(text, '"PETO"'), "works with measure OR, not RR")


def test_review_wide_model_must_suit_every_outcome(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    text = replace_text(folder / "review.toml", '{ method = "FE", assumption', '{ method = "MH", assumption')
    error = load_error(folder)
    assert_toml_error(error, folder, line_of(text, '{ method = "MH"'), "outcome 'death_hfh' (HR)")


def test_format_documents_every_key_and_column() -> None:
    """examples/FORMAT.md and the module docstring mention every key and column the loader knows."""
    import trialsynth.io.review as review_package
    from trialsynth.io.review import load as loader
    from trialsynth.io.review.grade import GRADE_COLUMNS, RATINGS
    from trialsynth.io.review.rob2 import VARIANTS
    from trialsynth.io.review.signalling import SIGNALLING_COLUMNS

    names = set(DATA_COLUMNS)
    for group in (
        loader._TOP,
        loader._REVIEW,
        loader._QUESTION,
        loader._ELIGIBILITY,
        loader._SEARCH,
        loader._ANALYSIS,
        loader._MODEL,
        loader._SET,
        loader._OUTCOME,
        loader._SUBGROUP,
        loader._CUMULATIVE,
        loader._MODERATOR,
        loader._NETWORK,
        loader.STUDY_REQUIRED,
        loader.STUDY_OPTIONAL,
        loader.OUTCOME_REQUIRED,
        loader.OUTCOME_OPTIONAL,
        loader.BASELINE_REQUIRED,
        loader.LEAD_REQUIRED,
        loader.REPORTED_REQUIRED,
        loader.REPORTED_OPTIONAL,
        loader.STATISTICS,
        loader.ARMS,
        loader.KINDS,
        loader.USE,
        loader.DENOMINATORS,
        loader.STATUSES,
        loader.DATA_TYPES,
        loader._GRADE,
        loader._GRADE_DOMAIN,
        loader._OIS,
        loader.CONTROL_RISK_FROM,
        SIGNALLING_COLUMNS,
        GRADE_COLUMNS,
        tuple(RATINGS),
        VARIANTS,
        ("who", "when"),
    ):
        names.update(group)
    doc = review_package.__doc__ or ""
    guide = (EXAMPLES / "FORMAT.md").read_text(encoding="utf-8")
    for name in sorted(names):
        assert name in doc, f"{name} is not documented in trialsynth.io.review"
        assert name in guide, f"{name} is not documented in examples/FORMAT.md"


CATHETER = EXAMPLES / "catheter-infections"


def test_glmm_models_load_from_review_toml() -> None:
    review = load_review(CATHETER)
    (outcome,) = review.outcomes
    specs = [(s.method, s.glmm, s.fixed) for s in outcome.sensitivity]
    assert specs == [("MH", None, False), ("GLMM", "UM.FS", False), ("GLMM", "CM.EL", False)]
    assert outcome.sensitivity[2].pool_options() == {
        "method": "GLMM",
        "hk": False,
        "glmm": "CM.EL",
        "fixed": False,
    }


@pytest.mark.parametrize(
    ("old", "new", "marker", "words"),
    [
        (
            'glmm = "UM.FS"',
            'glmm = "UM.XX"',
            'glmm = "UM.XX"',
            ("unknown glmm", "UM.FS, UM.RS, CM.EL, CM.AL"),
        ),
        (
            '{ method = "MH", ',
            '{ method = "MH", glmm = "UM.FS", ',
            'method = "MH", glmm',
            ("'glmm'", 'method = "GLMM" only'),
        ),
        ('glmm = "CM.EL",', 'glmm = "CM.EL", fixed = "yes",', 'fixed = "yes"', ("fixed",)),
        ('measure = "OR"', 'measure = "RR"', 'method = "GLMM", glmm = "UM.FS"', ("GLMM", "OR", "RR")),
    ],
)
def test_glmm_settings_errors_name_the_line(tmp_path: Path, old: str, new: str, marker: str, words) -> None:
    folder = copy(tmp_path, CATHETER)
    text = replace_text(folder / "review.toml", old, new)
    assert text.count(marker) == 1
    line = text[: text.index(marker)].count("\n") + 1
    assert_toml_error(load_error(folder), folder, line, *words)
