"""A small review with records for the screening tests, imported from a RIS file through
the ordinary importer."""

from __future__ import annotations

from pathlib import Path

from trialsynth.io.records.importing import import_file
from trialsynth.io.records.store import open_store

#: (title, abstract, first author, year, journal) of the records, in import order.
RECORDS = (
    (
        "Cardiac resynchronization guided by speckle tracking: a randomized trial",
        "Patients with heart failure were randomized to imaging-guided or standard lead placement.",
        "Khan, F. Z.",
        2012,
        "J Am Coll Cardiol",
    ),
    (
        "Outcomes of pacemaker implantation in a regional registry",
        "Retrospective cohort of 4,000 patients receiving pacemakers.",
        "Berg, A.",
        2015,
        "Europace",
    ),
    (
        "Echocardiography-guided left ventricular lead placement: a randomized controlled trial",
        "We randomized 220 patients to targeted lead placement guided by echocardiography.",
        "Saba, S.",
        2013,
        "Heart Rhythm",
    ),
    (
        "Statins and dementia: a review",
        "A narrative review of observational studies on statin use and cognitive decline.",
        "Ortiz, M.",
        2018,
        "Lancet Neurol",
    ),
    (
        "<script>alert(1)</script>",
        "An abstract with <b>markup</b> & an ampersand that must show as text.",
        "Doe, J.",
        2020,
        "Test Journal",
    ),
    (
        "Randomized trial of scar-guided lead positioning with cardiac magnetic resonance",
        "Heart failure patients were randomized to magnetic-resonance guided lead positioning.",
        "Leyva, F.",
        2019,
        "Circulation",
    ),
)


def write_ris(path: Path, records=RECORDS) -> Path:
    lines = []
    for title, abstract, author, year, journal in records:
        lines += [
            "TY  - JOUR",
            f"TI  - {title}",
            f"AB  - {abstract}",
            f"AU  - {author}",
            f"PY  - {year}",
            f"JO  - {journal}",
            "ER  - ",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def make_review(folder: Path, records=RECORDS, *, reasons: list[str] | None = None) -> Path:
    """A review folder with the records imported from Embase (as a database search)."""
    folder.mkdir(parents=True, exist_ok=True)
    if reasons is not None:
        quoted = ", ".join(f'"{r}"' for r in reasons)
        (folder / "review.toml").write_text(
            f"[screening]\nexclusion_reasons = [{quoted}]\n", encoding="utf-8"
        )
    ris = write_ris(folder.parent / f"{folder.name}-search.ris", records)
    with open_store(folder) as store:
        import_file(store, ris, database="Embase", search_date="2024-05-01")
    return folder


def ids_by_title(folder: Path) -> dict[str, int]:
    with open_store(folder) as store:
        return {r.title: r.id for r in store.records()}
