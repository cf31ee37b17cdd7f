"""The report's reference list in Vancouver style, and its methods paragraph.

Vancouver style as the ICMJE recommends it (the NLM's *Citing Medicine*, 2nd ed.): authors as
surname and initials, the first six then "et al."; the title; the journal's abbreviation; then
``Year;Volume(Issue):Pages`` with the repeated leading digits of the last page left out
(``1300-1309`` → ``1300-9``). A citation that could not be read into fields is printed as given.
"""

from __future__ import annotations

from typing import Any

from trialsynth.io.citations import Reference, expand_pages

__all__ = ["METHOD_REFERENCES", "methods_paragraph", "reference_section", "vancouver", "vancouver_pages"]

#: At most this many authors are listed; more are cut to the first six and "et al." (ICMJE).
MAX_AUTHORS = 6


def vancouver_pages(pages: str) -> str:
    """``"1300-1309"`` → ``"1300-9"``; ``"1509-18"`` stays; a single page as it is."""
    first, last = expand_pages(pages)
    if not last:
        return first
    if first.isdigit() and last.isdigit() and len(first) == len(last):
        i = 0
        while i < len(first) - 1 and first[i] == last[i]:
            i += 1
        last = last[i:]
    return f"{first}-{last}"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def vancouver(ref: Reference) -> str:
    """One reference in Vancouver style (ICMJE).

    The shape is ``Authors. Title. Journal. Year;Vol(Issue):Pages.``"""
    if ref.text:
        return _sentence(ref.text)
    parts = []
    names = list(ref.authors[:MAX_AUTHORS])
    if names:
        more = ref.et_al or len(ref.authors) > MAX_AUTHORS
        parts.append(_sentence(", ".join(names) + (", et al" if more else "")))
    if ref.title:
        parts.append(_sentence(ref.title))
    journal = ref.journal_abbrev or ref.journal
    if journal:
        parts.append(_sentence(journal))
    where = "" if ref.year is None else str(ref.year)
    if ref.volume:
        where += f";{ref.volume}"
    if ref.issue:
        where += f"({ref.issue})"
    if ref.pages:
        where += f":{vancouver_pages(ref.pages)}"
    if where:
        parts.append(_sentence(where))
    return " ".join(parts)


#: The papers behind the methods the report names, in Vancouver style (cited by the methods
#: paragraph only where the review uses the method).
METHOD_REFERENCES = {
    "DL": "DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials. 1986;7(3):177-88.",
    "REML": "Viechtbauer W. Bias and efficiency of meta-analytic variance estimators in the random-effects "
    "model. J Educ Behav Stat. 2005;30(3):261-93.",
    "PM": "Paule RC, Mandel J. Consensus values and weighted averages. J Res Natl Bur Stand. "
    "1982;87(5):377-85.",
    "MH": "Mantel N, Haenszel W. Statistical aspects of the analysis of data from retrospective studies of "
    "disease. J Natl Cancer Inst. 1959;22(4):719-48.",
    "PETO": "Yusuf S, Peto R, Lewis J, Collins R, Sleight P. Beta blockade during and after myocardial "
    "infarction: an overview of the randomized trials. Prog Cardiovasc Dis. 1985;27(5):335-71.",
    "hk": "Hartung J, Knapp G. A refined method for the meta-analysis of controlled clinical trials with "
    "binary outcome. Stat Med. 2001;20(24):3875-89.",
    "I2": "Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. Stat Med. "
    "2002;21(11):1539-58.",
    "PRISMA": "Page MJ, McKenzie JE, Bossuyt PM, Boutron I, Hoffmann TC, Mulrow CD, et al. The PRISMA 2020 "
    "statement: an updated guideline for reporting systematic reviews. BMJ. 2021;372:n71.",
    "RoB2": "Sterne JAC, Savović J, Page MJ, Elbers RG, Blencowe NS, Boutron I, et al. RoB 2: a revised tool "
    "for assessing risk of bias in randomised trials. BMJ. 2019;366:l4898.",
    "GRADE": "Guyatt GH, Oxman AD, Vist GE, Kunz R, Falck-Ytter Y, Alonso-Coello P, et al. GRADE: an "
    "emerging consensus on rating quality of evidence and strength of recommendations. BMJ. "
    "2008;336(7650):924-6.",
    "funnel": "Sterne JAC, Sutton AJ, Ioannidis JPA, Terrin N, Jones DR, Lau J, et al. Recommendations for "
    "examining and interpreting funnel plot asymmetry in meta-analyses of randomised controlled trials. "
    "BMJ. 2011;343:d4002.",
}

