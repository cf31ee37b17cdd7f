"""Report sections beyond the per-outcome ones: the PRISMA 2020 flow of study selection.

Each function returns a plain dict for the template (numbers already formatted, user text
left as entered for Jinja2 to escape) and writes its figures into the output folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trialsynth.stats.prisma import check_prisma

#: What the report says when a review gives no flow counts: nothing is drawn from guesses.
PRISMA_NOT_REPORTED = (
    "The PRISMA 2020 flow counts (records identified, screened, assessed and excluded) are not "
    "reported for this review, so no flow diagram is drawn; the numbers are never estimated."
)


def _inline_svg(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def prisma_section(review, out: Path) -> dict[str, Any]:
    """The study-selection section: the flow diagram (SVG/PNG/PDF in ``out/figures``) and the
    places where its counts do not add up, or the sentence saying the counts are not reported."""
    counts = review.prisma
    search_note = review.search.note
    if counts is None:
        return {
            "diagram": "",
            "files": [],
            "problems": [],
            "notes": [],
            "origin": "",
            "not_reported": PRISMA_NOT_REPORTED,
            "search_note": search_note,
        }
    from trialsynth.plots import save_figure
    from trialsynth.plots.prisma import prisma_flow

    fig = prisma_flow(counts)
    paths = save_figure(fig, out / "figures" / "prisma-flow")
    svg = next(p for p in paths if p.suffix == ".svg")
    return {
        "diagram": _inline_svg(svg),
        "files": [str(p.relative_to(out)) for p in paths],
        "problems": check_prisma(counts),
        "notes": list(counts.notes) + agreement_sentences(review.path) + stopping_sentences(review.path),
        "origin": counts.origin,
        "not_reported": "",
        "search_note": search_note,
    }


_STAGE_NAMES = {"title_abstract": "Title and abstract screening", "full_text": "Full-text screening"}


def agreement_sentences(review_dir: Path) -> list[str]:
    """One sentence per stage and pair of reviewers: records both decided, conflicts and how
    they were resolved, Cohen's κ and Gwet's AC1 (none when the review has no record store or
    no stage decided by two reviewers)."""
    from trialsynth.io.records.store import STORE_NAME

    if not (Path(review_dir) / STORE_NAME).exists():
        return []
    from trialsynth.workflow.screening.session import screening_agreement

    out = []
    for stage, entry in screening_agreement(review_dir).items():
        how = entry["conflict_resolution"]
        for pair in entry["agreement"]:
            kappa = "not defined" if pair["kappa"] is None else f"{pair['kappa']:.2f}"
            ac1 = "not defined" if pair["ac1"] is None else f"{pair['ac1']:.2f}"
            out.append(
                f"{_STAGE_NAMES.get(stage, stage)}: {' and '.join(pair['reviewers'])} both decided "
                f"{pair['records']} records and disagreed on {pair['conflicts']} (Cohen's κ {kappa}, "
                f"Gwet's AC1 {ac1}); conflicts resolved by consensus {how['consensus']}, by a third "
                f"reviewer {how['third_reviewer']}, open {how['open']}."
            )
    return out


def stopping_sentences(review_dir: Path) -> list[str]:
    """One sentence per stage and reviewer that began the stopping rule's random sample
    ("Title/abstract, A: screening stopped at record N: recall ≥ 95% with 95% confidence,
    p = …", or where the test stands)."""
    from trialsynth.io.records.store import STORE_NAME

    if not (Path(review_dir) / STORE_NAME).exists():
        return []
    from trialsynth.workflow.screening.session import screening_stopping

    return [
        f"{_STAGE_NAMES.get(state.stage, state.stage)}, {state.reviewer}: {state.sentence()}."
        for state in screening_stopping(review_dir)
    ]


# --------------------------------------------------------------------------- summary of findings

_DOMAIN_NAMES = {
    "risk_of_bias": "Risk of bias",
    "inconsistency": "Inconsistency",
    "indirectness": "Indirectness",
    "imprecision": "Imprecision",
    "publication_bias": "Publication bias",
    "large_effect": "Large effect (rated up)",
    "dose_response": "Dose–response gradient (rated up)",
    "plausible_confounding": "Plausible confounding (rated up)",
}
#: GRADE's symbols for the certainty of evidence.
_CERTAINTY_SYMBOLS = {"high": "⊕⊕⊕⊕", "moderate": "⊕⊕⊕◯", "low": "⊕⊕◯◯", "very low": "⊕◯◯◯"}

SOF_COLUMNS = (
    "analysis_set",
    "outcome",
    "name",
    "measure",
    "studies",
    "studies_in_set",
    "participants",
    "participants_unknown",
    "estimate",
    "ci_lower",
    "ci_upper",
    "acr",
    "acr_kind",
    "acr_source",
    "control_per_1000",
    "intervention_per_1000",
    "intervention_per_1000_lower",
    "intervention_per_1000_upper",
    "certainty",
    "downgrades",
    "imprecision_rating",
    "ois",
    "ois_unit",
    "ois_accrued",
    "ois_met",
    "ois_check",
    "ci_includes_null",
    "notes",
)


def _per_1000(x: float | None) -> str:
    return "" if x is None else f"{round(x * 1000):d}"


def _signed(x: float, digits: int = 2) -> str:
    text = f"{x:.{digits}f}"
    return text.replace("-", "−") if float(text) != 0 else text.lstrip("-")


def _difference(d: float) -> str:
    n = round(abs(d) * 1000)
    return f"{n} more" if d > 0 and n else (f"{n} fewer" if n else "0 more")


def sof_csv_rows(rows) -> list[list[str]]:
    """sof.csv: one line per outcome and analysis set, numbers unrounded (``repr``); blank when
    not available. Risks per 1000 are the risks × 1000."""
    out = [list(SOF_COLUMNS)]

    def cell(x) -> str:
        if x is None:
            return ""
        if isinstance(x, bool):
            return "yes" if x else "no"
        if isinstance(x, float):
            return repr(x)
        return str(x)

    for r in rows:
        thousand = {
            "control_per_1000": None if r.acr is None else r.acr * 1000,
            "intervention_per_1000": None if r.risk_intervention is None else r.risk_intervention * 1000,
            "intervention_per_1000_lower": None if r.risk_lower is None else r.risk_lower * 1000,
            "intervention_per_1000_upper": None if r.risk_upper is None else r.risk_upper * 1000,
        }
        values = {
            **{c: getattr(r, c, None) for c in SOF_COLUMNS},
            **thousand,
            "participants_unknown": "; ".join(r.participants_unknown),
            "acr_source": r.acr_text,
            "downgrades": "; ".join(f"{d} ({rating}): {reason}" for d, rating, reason in r.downgrades),
            "ois_check": r.ois_text,
            "notes": " ".join(r.notes),
        }
        out.append([cell(values[c]) for c in SOF_COLUMNS])
    return out


def _sof_display(r, labels: dict[str, str]) -> dict[str, Any]:
    from trialsynth.report.explain import num

    studies = f"{r.studies} of {r.studies_in_set}"
    if r.participants is None:
        participants = f"not known ({studies} trials with data)"
    else:
        participants = f"{r.participants:,} ({studies} trials)"
        if r.participants_unknown:
            unknown = ", ".join(labels.get(s, s) for s in r.participants_unknown)
            participants += f"; participants of {unknown} not known"
    effect = "no data"
    if r.estimate is not None:
        kind = "" if r.pooled else " (single trial)"
        if r.measure in ("MD", "SMD", "RD"):
            unit = f" {r.unit}" if r.unit and r.measure == "MD" else ""
            ci = f"({_signed(r.ci_lower)} to {_signed(r.ci_upper)})"
            effect = f"{r.measure} {_signed(r.estimate)}{unit} {ci}{kind}"
        else:
            effect = f"{r.measure} {num(r.estimate)} ({num(r.ci_lower)} to {num(r.ci_upper)}){kind}"
    control = intervention = ""
    if r.acr is not None:
        control = f"{_per_1000(r.acr)} per 1000"
    if r.risk_intervention is not None:
        intervention = (
            f"{_per_1000(r.risk_intervention)} per 1000 "
            f"({_per_1000(r.risk_lower)} to {_per_1000(r.risk_upper)}); "
            f"{_difference(r.risk_intervention - r.acr)} per 1000 "
            f"({_difference(r.risk_lower - r.acr)} to {_difference(r.risk_upper - r.acr)})"
        )
    elif r.measure in ("MD", "SMD") and r.estimate is not None:
        unit = (r.unit + " ") if r.unit and r.measure == "MD" else ("SD " if r.measure == "SMD" else "")

        def side(x: float) -> str:
            return f"{abs(x):.2f} {unit}{'higher' if x > 0 else 'lower'}"

        intervention = (
            f"mean {side(r.estimate)} with the intervention ({side(r.ci_lower)} to {side(r.ci_upper)})"
        )
        control = "—"
    elif r.measure in ("OR", "RR", "RD", "HR"):
        control = "not available"
        intervention = "not calculated: no assumed control risk"
    reasons = [f"{_DOMAIN_NAMES[d]} ({_signed(rating, 0)}): {reason}" for d, rating, reason in r.downgrades]
    if r.ois_met is None:
        ois_flag, ois_class = "OIS not checked", "gap"
    else:
        ois_flag, ois_class = ("OIS met", "") if r.ois_met else ("OIS not met", "derived")
    if r.imprecision_rating is None:
        judgement = "Imprecision not rated by the review"
    else:
        judgement = f"The review's imprecision rating: {_signed(r.imprecision_rating, 0)}"
    return {
        "name": r.name,
        "participants": participants,
        "effect": effect,
        "control": control,
        "intervention": intervention,
        "acr_text": r.acr_text,
        "certainty": r.certainty,
        "symbols": _CERTAINTY_SYMBOLS.get(r.certainty, ""),
        "reasons": reasons,
        "ois_flag": ois_flag,
        "ois_class": ois_class,
        "ois_text": r.ois_text
        + (
            ""
            if r.ci_includes_null is None
            else f"; the CI {'includes' if r.ci_includes_null else 'excludes'} the null"
        ),
        "judgement": judgement,
        "notes": list(r.notes),
    }


def sof_section(analysis, out: Path) -> list[dict[str, Any]]:
    """The summary-of-findings tables (one per analysis set) for the report; writes ``sof.csv``."""
    import csv
    import io

    from trialsynth.io.atomic import replace_file
    from trialsynth.stats.sof import summary_of_findings

    review = analysis.review
    rows = summary_of_findings(analysis)
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(sof_csv_rows(rows))
    replace_file(out / "sof.csv", buffer.getvalue())
    labels = {s.id: s.label for s in review.studies}
    blocks = []
    for aset in review.analysis_sets:
        blocks.append(
            {
                "set_name": aset.name,
                "rows": [_sof_display(r, labels) for r in rows if r.analysis_set == aset.id],
            }
        )
    return blocks
