"""``trialsynth revman``: import and export RevMan 5 reviews (thin layers over :mod:`trialsynth.io.revman`
and :mod:`trialsynth.workflow.revman_export`)."""

from __future__ import annotations

import click


@click.group()
def revman() -> None:
    """RevMan 5 files: import a review as a review folder, or export a review folder as an .rm5 file."""


@revman.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="the review folder to write"
)
@click.option("--force", is_flag=True, help="replace an earlier import in a folder that is not empty")
def import_(file, out_dir, force) -> None:
    """Import FILE (a RevMan 5 .rm5 file, or RevMan's CSV export) into the review folder --out.

    Studies, analyses, data and settings become a review folder with the revman conventions
    profile; `trialsynth run DIR` then recomputes every analysis and writes
    revman_comparison.csv, comparing each result RevMan stored in the file with ours.
    """
    from trialsynth.io.revman import import_revman

    folder = import_revman(file, out_dir, force=force)
    click.echo(f"wrote {folder}")


@revman.command("export")
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.option(
    "-o", "--out", "out_file", required=True, type=click.Path(dir_okay=False), help="the .rm5 file to write"
)
@click.option(
    "--sensitivity/--no-sensitivity",
    default=True,
    show_default=True,
    help="also write each sensitivity analysis RevMan can represent as an analysis of its own",
)
def export(review_dir, out_file, sensitivity) -> None:
    """Write the review folder REVIEW_DIR as a RevMan 5 review file (-o FILE.rm5).

    Studies, one comparison per analysis set, one analysis per outcome (with its subgroups),
    the data and RevMan's analysis settings (method, effect measure, fixed or random effects,
    confidence level). What RevMan 5 cannot represent (τ² estimators other than
    DerSimonian–Laird, Hartung–Knapp, meta-regression, cumulative, TSA, Bayes) is warned about.
    `trialsynth revman import` reads the file back to the same analyses.
    """
    from pathlib import Path

    from trialsynth._core.errors import InputError
    from trialsynth.workflow.revman_export import export_review

    if Path(out_file).suffix.lower() != ".rm5":
        raise InputError("the RevMan file's name should end in .rm5", file=out_file)
    result = export_review(review_dir, out_file, sensitivity=sensitivity)
    approximate = [a.number for a in result.analyses if not a.exact and a.role == "primary"]
    click.echo(
        f"wrote {out_file}: {len(result.revman.outcomes)} analyses, {len(result.revman.studies)} studies"
    )
    if approximate:
        click.echo(f"not exact in RevMan 5 (see the warnings): analyses {', '.join(approximate)}")
    if result.not_represented:
        click.echo("not in the RevMan 5 file:")
        for gap in result.not_represented:
            click.echo(f"  - {gap}")