_METHOD_WORDS = {
    "FE": "a fixed (common) effect inverse-variance model",
    "MH": "the Mantel–Haenszel fixed-effect method",
    "PETO": "Peto's one-step method",
    "DL": "DerSimonian–Laird random effects",
    "REML": "random effects with τ² by restricted maximum likelihood",
    "PM": "random effects with the Paule–Mandel τ²",
    "ML": "random effects with τ² by maximum likelihood",
    "HE": "random effects with the Hedges τ²",
    "SJ": "random effects with the Sidik–Jonkman τ²",
    "EB": "random effects with the empirical Bayes τ²",
    "HS": "random effects with the Hunter–Schmidt τ²",
    "GLMM": "a generalised linear mixed model (GLMM)",
}


def methods_paragraph(
    review, *, rob: bool, prisma: bool, sof: bool, funnel: bool, generator: str
) -> dict[str, Any]:
    """The statistical-methods paragraph of the report with numbered citations, and the
    numbered list it cites: ``{"text": str, "references": [str, ...]}``."""
    cited: list[str] = []

    def cite(key: str) -> str:
        if key not in METHOD_REFERENCES:
            return ""
        if key not in cited:
            cited.append(key)
        return f" [{cited.index(key) + 1}]"

    models = []
    for o in review.outcomes:
        for spec in (o.model, *o.sensitivity):
            if (spec.method, spec.hk) not in models:
                models.append((spec.method, spec.hk))
    main = review.analysis.model
    words = _METHOD_WORDS.get(main.method, f"the {main.method} method")
    text = [
        f"Trials were pooled with {words}{cite(main.method)}"
        + (f" and the Hartung–Knapp adjustment{cite('hk')}" if main.hk else "")
        + "."
    ]
    others = [m for m in models if m != (main.method, main.hk)]
    if others:
        described = []
        for method, hk in others:
            described.append(
                _METHOD_WORDS.get(method, method)
                + cite(method)
                + (f" with the Hartung–Knapp adjustment{cite('hk')}" if hk else "")
            )
        text.append("Other models (per outcome, or as sensitivity analyses): " + "; ".join(described) + ".")
    profile = "from Cochran's Q, as RevMan 5 does" if review.analysis.profile == "revman" else "from τ²"
    text.append(f"Heterogeneity is described by τ², Cochran's Q and I² ({profile}){cite('I2')}.")
    zero = _zero_cell_sentence(review)
    if zero:
        text.append(zero)
    if funnel:
        text.append(f"Small-study effects were examined with contour-enhanced funnel plots{cite('funnel')}.")
    if rob:
        text.append(f"Risk of bias was judged with RoB 2{cite('RoB2')}.")
    if sof:
        text.append(f"The certainty of the evidence is rated with GRADE{cite('GRADE')}.")
    if prisma:
        text.append(f"Study selection is reported as a PRISMA 2020 flow diagram{cite('PRISMA')}.")
    text.append(f"Analyses were run with {generator}.")
    return {"text": " ".join(text), "references": [METHOD_REFERENCES[k] for k in cited]}


def _zero_cell_sentence(review) -> str:
    """How zero cells and double-zero trials were handled, when an outcome pools 2×2 tables as
    odds or risk ratios ("" otherwise): the profile decides for inverse variance (metafor's
    ``rma``/``escalc`` keep double-zero tables, drop00 = FALSE; RevMan 5 leaves them out), and
    Mantel–Haenszel and Peto leave them out under both."""
    specs = [
        spec
        for o in review.outcomes
        if getattr(o, "data_type", "") == "binary" and getattr(o, "measure", "").upper() in ("OR", "RR")
        for spec in (o.model, *o.sensitivity)
    ]
    if not specs:
        return ""
    iv = any(spec.method not in ("MH", "PETO", "GLMM") for spec in specs)
    count = any(spec.method in ("MH", "PETO") for spec in specs)
    parts = []
    if iv:
        if review.analysis.profile == "revman":
            parts.append(
                "inverse-variance analyses added 0.5 to each cell of a 2×2 table with a zero cell and "
                "left out trials with no events (or only events) in both arms, as RevMan 5 does"
            )
        else:
            parts.append(
                "inverse-variance analyses added 0.5 to each cell of a 2×2 table with a zero cell, "
                "trials with no events (or only events) in both arms included, as metafor's default "
                "(drop00 = FALSE)"
            )
    if count:
        parts.append("Mantel–Haenszel and Peto analyses left trials with no events in both arms out")
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


def reference_section(review) -> dict[str, Any]:
    """The included and excluded studies' references in Vancouver style, with their origin."""
    from trialsynth.io.citations import review_references

    included, excluded = review_references(review)
    labels = {s.id: s.label for s in review.studies}
    return {
        "included": [
            {"label": labels.get(r.study, r.study), "text": vancouver(r), "origin": r.origin}
            for r in included
        ],
        "excluded": [
            {"label": "", "text": vancouver(r), "reason": r.reason, "origin": r.origin} for r in excluded
        ],
    }
