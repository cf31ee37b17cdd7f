"""The ``trialsynth`` command line: a thin layer over the library.

Heavy modules are imported inside the commands so that ``--help`` and small pools answer
quickly. Bad input exits with status 2 and one line on standard error; warnings (continuity
corrections, dropped studies, non-convergence) are printed on standard error, one line each.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import click

MEASURES = ("OR", "RR", "RD", "MD", "SMD", "HR", "ROM", "IRR", "IRD", "PR", "PLO", "PAS", "PFT")
METHODS = ("FE", "MH", "PETO", "DL", "REML", "PM", "ML", "HE", "SJ", "EB", "HS")
POOL_METHODS = (*METHODS, "GLMM")
GLMM_MODELS = ("UM.FS", "UM.RS", "CM.EL", "CM.AL")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)


#: Commands defined in their own modules, imported only when named (or listed by --help), so
#: that ``trialsynth pool`` loads none of them: command name → (module, attribute).
LAZY_COMMANDS = {
    "revman": ("trialsynth.cli.revman", "revman"),
    "records": ("trialsynth.cli.records", "records"),
    "prisma": ("trialsynth.cli.records", "prisma"),
    "search": ("trialsynth.cli.records", "search"),
    "extraction": ("trialsynth.cli.records", "extraction"),
    "screen": ("trialsynth.cli.screen", "screen"),
    "serve": ("trialsynth.cli.screen", "serve"),
    "screen-simulate": ("trialsynth.cli.screen", "screen_simulate"),
    "simulate": ("trialsynth.cli.simulate", "simulate"),
    "nma": ("trialsynth.cli.nma", "nma"),
    "km": ("trialsynth.cli.km", "km"),
    "rob2": ("trialsynth.cli.rob2", "rob2"),
}


class _Group(click.Group):
    """Turns a user-input error into one line on stderr and exit status 2; loads the commands of
    :data:`LAZY_COMMANDS` on first use."""

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            import importlib

            module, attribute = LAZY_COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx):
        from trialsynth._core.errors import InputError
        from trialsynth.cli.progress import progress_bars

        warnings.showwarning = _show_warning
        try:
            with progress_bars(bool(ctx.params.get("quiet"))):
                return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trialsynth")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars (they are shown only on a terminal).")
def main(quiet: bool = False) -> None:
    """trialsynth: meta-analysis of randomized controlled trials, from data to report.

    \b
    Commands:
      pool   pool one table of trials (CSV) and print the result
      run    run a review folder (the bundled imaging-guided CRT review by default)
    """


def _json_dumps(data) -> str:
    from trialsynth._core.serialize import dumps_json

    return dumps_json(data)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--measure",
    required=True,
    type=click.Choice(MEASURES, case_sensitive=False),
    help="Effect measure: OR, RR, RD (2×2 counts or generic), MD, SMD (means/SDs or generic), HR (generic), "
    "ROM (ratio of means, log scale), IRR, IRD (events and person-time).",
)
@click.option(
    "--method",
    default="REML",
    show_default=True,
    type=click.Choice(POOL_METHODS, case_sensitive=False),
    help="FE (inverse-variance fixed effect), MH (Mantel–Haenszel), PETO (Peto OR), a random-effects "
    "τ² estimator: DL, REML, PM, ML, HE, SJ, EB, HS, or GLMM (binomial–normal model, see --glmm).",
)
@click.option(
    "--glmm",
    "glmm_model",
    default="UM.FS",
    show_default=True,
    type=click.Choice(GLMM_MODELS, case_sensitive=False),
    help="With --method GLMM (OR from 2×2 counts): the binomial–normal model, as metafor's rma.glmm.",
)
@click.option("--fixed", is_flag=True, help="With --method GLMM: fixed-effect model (τ² = 0).")
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
@click.option(
    "--bayes",
    is_flag=True,
    help="Bayesian random-effects meta-analysis (exact numerical integration; --method, --hk and --pi "
    "do not apply).",
)
@click.option(
    "--mu-prior",
    default=None,
    help="With --bayes: prior for the effect μ, 'uniform' (improper, the default) or 'normal:M,S'.",
)
@click.option(
    "--tau-prior",
    default=None,
    help="With --bayes: prior for τ, halfnormal:S, halfcauchy:S, uniform[:A], lognormal:M,S "
    "(log τ² ~ N(M, S²)) or turner[:OUTCOME:COMPARISON] (Turner et al. 2015, Table IV, log odds ratios; "
    "e.g. turner:all-cause-mortality:pharma-placebo; comparisons pharma-placebo, pharma-pharma, "
    "nonpharma-placebo, nonpharma-pharma, nonpharma-nonpharma). Default halfnormal:0.5 for OR, RR, HR, SMD.",
)
@click.option(
    "--interval",
    default="central",
    show_default=True,
    type=click.Choice(["central", "shortest"]),
    help="With --bayes: equal-tailed or shortest credible intervals.",
)
@click.option(
    "--subgroup", default=None, help="Subgroup analysis by this column (adds 'subgroups', 'q_between')."
)
@click.option(
    "--subgroup-tau2",
    default="separate",
    show_default=True,
    type=click.Choice(["separate", "common"]),
    help="With --subgroup: a τ² per subgroup, or one common τ² (a model with the subgroup as a factor).",
)
@click.option(
    "--moderators",
    default=None,
    help="Meta-regression on these columns (COL[,COL…]); a column that is not all numbers is categorical.",
)
@click.option(
    "--permutations", default=None, type=int, help="With --moderators: permutation test (N iterations)."
)
@click.option("--seed", default=None, type=int, help="With --permutations: seed of the random permutations.")
@click.option(
    "--multilevel",
    is_flag=True,
    help="Several effect sizes per study (rows sharing a study label; an es_id column names them): "
    "three-level model ~ 1 | study/es_id by REML or ML (adds 'sigma2', outer level first, and 'multilevel').",
)
@click.option(
    "--rho", default=0.0, show_default=True, type=float,
    help="With --multilevel: working correlation of the sampling errors within a study.",
)
@click.option(
    "--robust", "robust_type", default=None, type=click.Choice(["CR2"], case_sensitive=False),
    help="With --multilevel: cluster-robust (CR2, Satterthwaite df) tests by study (adds 'robust').",
)
@click.option(
    "--median-method",
    default="luo-shi",
    show_default=True,
    type=click.Choice(["luo-shi", "wan"]),
    help="Mean and SD from a median: luo-shi (mean by Luo et al. 2018, SD by Wan et al. 2014 or, with "
    "quartiles and range, Shi et al. 2020: the current recommendation) or wan (Wan et al. 2014 throughout).",
)
@click.option(
    "--exclude-derived",
    is_flag=True,
    help="Sensitivity analysis: leave out the studies whose numbers had to be derived (shown, not pooled).",
)
def pool(
    file,
    measure,
    method,
    hk,
    hk_variant,
    level,
    pi_type,
    add,
    add_to,
    profile,
    as_json,
    bayes,
    mu_prior,
    tau_prior,
    interval,
    subgroup=None,
    subgroup_tau2="separate",
    moderators=None,
    permutations=None,
    seed=None,
    glmm_model="UM.FS",
    fixed=False,
    multilevel=False,
    rho=0.0,
    robust_type=None,
    median_method="luo-shi",
    exclude_derived=False,
) -> None:
    """Pool the trials in FILE (CSV, or an Excel sheet: FILE.xlsx or FILE.xlsx#Sheet) and print the result.

    \b
    Columns, recognised by name (a `study` column is always required):
      2×2 counts:   events_treatment, n_treatment, events_control, n_control
      continuous:   mean_treatment, sd_treatment, n_treatment, mean_control, sd_control, n_control
      generic:      estimate, ci_lower, ci_upper [, ci_level]   (natural scale, e.g. HR 0.60)
                    log_estimate, se (ratio measures)  |  estimate, se (differences)
      hazard ratio: p_value, events, direction, n_treatment, n_control  (Tierney et al. 2007)
                    o_minus_e, v
      rates (IRR, IRD): events_treatment, person_time_treatment, events_control, person_time_control
    Forms whose numbers are derived (ARM is treatment and control, each with n_ARM):
      percent_ARM                          % of the arm with the event: events = round(% × n),
                                           flagged as derived (OR, RR, RD)
      mean_ARM, se_ARM                     SE of the arm mean: SD = SE × √n
      mean_ARM, ci_lower_ARM, ci_upper_ARM 95% CI of the arm mean: SD = √n × width / (2 × t or z),
                                           t(n−1) below 60 patients (Cochrane Handbook 6.5.2.2)
      mean_ARM (a mean change), baseline_sd_ARM, final_sd_ARM, correlation
                                           SD of the change (Handbook 6.5.2.8); MD, or SMD if
                                           every row is a change score
      median_ARM with q1_ARM, q3_ARM and/or min_ARM, max_ARM
                                           mean and SD estimated (--median-method); skewed
                                           quartiles give a warning
      estimate, p_value, n_treatment, n_control
                                           MD with its two-sided p-value: SE = |MD| / t(n1+n2−2)
      icc, cluster_size (with any counts or means row)
                                           cluster trial: n and events divided by the design
                                           effect 1 + (cluster_size − 1) × icc (Handbook 23.1.4)
    ROM takes the forms with means or medians (means above 0).
    Rows may use different forms. A row with blank cells is left out with a warning.
    --json gives each study's effect, variance, derivations (method, formula, inputs, result,
    reference) and derivation (the same as text, e.g. "SD from SE: 1.2 × √40 = 7.589");
    docs/derived-numbers.md has every formula with its reference.
    Without --json a table is printed with ratios back-transformed.
    Files above 50 MB or 100,000 rows are refused before they are read (TRIALSYNTH_MAX_TABLE_MB,
    TRIALSYNTH_MAX_TABLE_ROWS change the limits; docs/limits.md).
    """
    if bayes:
        from trialsynth.workflow.pool_files import bayes_file

        bres = bayes_file(
            file,
            measure=measure,
            tau_prior=tau_prior,
            mu_prior=mu_prior,
            level=level,
            interval=interval,
            add=add,
            to=add_to,
            profile=profile,
        )
        click.echo(_json_dumps(bres.to_json_dict()) if as_json else bres.format_text())
        return
    if multilevel or robust_type:
        _pool_multilevel(
            file, measure, method, level, add, add_to, profile, moderators, rho, robust_type, as_json
        )
        return
    from trialsynth.workflow.pool_files import pool_file

    glmm_options = {"glmm": glmm_model.upper(), "fixed": fixed} if method.upper() == "GLMM" else {}
    result = pool_file(
        file,
        measure=measure.upper(),
        method=method.upper(),
        **glmm_options,
        hk=hk,
        hk_variant=hk_variant,
        level=level,
        pi_type=pi_type,
        add=add,
        to=add_to,
        profile=profile,
        median_method=median_method,
        exclude_derived=exclude_derived,
    )
    extra: dict[str, Any] = {}
    extra_text = ""
    if subgroup or moderators:
        from trialsynth.workflow.pool_files import pool_extras

        extra, extra_text = pool_extras(
            file,
            measure=measure,
            subgroup=subgroup,
            subgroup_tau2=subgroup_tau2,
            moderators=moderators,
            permutations=permutations,
            seed=seed,
            method=method.upper(),
            hk=hk,
            hk_variant=hk_variant,
            level=level,
            pi_type=pi_type,
            add=add,
            to=add_to,
            profile=profile,
            median_method=median_method,
            exclude_derived=exclude_derived,
        )
    if as_json:
        from trialsynth.report.derivation import render_all

        out = {**result.to_json_dict(), **extra}
        for row, study in zip(out["studies"], result.studies, strict=True):
            row["derivation"] = render_all(study.derivations)
        click.echo(_json_dumps(out))
    else:
        from trialsynth.report.text import result_table

        click.echo(result_table(result) + ("\n\n" + extra_text if extra_text else ""))


def _pool_multilevel(
    file, measure, method, level, add, add_to, profile, moderators, rho, robust_type, as_json
):
    from trialsynth._core.errors import InputError
    from trialsynth.io.poolcsv import read_pool_csv
    from trialsynth.stats.multilevel import pool_multilevel

    if robust_type and method.upper() not in ("REML", "ML"):
        raise InputError("--robust needs --multilevel with --method REML or ML")
    data = read_pool_csv(file, measure=measure.upper(), repeated=True)
    mods = [m.strip() for m in moderators.split(",")] if moderators else []
    out = pool_multilevel(
        data, method=method, robust=robust_type, rho=rho, moderators=mods, level=level, add=add, to=add_to,
        profile=profile,
    )
    if as_json:
        click.echo(_json_dumps(out))
        return
    ml = out["multilevel"]
    lines = [
        f"Three-level model ({ml['method']}), k = {ml['k_effects']} effect sizes in {ml['k_studies']} studies"
    ]
    for c in ml["coefficients"]:
        lines.append(f"  {c['name']:<20} {c['estimate']:10.4f}  SE {c['se']:.4f}  "
                     f"CI {c['ci_lower']:.4f} to {c['ci_upper']:.4f}  p = {c['p_value']:.4g}")
    for v in ml["variance_components"]:
        lines.append(f"  σ² ({v['level']}, {v['n_levels']} levels) = {v['estimate']:.4f}  "
                     f"I² = {v['i2']:.1f}%")
    if "robust" in out:
        for c in out["robust"]["coefficients"]:
            lines.append(f"  CR2 {c['name']:<16} SE {c['se']:.4f}  df {c['df']:.2f}  p = {c['p_value']:.4g}")
    click.echo("\n".join(lines))


@main.command()
@click.argument("review_dir", required=False, type=click.Path(file_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Output folder (default: out/<review folder name>).",
)
@click.option(
    "--pdf/--no-pdf",
    default=None,
    help="Also print the report to report.pdf (needs the optional WeasyPrint). Default: when available.",
)
@click.option("--docx/--no-docx", default=True, show_default=True, help="Also write report.docx (Word).")
@click.option("--xlsx/--no-xlsx", default=True, show_default=True, help="Also write results.xlsx (Excel).")
@click.option(
    "--rm5/--no-rm5",
    default=True,
    show_default=True,
    help="Also write the review as a RevMan 5 file, review.rm5 (see `trialsynth revman export`).",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress bars (shown per outcome and figure on a terminal)."
)
def run(review_dir, out_dir, pdf, docx, xlsx, rm5, quiet=False) -> None:
    """Run a review folder into results.json, figures, report.html, report.pdf, report.docx,
    results.xlsx, review.rm5 (RevMan 5) and the references as RIS and BibTeX (included.ris/.bib,
    excluded.ris/.bib).

    Without REVIEW_DIR the bundled imaging-guided CRT review (examples/imaging-guided-crt)
    is run into out/imaging-guided-crt. Warnings from the analyses are listed in the report.
    """
    from trialsynth.cli.progress import set_quiet
    from trialsynth.report.pdf import report_pdf

    set_quiet(quiet)
    from trialsynth.report.review import run_review

    pdf_step: dict = {}

    def finish(html):  # inside the run's temporary folder, before it is swapped in
        try:
            pdf_step["path"] = report_pdf(html, pdf)
        except click.ClickException as exc:  # --pdf without WeasyPrint: the HTML report stands
            pdf_step["error"] = exc

    report = run_review(review_dir, out_dir, docx=docx, xlsx=xlsx, rm5=rm5, finish=finish)
    click.echo(f"Report written to {report}")
    click.echo(f"Results: {report.parent / 'results.json'}")
    for name in ("report.docx", "results.xlsx") if docx or xlsx else ():
        if (docx if name.endswith("docx") else xlsx):
            click.echo(f"{'Word' if name.endswith('docx') else 'Excel'}: {report.parent / name}")
    if pdf_step.get("path") is not None:
        click.echo(f"PDF: {report.parent / pdf_step['path'].name}")
    if "error" in pdf_step:
        raise pdf_step["error"]


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--measure", required=True, type=click.Choice(MEASURES, case_sensitive=False), help="Effect measure."
)
@click.option(
    "--method",
    default="DL",
    show_default=True,
    type=click.Choice(METHODS, case_sensitive=False),
    help="Pooling method of the cumulative meta-analysis (TSA's default: DerSimonian–Laird).",
)
@click.option(
    "--alpha", default=0.05, show_default=True, type=float, help="Two-sided α (0.05, or 5 for 5 %)."
)
@click.option("--power", default=0.80, show_default=True, type=float, help="Power 1 − β (0.80, or 80).")
@click.option("--control-risk", type=float, help="Binary: anticipated control event proportion (0.30).")
@click.option("--rrr", type=float, help="Binary: anticipated relative risk reduction (0.20 for 20 %).")
@click.option("--mean-difference", type=float, help="Continuous: minimal relevant mean difference.")
@click.option("--sd", type=float, help="Continuous: the outcome's standard deviation.")
@click.option("--hazard-ratio", type=float, help="Time to event: anticipated hazard ratio (RIS in events).")
@click.option(
    "--diversity",
    "diversity_value",
    default="auto",
    show_default=True,
    help="Heterogeneity adjustment D²: 'auto' (from the data under --method) or a fraction in [0, 1).",
)
@click.option(
    "--better",
    default="lower",
    show_default=True,
    type=click.Choice(["lower", "higher"]),
    help="Which direction favours the treatment on the analysis scale (lower: fewer bad events).",
)
@click.option(
    "--plot", "plot_path", type=click.Path(dir_okay=False), help="Also write the TSA plot (PNG, SVG, PDF)."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object (analysis scale: log for ratios)."
)
def tsa(
    file,
    measure,
    method,
    alpha,
    power,
    control_risk,
    rrr,
    mean_difference,
    sd,
    hazard_ratio,
    diversity_value,
    better,
    plot_path,
    as_json,
) -> None:
    """Trial sequential analysis of the trials in FILE, in the file's row order (sort it by date).

    Information is counted in participants (n_treatment + n_control), or in events for HR.
    Prints the required information size, the cumulative Z-curve, the monitoring and futility
    boundaries at each look, the TSA-adjusted CI and a conclusion.
    """
    from trialsynth.plots.tsa import tsa_plot
    from trialsynth.workflow.pool_files import tsa_file

    result = tsa_file(
        file,
        measure=measure,
        method=method,
        alpha=alpha,
        power=power,
        control_risk=control_risk,
        rrr=rrr,
        mean_difference=mean_difference,
        sd=sd,
        hazard_ratio=hazard_ratio,
        diversity_value=diversity_value,
        better=better,
    )
    if plot_path:
        from trialsynth.io.atomic import write_figure

        write_figure(tsa_plot(result), plot_path, dpi=150)
    click.echo(_json_dumps(result.to_json_dict()) if as_json else result.format_text())


def _model_options(func):
    """The model options shared by ``influence`` and ``bias`` (as ``pool``)."""
    options = [
        click.argument("file", type=click.Path(dir_okay=False)),
        click.option(
            "--measure",
            required=True,
            type=click.Choice(MEASURES, case_sensitive=False),
            help="Effect measure.",
        ),
        click.option(
            "--method",
            default="REML",
            show_default=True,
            type=click.Choice(METHODS, case_sensitive=False),
            help="FE, MH, PETO or a τ² estimator (DL, REML, PM, ML, HE, SJ, EB, HS), as for pool.",
        ),
        click.option("--hk", is_flag=True, help="Hartung–Knapp: scaled SEs and t tests (as metafor's knha)."),
        click.option(
            "--hk-variant",
            default="knha",
            show_default=True,
            type=click.Choice(["knha", "adhoc"]),
            help="As pool.",
        ),
        click.option(
            "--level", default=95.0, show_default=True, type=float, help="Confidence level in percent."
        ),
        click.option("--add", default=0.5, show_default=True, type=float, help="Continuity correction."),
        click.option(
            "--to",
            "add_to",
            default="only0",
            show_default=True,
            type=click.Choice(["only0", "all", "if0all", "none"]),
            help="Which tables get the correction.",
        ),
        click.option(
            "--profile", default="metafor", show_default=True, type=click.Choice(["metafor", "revman"])
        ),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object (analysis scale)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _pool_options(method, hk, hk_variant, level, add, add_to, profile) -> dict:
    return {
        "method": method.upper(),
        "hk": hk,
        "hk_variant": hk_variant,
        "level": level,
        "add": add,
        "to": add_to,
        "profile": profile,
    }


@main.command()
@_model_options
@click.option("--moderators", default=None, help="Diagnostics of the meta-regression on these columns.")
@click.option(
    "--cumulative", "cumulative_flag", is_flag=True, help="Also a cumulative meta-analysis (file order)."
)
@click.option("--cumulative-by", default=None, help="Also a cumulative meta-analysis ordered by this column.")
def influence(
    file,
    measure,
    method,
    hk,
    hk_variant,
    level,
    add,
    add_to,
    profile,
    as_json,
    moderators,
    cumulative_flag,
    cumulative_by,
) -> None:
    """Leave-one-out and influence diagnostics of the trials in FILE (metafor's leave1out, influence).

    Prints each study's leave-one-out fit and its externally standardised residual, DFFITS,
    Cook's distance, covariance ratio, τ² and Q without it, hat value and weight, flagged as
    influential by metafor's rule. Estimates are on the analysis scale (log for ratios).
    """
    from trialsynth.workflow.pool_files import sensitivity_file

    out, text = sensitivity_file(
        file,
        measure=measure.upper(),
        moderators=moderators,
        cumulative=cumulative_flag,
        cumulative_by=cumulative_by,
        **_pool_options(method, hk, hk_variant, level, add, add_to, profile),
    )
    click.echo(_json_dumps(out) if as_json else text)


@main.command()
@_model_options
@click.option(
    "--trimfill-estimator",
    default="L0",
    show_default=True,
    type=click.Choice(["L0", "R0", "Q0"]),
    help="Trim-and-fill estimator of the number of missing studies.",
)
@click.option(
    "--side",
    default=None,
    type=click.Choice(["left", "right"]),
    help="Trim-and-fill side (default: chosen from the sign of Egger's regression slope, as metafor).",
)
@click.option(
    "--orwin-target", default=None, type=float, help="Orwin's fail-safe N target (default: mean/2)."
)
@click.option("--fsn-alpha", default=0.05, show_default=True, type=float, help="Rosenthal's / Rosenberg's α.")
@click.option(
    "--steps",
    default="0.025",
    show_default=True,
    help="Selection model cut-points for one-sided p-values (COMMA separated; 1 is added).",
)
def bias(
    file,
    measure,
    method,
    hk,
    hk_variant,
    level,
    add,
    add_to,
    profile,
    as_json,
    trimfill_estimator,
    side,
    orwin_target,
    fsn_alpha,
    steps,
) -> None:
    """Small-study effects and publication bias for the trials in FILE (metafor's conventions).

    Egger's regression test (mixed-effects model with the SE as moderator, as regtest; the
    classic weighted-regression version as egger_lm), Begg's rank correlation, trim and fill,
    Rosenthal's, Orwin's and Rosenberg's fail-safe N, and where the data allow Peters' and
    Harbord's tests and a step-function selection model. Analysis scale (log for ratios).
    """
    from trialsynth.workflow.pool_files import bias_file

    out, text = bias_file(
        file,
        measure=measure.upper(),
        trimfill_estimator=trimfill_estimator,
        side=side,
        orwin_target=orwin_target,
        fsn_alpha=fsn_alpha,
        steps=steps,
        **_pool_options(method, hk, hk_variant, level, add, add_to, profile),
    )
    click.echo(_json_dumps(out) if as_json else text)
