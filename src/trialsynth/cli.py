"""The ``trialsynth`` command line: a thin layer over the library.

Heavy modules are imported inside the commands so that ``--help`` and small pools answer
quickly. Bad input exits with status 2 and one line on standard error; warnings (continuity
corrections, dropped studies, non-convergence) are printed on standard error, one line each.
"""

from __future__ import annotations

import json
import sys
import warnings

import click

MEASURES = ("OR", "RR", "RD", "MD", "SMD", "HR")
METHODS = ("FE", "MH", "PETO", "DL", "REML", "PM", "ML", "HE", "SJ", "EB", "HS")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)


class _Group(click.Group):
    """Turns a user-input error into one line on stderr and exit status 2."""

    def invoke(self, ctx):
        from trialsynth.errors import InputError

        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trialsynth")
def main() -> None:
    """trialsynth: meta-analysis of randomized controlled trials, from data to report.

    \b
    Commands:
      pool   pool one table of trials (CSV) and print the result
      run    run a review folder (the bundled imaging-guided CRT review by default)
    """


def _json_dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--measure",
    required=True,
    type=click.Choice(MEASURES, case_sensitive=False),
    help="Effect measure: OR, RR, RD (2×2 counts or generic), MD, SMD (means/SDs or generic), HR (generic).",
)
@click.option(
    "--method",
    default="REML",
    show_default=True,
    type=click.Choice(METHODS, case_sensitive=False),
    help="FE (inverse-variance fixed effect), MH (Mantel–Haenszel), PETO (Peto OR), or a random-effects "
    "τ² estimator: DL, REML, PM, ML, HE, SJ, EB, HS.",
)
@click.option("--hk", is_flag=True, help="Hartung–Knapp: scaled SE and t(k−1) tests and intervals.")
@click.option(
    "--hk-variant",
    default="knha",
    show_default=True,
    type=click.Choice(["knha", "adhoc"]),
    help="knha: the Hartung–Knapp SE with no floor (metafor's test='knha'); adhoc: with the floor max(1, q).",
)
@click.option("--level", default=95.0, show_default=True, type=float, help="Confidence level in percent.")
@click.option(
    "--pi",
    "pi_type",
    default="default",
    show_default=True,
    type=click.Choice(["default", "z", "t", "higgins"]),
    help="Prediction interval: default (z, or t(k−1) under --hk, as metafor), z, t (k−1 df), "
    "higgins (t with k−2 df, Higgins et al. 2009).",
)
@click.option(
    "--add", default=0.5, show_default=True, type=float, help="Continuity correction added to 2×2 cells."
)
@click.option(
    "--to",
    "add_to",
    default="only0",
    show_default=True,
    type=click.Choice(["only0", "all", "if0all", "none"]),
    help="Which tables get the correction: only0 (tables with a zero cell), all, if0all, none.",
)
@click.option(
    "--profile",
    default="metafor",
    show_default=True,
    type=click.Choice(["metafor", "revman"]),
    help="Conventions: metafor's (default) or RevMan 5's.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object (analysis scale: log for ratios)."
)
def pool(file, measure, method, hk, hk_variant, level, pi_type, add, add_to, profile, as_json) -> None:
    """Pool the trials in FILE (CSV) and print the result.

    \b
    Columns, recognised by name (a `study` column is always required):
      2×2 counts:   events_treatment, n_treatment, events_control, n_control
      continuous:   mean_treatment, sd_treatment, n_treatment, mean_control, sd_control, n_control
      generic:      estimate, ci_lower, ci_upper [, ci_level]   (natural scale, e.g. HR 0.60)
                    log_estimate, se (ratio measures)  |  estimate, se (differences)
      hazard ratio: p_value, events, direction, n_treatment, n_control  (Tierney et al. 2007)
                    o_minus_e, v
    Rows may use different forms. A row with blank cells is left out with a warning.
    Without --json a table is printed with ratios back-transformed.
    """
    from trialsynth.api import pool_file

    result = pool_file(
        file,
        measure=measure.upper(),
        method=method.upper(),
        hk=hk,
        hk_variant=hk_variant,
        level=level,
        pi_type=pi_type,
        add=add,
        to=add_to,
        profile=profile,
    )
    if as_json:
        click.echo(_json_dumps(result.to_json_dict()))
    else:
        from trialsynth.report.text import result_table

        click.echo(result_table(result))


@main.command()
@click.argument("review_dir", required=False, type=click.Path(file_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Output folder (default: out/<review folder name>).",
)
def run(review_dir, out_dir) -> None:
    """Run a review folder into results.json, figures and report.html.

    Without REVIEW_DIR the bundled imaging-guided CRT review (examples/imaging-guided-crt)
    is run into out/imaging-guided-crt. Warnings from the analyses are listed in the report.
    """
    from trialsynth.runner import run_review

    report = run_review(review_dir, out_dir)
    click.echo(f"Report written to {report}")
    click.echo(f"Results: {report.parent / 'results.json'}")


if __name__ == "__main__":  # pragma: no cover
    main()
