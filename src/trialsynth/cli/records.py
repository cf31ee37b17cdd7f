"""Commands for search records: ``records import``, ``records dedup``, ``records exclude``,
``prisma``, ``search`` and ``extraction`` (registered on the main group in :mod:`trialsynth.cli.main`)."""

from __future__ import annotations

import click

from trialsynth._core.serialize import dumps_json

__all__ = ["COMMANDS", "extraction", "prisma", "records", "search"]


def _json(data) -> str:
    return dumps_json(data)


@click.group()
def records() -> None:
    """Search records of a review: import exports, find duplicates (store: REVIEW_DIR/records.sqlite)."""


@records.command("import")
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "format_",
    type=click.Choice(["medline", "pubmed_xml", "ris", "bibtex", "csv", "wos"]),
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
    """Import search exports (MEDLINE .nbib, PubMed .xml, .ris, .bib, .csv, Web of Science
    plain text) into REVIEW_DIR.

    Each file is stored whole or not at all, with its SHA-256, source database and search
    date; a file imported before is skipped with a message. Malformed records are skipped
    with a warning naming the file and line; the rest are imported. Files above 512 MB are
    refused before they are read (TRIALSYNTH_MAX_RECORDS_MB changes it; docs/limits.md).
    """
    from trialsynth._core.errors import InputError
    from trialsynth.io.records.export import export_store
    from trialsynth.io.records.importing import check_search_date, import_file
    from trialsynth.io.records.store import open_store

    search_date = check_search_date(search_date)
    failed = 0
    from trialsynth._core.progress import task

    with open_store(review_dir) as store, task("Importing", len(files)) as progress:
        for file in files:
            progress.advance(0, label=str(file))
            try:
                outcome = import_file(
                    store,
                    file,
                    format=format_,
                    database=database,
                    kind=kind,
                    search_date=search_date,
                    review_dir=review_dir,
                )
            except InputError as exc:  # one bad file does not stop the others
                click.echo(f"error: {exc}", err=True)
                failed += 1
                progress.advance()
                continue
            progress.advance()
            click.echo(outcome.message)
        export_store(store, review_dir)
    if failed:
        raise InputError(f"{failed} of {len(files)} file(s) not imported (see the errors above)")


def _pair_json(pair, by_id) -> dict:
    def side(record_id: int) -> dict:
        r = by_id[record_id]
        return {
            "id": r.id,
            "database": r.database,
            "title": r.title,
            "first_author": r.first_author,
            "year": r.year,
            "journal": r.journal,
            "doi": r.doi,
            "pmid": r.pmid,
        }

    return {
        "pair": pair.id,
        "reason": pair.reason,
        "score": pair.score,
        "decision": pair.decision,
        "decided_by": pair.decided_by,
        "a": side(pair.record_a),
        "b": side(pair.record_b),
    }


def _show_record(label: str, r) -> None:
    click.echo(f"  {label} [{r.id}] {r.database}: {r.title}")
    click.echo(
        f"      {r.first_author or '(no author)'} · {r.year or '(no year)'} · {r.journal or '(no journal)'}"
        f"{' · doi ' + r.doi if r.doi else ''}{' · PMID ' + r.pmid if r.pmid else ''}"
    )


