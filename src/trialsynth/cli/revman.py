"""``trialsynth revman``: import RevMan 5 reviews (a thin layer over :mod:`trialsynth.io.revman`)."""

from __future__ import annotations

import click


@click.group()
def revman() -> None:
    """RevMan 5 files: import a review as a review folder."""


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
