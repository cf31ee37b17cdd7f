"""The PRISMA 2020 flow diagram: what was drawn (Page et al., BMJ 2021;372:n71, Figure 1), the
``[prisma]`` table of review.toml, and the diagram in the report.

The counts are those of the fixture review tests/fixtures/reviews/flow (made up; its review.toml
works the flow arithmetic out by hand). The checks read the drawn artists: the text inside each
box and the geometry of each arrow, not the plot's own bookkeeping.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tests.flow_review import FLOW, copy_flow, edit
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth.io.review import load_review
from trialsynth.plots import save_figure
from trialsynth.plots.prisma import prisma_flow
from trialsynth.stats.prisma import prisma_from_mapping

NBSP = "\u00a0"

# Each box and the counts its text must show, worked out by hand from the fixture's review.toml:
# 412 + 389 + 120 + 57 = 978 identified (databases 412 + 389 + 120 = 921); 18 + 7 + 3 = 28 excluded.
EXPECTED = {
    "identified": [978, 921, 412, 389, 120, 57],
    "removed": [301, 12, 0],
    "screened": [665],
    "records_excluded": [630],
    "sought": [35],
    "not_retrieved": [2],
    "assessed": [33],
    "reports_excluded": [28, 18, 7, 3],
    "included": [3, 6],
    "other_identified": [9],
    "other_sought": [5],
    "other_not_retrieved": [1],
    "other_assessed": [4],
    "other_excluded": [3],
}

# The arrows of PRISMA 2020 Figure 1: down each column, across to the boxes of what left the flow,
# and from the other methods' assessed reports into the included box.
ARROWS = {
    ("identified", "screened"),
    ("screened", "sought"),
    ("sought", "assessed"),
    ("assessed", "included"),
    ("identified", "removed"),
    ("screened", "records_excluded"),
    ("sought", "not_retrieved"),
    ("assessed", "reports_excluded"),
    ("other_identified", "other_sought"),
    ("other_sought", "other_assessed"),
    ("other_sought", "other_not_retrieved"),
    ("other_assessed", "other_excluded"),
    ("other_assessed", "included"),
}


@pytest.fixture(scope="module")
def counts():
    return load_review(FLOW).prisma


@pytest.fixture(scope="module")
def fig(counts):
    return prisma_flow(counts)


def artists(fig, prefix: str) -> dict[str, object]:
    return {
        a.get_label()[len(prefix) :]: a
        for a in fig.findobj()
        if hasattr(a, "get_label") and str(a.get_label()).startswith(prefix)
    }


def n_text(count: int) -> str:
    return f"(n{NBSP}={NBSP}{count:,})"


def rect(box) -> tuple[float, float, float, float]:
    return box.get_x(), box.get_y(), box.get_x() + box.get_width(), box.get_y() + box.get_height()


def on_edge(point, r, tol: float = 1e-9) -> bool:
    x, y = point
    x0, y0, x1, y1 = r
    inside = x0 - tol <= x <= x1 + tol and y0 - tol <= y <= y1 + tol
    return inside and min(abs(x - x0), abs(x - x1), abs(y - y0), abs(y - y1)) <= tol


def strictly_inside(point, r, tol: float = 1e-6) -> bool:
    x, y = point
    x0, y0, x1, y1 = r
    return x0 + tol < x < x1 - tol and y0 + tol < y < y1 - tol


def test_every_box_shows_its_counts(fig):
    texts = artists(fig, "ts:text:")
    assert set(texts) == set(EXPECTED)
    for key, values in EXPECTED.items():
        text = texts[key].get_text()
        for value in values:
            assert n_text(value) in text, f"{key}: {value} missing from {text!r}"
    identified = texts["identified"].get_text()
    for source in ("MEDLINE", "Embase", "CENTRAL", "ClinicalTrials.gov"):
        assert source in identified
    assert "Conference abstract only" in texts["reports_excluded"].get_text()
    assert "Citation searching" in texts["other_identified"].get_text()


def test_arrows_connect_the_right_boxes(fig):
    boxes = {k: rect(b) for k, b in artists(fig, "ts:box:").items()}
    arrows = artists(fig, "ts:arrow:")
    assert {tuple(k.split("->")) for k in arrows} == ARROWS
    for key, arrow in arrows.items():
        a, b = key.split("->")
        vertices = [tuple(v) for v in arrow.get_path().vertices]
        assert on_edge(vertices[0], boxes[a]), f"{key} does not start on the edge of {a}"
        # matplotlib pulls the head's path back so that its stroke (line width, in points)
        # ends at the target point: the path's tip lies within one line width of the edge.
        stroke = arrow.get_linewidth() / 72
        assert any(on_edge(v, boxes[b], stroke) for v in vertices), f"{key} does not end on the edge of {b}"
        for other, r in boxes.items():
            assert not any(strictly_inside(v, r) for v in vertices), f"{key} runs through box {other}"


def test_flow_runs_down_and_excluded_boxes_sit_to_the_right(fig):
    boxes = {k: rect(b) for k, b in artists(fig, "ts:box:").items()}
    chain = ["identified", "screened", "sought", "assessed", "included"]
    tops = [boxes[k][1] for k in chain]
    assert tops == sorted(tops) and len(set(tops)) == len(tops)  # y grows downwards
    for main, side in (("screened", "records_excluded"), ("assessed", "reports_excluded")):
        assert boxes[side][0] > boxes[main][2]  # to the right, same row
        assert boxes[side][1] == pytest.approx(boxes[main][1])
    bands = artists(fig, "ts:band-text:")
    assert set(bands) == {"identification", "screening", "included"}
    headers = {a.get_text() for a in artists(fig, "ts:header-text:").values()}
    assert headers == {
        "Identification of new studies via databases and registers",
        "Identification of new studies via other methods",
    }


def test_text_stays_inside_its_box(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = artists(fig, "ts:box:")
    for key, text in artists(fig, "ts:text:").items():
        t = text.get_window_extent(renderer)
        b = boxes[key].get_window_extent(renderer)
        assert b.x0 <= t.x0 and t.x1 <= b.x1 and b.y0 <= t.y0 and t.y1 <= b.y1, f"{key} text leaves its box"


def test_long_reason_is_wrapped_and_counts_never_split():
    table = {
        "databases": {"MEDLINE": 10},
        "duplicates_removed": 0,
        "records_screened": 10,
        "records_excluded": 8,
        "reports_sought": 2,
        "reports_assessed": 2,
        "reports_excluded": {"Reported only as a conference abstract with no usable outcome data at all": 1},
        "studies_included": 1,
        "reports_included": 1,
    }
    fig = prisma_flow(prisma_from_mapping(table))
    text = artists(fig, "ts:text:")["reports_excluded"].get_text()
    assert text.count("\n") >= 2  # the reason needed more than one line
    assert n_text(1) in text.replace("\n", " ")
    assert "other_identified" not in artists(fig, "ts:text:")  # no other-methods column
    assert fig.trialsynth["other_methods"] is False


def test_inconsistent_counts_are_drawn_as_entered_and_listed(counts):
    from dataclasses import replace

    fig = prisma_flow(replace(counts, records_screened=666))
    assert n_text(666) in artists(fig, "ts:text:")["screened"].get_text()
    assert any(p.startswith("records_screened is 666") for p in fig.trialsynth["problems"])


def test_saved_svg_keeps_the_text(fig, tmp_path):
    paths = save_figure(fig, tmp_path / "flow")
    assert [p.suffix for p in paths] == [".svg", ".png", ".pdf"]
    svg = paths[0].read_text(encoding="utf-8")
    assert "Records screened" in svg and "665" in svg
    again = save_figure(prisma_flow(load_review(FLOW).prisma), tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]  # reproducible


# --------------------------------------------------------------------------- review.toml [prisma]


def line_of(folder: Path, marker: str) -> int:
    lines = (folder / "review.toml").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line)


def test_loader_reads_the_prisma_table(counts):
    assert counts.origin == "review.toml"
    assert counts.databases == (("MEDLINE", 412), ("Embase", 389), ("CENTRAL", 120))
    assert counts.other_reports_assessed == 4


@pytest.mark.parametrize(
    ("old", "new", "marker", "message"),
    [
        (
            "records_excluded = 630",
            "records_exclude = 630",
            "records_exclude =",
            "unknown key 'records_exclude'",
        ),
        ("records_screened = 665", 'records_screened = "665"', "records_screened", "must be a whole number"),
        ("reports_sought = 35", "reports_sought = 35.5", "reports_sought", "must be a whole number"),
        ("MEDLINE = 412", "MEDLINE = -4", "databases = {", "databases.MEDLINE must not be negative"),
    ],
)
def test_bad_prisma_table_names_file_key_and_line(tmp_path, old, new, marker, message):
    folder = copy_flow(tmp_path)
    edit(folder, old, new)
    with pytest.raises(InputError, match=message) as info:
        load_review(folder)
    assert str(info.value).startswith(f"{folder / 'review.toml'}, line {line_of(folder, marker)}:")


def test_missing_prisma_count_names_the_table(tmp_path):
    folder = copy_flow(tmp_path)
    edit(folder, "records_excluded = 630\n", "")
    with pytest.raises(InputError, match="missing 'records_excluded'") as info:
        load_review(folder)
    assert f"line {line_of(folder, '[prisma]')}:" in str(info.value)


def test_counts_that_do_not_add_up_warn_and_load(tmp_path):
    folder = copy_flow(tmp_path)
    edit(folder, "records_screened = 665", "records_screened = 667")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        review = load_review(folder)
    (warning,) = [w for w in caught if issubclass(w.category, TrialsynthWarning)]
    text = str(warning.message)
    assert "review.toml [prisma]" in text
    assert "records_screened is 667" in text and "978" in text  # 978 - 301 - 12 - 0 = 665
    assert "reports_sought is 35" in text and "37" in text  # 667 - 630
    assert review.prisma.records_screened == 667  # kept as entered


# --------------------------------------------------------------------------- in the report


def test_report_draws_the_diagram_and_lists_problems(tmp_path):
    from trialsynth.report.review import run_review

    folder = copy_flow(tmp_path)
    edit(folder, "records_screened = 665", "records_screened = 667")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        report = run_review(folder, tmp_path / "out")
    html = report.read_text(encoding="utf-8")
    assert 'id="selection"' in html and "Records screened" in html
    assert "records_screened is 667, but records identified (978)" in html
    assert (tmp_path / "out" / "figures" / "prisma-flow.svg").is_file()
    import json

    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["prisma"]["screening"]["records_screened"] == 667
    assert doc["prisma"]["problems"][0].startswith("records_screened is 667")


def test_report_without_counts_says_so(tmp_path):
    from trialsynth.report.review import run_review
    from trialsynth.report.sections import PRISMA_NOT_REPORTED

    folder = copy_flow(tmp_path)
    text = (folder / "review.toml").read_text(encoding="utf-8")
    start, end = text.index("[prisma]"), text.index("[analysis]")
    (folder / "review.toml").write_text(text[:start] + text[end:], encoding="utf-8")
    html = run_review(folder, tmp_path / "out").read_text(encoding="utf-8")
    assert PRISMA_NOT_REPORTED in html
    assert not (tmp_path / "out" / "figures" / "prisma-flow.svg").exists()


def test_user_text_with_dollar_signs_is_drawn_as_typed(counts):
    # An exclusion reason with "$" (or "_") must show as typed, never be set as mathtext.
    from dataclasses import replace

    from matplotlib.text import Text

    reason = "Cost $5 vs $10 per dose_1"
    odd = replace(counts, reports_excluded=((reason, 18), *counts.reports_excluded[1:]))
    drawn = [t for t in prisma_flow(odd).findobj(Text) if t.get_text()]
    assert any(f"{reason} (n{NBSP}={NBSP}18)" in t.get_text() or reason in t.get_text() for t in drawn)
    assert not any(t.get_parse_math() for t in drawn)