@records.command("dedup")
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.option("--auto", is_flag=True, help="Accept identifier (DOI/PMID) matches only; ask nothing.")
@click.option(
    "--list", "list_", is_flag=True, help="List every candidate pair and its decision; ask nothing."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (pairs with --list, else the counts).")
@click.option(
    "--threshold",
    type=click.FloatRange(0.5, 1.0),
    default=0.90,
    show_default=True,
    help="Minimum similarity of normalised titles for a fuzzy candidate pair.",
)
@click.option(
    "--by", "decided_by", default=None, help="Name recorded with your decisions (default: login name)."
)
def dedup_command(review_dir, auto, list_, as_json, threshold, decided_by) -> None:
    """Find duplicate records across sources and decide the candidate pairs.

    DOI and PMID matches are accepted automatically; fuzzy matches (title, year, first
    author) are shown one by one for you to confirm (y) or reject (n); s skips, q stops.
    Counts per source are printed at the end.
    """
    import getpass
    from dataclasses import asdict

    from trialsynth.io.records.export import export_store
    from trialsynth.io.records.store import open_store
    from trialsynth.workflow.records.dedup import find_duplicates, source_counts

    with open_store(review_dir, create=False) as store:
        summary = find_duplicates(store, threshold=threshold)
        by_id = {r.id: r for r in store.records()}
        if not (auto or list_ or as_json):
            who = decided_by or getpass.getuser()
            pending = store.pairs(undecided=True)
            for number, pair in enumerate(pending, start=1):
                click.echo(f"\nPair {number} of {len(pending)} ({pair.reason}, similarity {pair.score:.3f}):")
                _show_record("a", by_id[pair.record_a])
                _show_record("b", by_id[pair.record_b])
                try:
                    answer = click.prompt(
                        "Same record? [y]es, [n]o, [s]kip, [q]uit",
                        type=click.Choice(["y", "n", "s", "q"]),
                        show_choices=False,
                    )
                except click.Abort:  # end of input (no terminal, or Ctrl-D): stop asking
                    click.echo("\nno more answers; the remaining pairs stay undecided")
                    break
                if answer == "q":
                    break
                if answer in ("y", "n"):
                    store.decide_pair(pair.id, "duplicate" if answer == "y" else "not_duplicate", who)
        export_store(store, review_dir)
        counts = [asdict(c) for c in source_counts(store)]
        undecided = len(store.pairs(undecided=True))
        if as_json and list_:
            click.echo(_json({"pairs": [_pair_json(p, by_id) for p in store.pairs()], "sources": counts}))
            return
        if as_json:
            click.echo(_json({**summary, "undecided": undecided, "sources": counts}))
            return
        if list_:
            for pair in store.pairs():
                click.echo(
                    f"\nPair {pair.id} ({pair.reason}, {pair.score:.3f}): {pair.decision or 'undecided'}"
                )
                _show_record("a", by_id[pair.record_a])
                _show_record("b", by_id[pair.record_b])
        click.echo(
            f"{summary['new_pairs']} new candidate pair(s); {summary['auto_accepted']} accepted by DOI/PMID; "
            f"{undecided} awaiting a decision"
        )
        for c in counts:
            click.echo(
                f"  {c['database']} ({c['kind']}): {c['records']} records, {c['duplicates_removed']} "
                f"removed as duplicates, {c['unique']} unique"
                + (f", {c['undecided']} in undecided pairs" if c["undecided"] else "")
            )


def _record_ids(value: str) -> list[int]:
    """Record numbers given as ``3,5,7-9``."""
    ids: list[int] = []
    for part in value.replace(" ", "").split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise click.BadParameter(
                f"'{part}' is not a record number or a range like 7-9", param_hint="--ids"
            )
        lo, hi = int(first), int(last) if dash else int(first)
        if hi < lo:
            raise click.BadParameter(f"the range '{part}' runs backwards", param_hint="--ids")
        ids.extend(range(lo, hi + 1))
    if not ids:
        raise click.BadParameter("name at least one record", param_hint="--ids")
    return ids


@records.command("exclude")
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.option("--ids", required=True, help="Record numbers, e.g. 3,5,7-9 (as in records/records.csv).")
@click.option(
    "--reason",
    type=click.Choice(["automation", "other"]),
    help="Why: marked ineligible by an automation tool, or another reason (PRISMA 2020's boxes).",
)
@click.option("--note", default="", help="What removed them (e.g. the tool and its version, or the reason).")
@click.option("--restore", is_flag=True, help="Bring the records back instead (undo an exclusion).")
@click.option("--by", "removed_by", default=None, help="Name recorded with the change (default: login name).")
def exclude_command(review_dir, ids, reason, note, restore, removed_by) -> None:
    """Remove records of REVIEW_DIR before screening (or bring them back with --restore).

    Removed records are not screened and are counted in the PRISMA 2020 boxes "records marked
    as ineligible by automation tools" (--reason automation) or "records removed for other
    reasons" (--reason other). Nothing is deleted: the removal is appended to the store's
    history, and --restore appends the undo.
    """
    import getpass

    from trialsynth._core.errors import InputError
    from trialsynth.io.records.export import export_store
    from trialsynth.io.records.store import open_store

    record_ids = _record_ids(ids)
    if restore and reason:
        raise click.UsageError("--restore takes no --reason")
    if not restore and not reason:
        raise click.UsageError("Missing option '--reason' (automation or other).")
    by = removed_by or getpass.getuser()
    with open_store(review_dir, create=False) as store:
        if not store.count_records():
            raise InputError("the review has no records", file=str(store.path))
        if restore:
            store.restore(record_ids, by, note=note)
        else:
            store.remove_before_screening(record_ids, reason, by, note=note)
        export_store(store, review_dir)
        n_removed = len(store.removals())
    what = "restored" if restore else f"removed before screening ({reason})"
    click.echo(f"{len(record_ids)} record(s) {what}; {n_removed} removed before screening in all.")


@records.command("link")
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.argument("record_id", type=int)
@click.argument("study_id")
@click.option("--note", default="", help="Why this record is a report of that study.")
def link_command(review_dir, record_id, study_id, note) -> None:
    """Link record RECORD_ID of REVIEW_DIR's store to STUDY_ID of its studies.csv: the record is
    then a report of that included study, and trialsynth run cites it (included.ris, included.bib
    and the report's reference list). A later link of the same record replaces this one."""
    from trialsynth._core.errors import InputError
    from trialsynth.io.records.export import export_store
    from trialsynth.io.records.store import open_store
    from trialsynth.io.review import load_review

    review = load_review(review_dir)
    if study_id not in {s.id for s in review.studies}:
        raise InputError(f"no study '{study_id}' in studies.csv", file=review.files.get("studies.csv"))
    with open_store(review_dir, create=False) as store:
        store.link_study(record_id, study_id, note=note)
        export_store(store, review_dir)
    click.echo(f"record {record_id} linked to study '{study_id}'")


@click.command("prisma")
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def prisma(review_dir, as_json) -> None:
    """PRISMA 2020 flow counts of REVIEW_DIR: from its record store when it has records,
    else from the [prisma] table of its review.toml. Boxes that do not add up are warned."""
    import warnings
    from pathlib import Path

    from trialsynth._core.errors import InputError, TrialsynthWarning
    from trialsynth.io.records.store import STORE_NAME, open_store
    from trialsynth.io.review.load import read_prisma
    from trialsynth.stats.prisma import check_prisma
    from trialsynth.workflow.records.prisma import prisma_from_store

    folder = Path(review_dir)
    counts = None
    agreement = None
    stopping = []
    if (folder / STORE_NAME).exists():
        with open_store(folder, create=False) as store:
            if store.count_records():
                counts = prisma_from_store(store)
                for problem in check_prisma(counts):
                    warnings.warn(f"PRISMA: {problem}", TrialsynthWarning, stacklevel=1)
        if counts is not None:
            from trialsynth.workflow.screening.session import screening_agreement, screening_stopping

            agreement = screening_agreement(folder)
            stopping = screening_stopping(folder)
    if counts is None:
        toml = folder / "review.toml"
        if not toml.is_file():
            raise InputError(
                "the review has no records and no review.toml with a [prisma] table", file=str(folder)
            )
        counts = read_prisma(toml)  # the review loader's reader: it warns when boxes do not add up
        if counts is None:
            raise InputError(
                "the review has no records and review.toml has no [prisma] table", file=str(toml)
            )
    if as_json:
        doc = counts.to_json_dict()
        if agreement is not None:
            doc["screening_agreement"] = agreement
            doc["screening_stopping"] = [state.to_dict() for state in stopping]
        click.echo(_json(doc))
        return
    doc = counts.to_json_dict()
    ident, screen, incl = doc["identification"], doc["screening"], doc["included"]
    click.echo(f"PRISMA 2020 counts (from {counts.origin})")
    for name, n in [*ident["databases"].items(), *ident["registers"].items()]:
        click.echo(f"  identified from {name}: {n}")
    lines = [
        ("duplicates removed", ident["duplicates_removed"]),
        ("records screened", screen["records_screened"]),
        ("records excluded", screen["records_excluded"]),
        ("reports sought", screen["reports_sought"]),
        ("reports not retrieved", screen["reports_not_retrieved"]),
        ("reports assessed", screen["reports_assessed"]),
    ]
    lines += [(f"reports excluded: {k}", v) for k, v in screen["reports_excluded"].items()]
    lines += [("studies included", incl["studies"]), ("reports included", incl["reports"])]
    for name, n in lines:
        click.echo(f"  {name}: {n}")
    for stage, entry in (agreement or {}).items():
        for pair in entry["agreement"]:
            kappa = "not defined" if pair["kappa"] is None else f"{pair['kappa']:.3f}"
            ac1 = "not defined" if pair["ac1"] is None else f"{pair['ac1']:.3f}"
            how = entry["conflict_resolution"]
            click.echo(
                f"  {stage.replace('_', '/')}, {' and '.join(pair['reviewers'])}: {pair['records']} records "
                f"both decided, {pair['conflicts']} conflicts (resolved by consensus {how['consensus']}, "
                f"by a third reviewer {how['third_reviewer']}, open {how['open']}); "
                f"Cohen's kappa {kappa}, Gwet's AC1 {ac1}"
            )
    for state in stopping:
        click.echo(f"  {state.stage.replace('_', '/')}, {state.reviewer}: {state.sentence()}")
    for note in counts.notes:
        click.echo(f"  note: {note}")


@click.command("search")
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.option("--base-url", default=None, help="E-utilities base URL (default: NCBI's).")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=500,
    show_default=True,
    help="Records fetched per efetch request.",
)
def search(review_dir, base_url, batch_size) -> None:
    """Run the PubMed queries of REVIEW_DIR's review.toml [search] and import the results.

    Uses NCBI's E-utilities (esearch with the history server, efetch in batches), at most 3
    requests a second, or 10 with an API key in the environment variable NCBI_API_KEY
    (NCBI_EMAIL, if set, is sent as NCBI asks). Each query is imported as a PubMed source
    searched today.
    """
    import warnings

    from trialsynth._core.errors import TrialsynthWarning
    from trialsynth.io.records.export import export_store
    from trialsynth.io.records.pubmed import EUTILS, PubMedClient, run_search
    from trialsynth.io.records.store import open_store

    client = PubMedClient(base_url or EUTILS, batch_size=batch_size)
    with open_store(review_dir) as store:
        for result, outcome in run_search(store, review_dir, client=client):
            click.echo(f"PubMed: {result.count} records for {result.query}")
            click.echo(f"  {outcome.message}")
            for note in outcome.warnings:
                warnings.warn(note, TrialsynthWarning, stacklevel=1)
        export_store(store, review_dir)


