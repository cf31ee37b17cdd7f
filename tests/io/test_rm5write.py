"""The RevMan 5 writer (io/revman/rm5write.py): what the reader takes from a file, the writer
puts back. Expected values are the fixture file's own elements and attributes
(``tests/fixtures/revman/types.rm5``, in RevMan 5's layout) and RevMan's ID escaping
(``STD-ISIS_x002d_2`` is the study ISIS-2, as in RevMan's sample review of Fleiss 1993)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from types import MappingProxyType

import defusedxml.ElementTree as DET
import pytest

from trialsynth._core.errors import InputError
from trialsynth.io.revman import read_rm5
from trialsynth.io.revman.rm5 import decode_id
from trialsynth.io.revman.rm5write import encode_id, rm5_bytes, write_rm5

FIXTURES = Path(__file__).parents[1] / "fixtures" / "revman"


def _plain(value):
    """The model as plain data, without the file-position fields (``where``, ``source``)."""
    if dataclasses.is_dataclass(value):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in ("where", "source")
        }
    if isinstance(value, dict | MappingProxyType):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def test_reader_writer_reader_keeps_every_study_setting_and_number(tmp_path):
    first = read_rm5(FIXTURES / "types.rm5")
    write_rm5(first, tmp_path / "again.rm5")
    second = read_rm5(tmp_path / "again.rm5")
    a, b = _plain(first), _plain(second)
    # The text outcome (OTHER_OUTCOME) is not part of the model: only the reader's note of it differs.
    assert a.pop("skipped") and b.pop("skipped") == []
    assert a == b
    # RevMan's stored results of the Fleiss analysis (1.1) are written back verbatim.
    assert second.outcomes[0].stored["EFFECT_SIZE"] == "0.8968655609130709"
    assert {d.stored.get("WEIGHT") for d in second.outcomes[0].data} == {
        d.stored.get("WEIGHT") for d in first.outcomes[0].data
    }


def test_element_layout_is_revman_5(tmp_path):
    rm = read_rm5(FIXTURES / "types.rm5")
    root = DET.fromstring(rm5_bytes(rm))
    assert root.tag == "COCHRANE_REVIEW"
    assert [c.tag for c in root] == [
        "COVER_SHEET",
        "MAIN_TEXT",
        "STUDIES_AND_REFERENCES",
        "CHARACTERISTICS_OF_STUDIES",
        "QUALITY_ITEMS",
        "SOF_TABLES",
        "ADDITIONAL_TABLES",
        "ANALYSES_AND_DATA",
        "FIGURES",
        "FEEDBACK",
        "APPENDICES",
        "EXTENSIONS",
    ]
    comparison = root.find("ANALYSES_AND_DATA/COMPARISON[@NO='2']")
    tags = [c.tag for c in comparison]
    assert tags == [
        "NAME",
        "CONT_OUTCOME",
        "DICH_OUTCOME",
        "DICH_OUTCOME",
        "DICH_OUTCOME",
        "IV_OUTCOME",
        "IV_OUTCOME",
        "IPD_OUTCOME",
    ]
    response = comparison.find("DICH_OUTCOME[@NO='2']")
    assert {k: response.get(k) for k in ("METHOD", "RANDOM", "EFFECT_MEASURE", "CI_STUDY", "CI_TOTAL")} == {
        "METHOD": "MH",
        "RANDOM": "YES",
        "EFFECT_MEASURE": "RR",
        "CI_STUDY": "90",
        "CI_TOTAL": "99",
    }
    assert response.get("SUBGROUPS") == "YES"
    assert [s.find("NAME").text for s in response.findall("DICH_SUBGROUP")] == ["Low dose", "High dose"]
    peto = comparison.find("DICH_OUTCOME[@NO='3']")
    assert (peto.get("METHOD"), peto.get("EFFECT_MEASURE")) == ("PETO", "PETO_OR")
    hr = comparison.find("IV_OUTCOME[@NO='5']")
    assert hr.find("EFFECT_MEASURE").text == "Hazard Ratio" and hr.get("LOG_DATA") == "YES"
    assert [(d.get("ESTIMATE"), d.get("SE")) for d in hr.findall("IV_DATA")] == [
        ("-0.25", "0.12"),
        ("-0.1", "0.2"),
    ]
    ipd = comparison.find("IPD_OUTCOME")
    assert ipd.get("METHOD") == "EXP_O_E_VAR" and ipd.find("IPD_DATA").get("O_E") == "-3.2"
    isis = root.find("STUDIES_AND_REFERENCES/STUDIES/INCLUDED_STUDIES/STUDY[@NAME='ISIS-2']")
    assert isis.get("ID") == "STD-ISIS_x002d_2" and isis.get("YEAR") == "1988"


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("ISIS-2", "ISIS_x002d_2"),
        ("raise_crt", "raise_crt"),
        ("a.b", "a_x002e_b"),
        ("odd_x0041_", "odd_x005f_x0041_"),
    ],
)
def test_id_escaping_is_revmans_and_reversible(text, encoded):
    assert encode_id(text) == encoded
    assert decode_id(encoded) == text


def test_texts_are_escaped_and_kept(tmp_path):
    rm = read_rm5(FIXTURES / "types.rm5")
    title = 'Aspirin & <placebo> "quoted" — ß'
    write_rm5(dataclasses.replace(rm, title=title), tmp_path / "t.rm5")
    assert read_rm5(tmp_path / "t.rm5").title == title


def test_write_is_atomic(tmp_path, monkeypatch):
    rm = read_rm5(FIXTURES / "types.rm5")
    target = tmp_path / "kept.rm5"
    target.write_text("old", encoding="utf-8")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_rm5(rm, target)
    assert target.read_text(encoding="utf-8") == "old"  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.rm5"]  # no temporary file left
    monkeypatch.undo()
    with pytest.raises(InputError, match="folder of the output file does not exist"):
        write_rm5(rm, tmp_path / "missing" / "x.rm5")


def test_a_study_the_analyses_use_must_be_listed():
    rm = read_rm5(FIXTURES / "types.rm5")
    with pytest.raises(InputError, match="not listed"):
        rm5_bytes(dataclasses.replace(rm, studies=rm.studies[1:]))


def test_a_control_character_is_refused_not_written():
    rm = read_rm5(FIXTURES / "types.rm5")
    expected = r"control character U\+000B, which an XML file cannot hold \(<TITLE>\)"
    with pytest.raises(InputError, match=expected):
        rm5_bytes(dataclasses.replace(rm, title="bad\x0btitle"))
