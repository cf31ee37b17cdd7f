"""Commands for search records: ``records import``, ``records dedup``, ``prisma``, ``search``
and ``extraction`` (registered on the main group in :mod:`trialsynth.cli`)."""

from __future__ import annotations

import json

import click

__all__ = ["records"]


def _json(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)


@click.group()
def records() -> None:
    """Search records of a review: import exports, find duplicates (store: REVIEW_DIR/records.sqlite)."""


@records.command("import")
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "format_",
    type=click.Choice(["medline", "pubmed_xml", "ris", "bibtex", "csv"]),
    help="Format of the files (default: from the extension, else from the content).",
)
@click.option("--database", help="Source database, e.g. Embase (default: what the file says, e.g. PubMed).")
@click.option(
    "--kind",
    type=click.Choice(["database", "register", "other"]),
    help="PRISMA 2020 source: database, register or other methods (default: register for known "
    "trial registers, else database).",
)
@click.option(
    "--search-date", help="Date of the search, YYYY-MM-DD (default: review.toml [search] last_searched)."
)
def import_command(review_dir, files, format_, database, kind, search_date) -> None:
    """Import search exports (MEDLINE .nbib, PubMed .xml, .ris, .bib, .csv) into REVIEW_DIR.

    Each file is stored whole or not at all, with its SHA-256, source database and search
    date; a file imported before is skipped with a message. Malformed records are skipped
    with a warning naming the file and line; the rest are imported.
    """
    from trialsynth.records.export import export_store
    from trialsynth.records.importing import import_file
    from trialsynth.records.store import open_store

    with open_store(review_dir) as store:
        for file in files:
            outcome = import_file(
                store,
                file,
                format=format_,
                database=database,
                kind=kind,
                search_date=search_date,
                review_dir=review_dir,
            )
            click.echo(outcome.message)
        export_store(store, review_dir)
