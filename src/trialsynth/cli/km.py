"""``trialsynth km CURVES AT_RISK``: a hazard ratio from digitised Kaplan–Meier curves (a thin layer
over :mod:`trialsynth.workflow.km_files`)."""

from __future__ import annotations

import json
import math

import click


@click.command()
@click.argument("curves", type=click.Path(dir_okay=False))
@click.argument("at_risk", type=click.Path(dir_okay=False))
@click.option("--treatment", default=None, help="Arm name of the treatment [default: first arm of CURVES].")
@click.option("--control", default=None, help="Arm name of the control [default: second arm of CURVES].")
@click.option("--level", default=95.0, show_default=True, type=float, help="Confidence level in percent.")
@click.option("--study", default="study", show_default=True, help="Study label for the pool CSV row printed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (log HR and SE; log scale).")
def km(curves, at_risk, treatment, control, level, study, as_json) -> None:
    """A hazard ratio from digitised Kaplan–Meier curves (Guyot et al. 2012).

    \b
    CURVES:  arm, time, survival   (one row per digitised point; survival 0-1,
                                    or a survival_percent column)
    AT_RISK: arm, time, n_risk     (the numbers-at-risk table, from time 0)
    Each arm's patient data are reconstructed; the log HR (treatment vs control)
    and its SE come from a Cox model on them, with the log-rank O - E and V
    beside. The last line is a pool CSV row (study, log_estimate, se) for a
    generic HR analysis.
    """
    from trialsynth.workflow.km_files import km_file

    res = km_file(curves, at_risk, treatment=treatment, control=control, level=level)
    doc = res.to_json_dict()
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False))
        return
    t, c = res.treatment, res.control
    click.echo(
        f"Reconstructed: {t.arm} {t.n} patients, {t.events} events; {c.arm} {c.n} patients, {c.events} events"
    )
    click.echo(
        f"HR ({t.arm} vs {c.arm}) = {math.exp(doc['log_hr']):.3f} "
        f"({level:g}% CI {math.exp(doc['ci_lower']):.3f} to {math.exp(doc['ci_upper']):.3f}); "
        f"log HR = {doc['log_hr']:.4f}, SE = {doc['se']:.4f} (Cox)"
    )
    click.echo(
        f"Log-rank: O - E = {doc['o_minus_e']:.3f}, V = {doc['v']:.3f}, "
        f"log HR = {doc['log_hr_logrank']:.4f}, SE = {doc['se_logrank']:.4f}"
    )
    import csv
    import io

    row = io.StringIO()
    csv.writer(row, lineterminator="\n").writerows(
        [["study", "log_estimate", "se"], [study, doc["log_hr"], doc["se"]]]
    )
    click.echo(row.getvalue(), nl=False)