@click.group()
def extraction() -> None:
    """Dual data extraction: compare two extractors' files in REVIEW_DIR/extraction/ and resolve."""


@extraction.command("compare")
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the disagreements as JSON.")
def extraction_compare(review_dir, as_json) -> None:
    """List every disagreement between the two extractors: study, outcome, field, both values."""
    from dataclasses import asdict

    from trialsynth.workflow.records.extraction import compare

    found = compare(review_dir)
    if as_json:
        click.echo(_json([asdict(d) for d in found]))
        return
    for d in found:
        where = f"{d.study} / {d.outcome}" + (f" [{d.analysis_set}]" if d.analysis_set else "")
        click.echo(f"{where} / {d.field}: {d.extractor_a}={d.value_a!r}  {d.extractor_b}={d.value_b!r}")
    click.echo(f"{len(found)} disagreement(s)")


@extraction.command("resolve")
@click.argument("review_dir", type=click.Path(file_okay=False))
def extraction_resolve(review_dir) -> None:
    """Apply extraction/resolutions.csv: write extraction/resolved.csv (outcomes.csv columns,
    the provenance of each resolved value in its note) and extraction/provenance.csv."""
    from trialsynth.workflow.records.extraction import resolve

    resolved, provenance = resolve(review_dir)
    click.echo(f"wrote {resolved} and {provenance}")


#: The commands this module adds to ``trialsynth``.
COMMANDS = (records, prisma, search, extraction)
