"""``report.docx``: the report as a Word document (python-docx), for a manuscript.

The same content as ``report.html`` — question and methods (with a methods paragraph and its
references), the PRISMA 2020 flow diagram, the included trials, the summary of results and the
GRADE summary of findings, then per outcome the result, the forest plot, sensitivity,
leave-one-out, small-study effects, risk of bias (judgement tables and plots), subgroups,
cumulative and few-trials analyses and the data used with their sources; baseline
characteristics, data gaps and the reference list (Vancouver). Built from the same formatted
context as the HTML report, so every number reads as it does there.

Everything is editable: headings use Word's built-in styles (Title, Heading 1–3), tables are
Word tables in the "Table Grid" style, captions use the "Caption" style, so a journal's
template restyles the whole document. Figures are the 300-dpi PNGs; every caption names the
vector originals (SVG and PDF) written beside them in ``figures/``. The file is
byte-reproducible (fixed ZIP timestamps and core-property dates).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from trialsynth.io._atomic import reproducible_zip, write_bytes_atomic

__all__ = ["docx_bytes", "write_docx"]

#: Width of a figure on the page: wide figures span the text block of an A4/Letter page.
WIDE_INCHES = 6.3
NARROW_INCHES = 4.6


_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: object) -> str:
    """``text`` without the control characters XML cannot hold (a stray one in a CSV cell would
    otherwise stop the document being written)."""
    return _NOT_XML.sub("", str(text))


class _Writer:
    def __init__(self, out: Path) -> None:
        import docx

        self.out = out
        self.doc = docx.Document()

    # ------------------------------------------------------------------ blocks
    def heading(self, text: str, level: int) -> None:
        self.doc.add_heading(_xml_text(text), level)

    def para(self, text: str, *, style: str | None = None, bold_lead: str = "") -> None:
        if not text and not bold_lead:
            return
        p = self.doc.add_paragraph(style=style)
        if bold_lead:
            p.add_run(_xml_text(bold_lead)).bold = True
        p.add_run(_xml_text(text))

    def bullets(self, items, *, numbered: bool = False) -> None:
        """A bulleted list, or a numbered list that starts again at 1."""
        items = [_xml_text(x) for x in items]
        if not items:
            return
        num_id = self._restarted_numbering() if numbered else None
        for item in items:
            p = self.doc.add_paragraph(item, style="List Number" if numbered else "List Bullet")
            if num_id is not None:
                p_pr = p._p.get_or_add_pPr()
                p_pr.get_or_add_numPr().get_or_add_numId().val = num_id
                p_pr.get_or_add_numPr().get_or_add_ilvl().val = 0

    def _restarted_numbering(self) -> int:
        """A new numbering instance of the "List Number" style's list, restarting at 1 (in Word,
        paragraphs of one style share one counter unless given their own instance)."""
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn

        style = self.doc.styles["List Number"]
        style_num = style.element.pPr.numPr.numId.val
        numbering = self.doc.part.numbering_part.element
        abstract = numbering.num_having_numId(style_num).abstractNumId.val
        num = numbering.add_num(abstract)
        override = OxmlElement("w:lvlOverride")
        override.set(qn("w:ilvl"), "0")
        start = OxmlElement("w:startOverride")
        start.set(qn("w:val"), "1")
        override.append(start)
        num.append(override)
        return num.numId

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn

        table = self.doc.add_table(rows=1, cols=len(header))
        table.style = "Table Grid"
        head = table.rows[0]
        tr_pr = head._tr.get_or_add_trPr()
        repeat = OxmlElement("w:tblHeader")  # the header row repeats on every page
        repeat.set(qn("w:val"), "true")
        tr_pr.append(repeat)
        for cell, text in zip(head.cells, header, strict=True):
            cell.text = ""
            cell.paragraphs[0].add_run(text).bold = True
        for row in rows:
            cells = table.add_row().cells
            for cell, text in zip(cells, row, strict=True):
                lines = _xml_text(text).split("\n")
                cell.text = lines[0]
                for line in lines[1:]:
                    cell.add_paragraph(line)
        self.doc.add_paragraph()

    def figure(self, files: list[str], caption: str, *, wide: bool = True) -> None:
        """The PNG of ``files`` (paths relative to the output folder) with a caption that names
        the vector originals."""
        from docx.shared import Inches

        png = next((f for f in files if f.endswith(".png")), None)
        if png is None:
            return
        self.doc.add_picture(str(self.out / png), width=Inches(WIDE_INCHES if wide else NARROW_INCHES))
        vector = [f for f in files if f.endswith((".svg", ".pdf"))]
        note = f" Vector originals: {', '.join(vector)}." if vector else ""
        self.para(caption + note, style="Caption")


def _question(w: _Writer, ctx: dict[str, Any]) -> None:
    q, e, s = ctx["question"], ctx["eligibility"], ctx["search"]
    rows = [["Population", q.population], ["Intervention", q.intervention], ["Comparator", q.comparator]]
    if q.outcomes:
        rows.append(["Outcomes", q.outcomes])
    if e.inclusion:
        rows.append(["Inclusion", "; ".join(e.inclusion)])
    if e.exclusion:
        rows.append(["Exclusion", "; ".join(e.exclusion)])
    search = (", ".join(s.databases) + ". " if s.databases else "") + "\n".join(s.queries)
    rows.append(["Search", " ".join(x for x in (search, s.period, s.note) if x)])
    rows.append(["Risk of bias", ctx["rob_status"]])
    w.heading("Question and methods", 1)
    w.table(["Item", "Description"], rows)
    w.heading("Statistical methods", 2)
    w.para(ctx["methods"]["text"])


def _selection(w: _Writer, ctx: dict[str, Any]) -> None:
    p = ctx["prisma"]
    w.heading("Study selection (PRISMA 2020)", 1)
    if p["files"]:
        w.figure(
            p["files"],
            f"PRISMA 2020 flow diagram (Page et al., BMJ 2021;372:n71), counts from {p['origin']}.",
        )
        if p["problems"]:
            w.para("The flow counts do not add up; they are drawn as entered:")
            w.bullets(p["problems"])
        for n in p["notes"]:
            w.para(n)
    else:
        w.para(p["not_reported"])
        if p["search_note"]:
            w.para(f"Search: {p['search_note']}")
    w.heading("Included trials", 2)
    w.table(
        ["Trial", "Citation", "Year", "n (treatment / control)", "Follow-up", "Status"],
        [
            [
                s["label"],
                s["citation"],
                str(s["year"]),
                f"{s['n_t']} / {s['n_c']}",
                s["follow_up"],
                " ".join(x for x in (s["status"], s["note"]) if x),
            ]
            for s in ctx["studies"]
        ],
    )


def _summaries(w: _Writer, ctx: dict[str, Any]) -> None:
    w.heading("Summary of results", 1)
    for block in ctx["summary"]:
        w.heading(block["set_name"], 2)
        w.table(
            ["Outcome", "Trials with data", "Recomputed", f"Reported by {ctx['reporter']}", "Model"],
            [[r["name"], r["k_text"], r["sentence"], r["reported"], r["model"]] for r in block["rows"]],
        )
    w.heading("Summary of findings (GRADE)", 1)
    w.para(
        "Risks per 1000 with the intervention follow from the assumed control risk (ACR) and the relative "
        'effect. Certainty of evidence is the review\'s own GRADE judgement; "not assessed" when the review '
        "gives none. Also written to sof.csv."
    )
    for block in ctx["sof"]:
        w.heading(block["set_name"], 2)
        rows = []
        for r in block["rows"]:
            certainty = " ".join(x for x in (r["symbols"], r["certainty"]) if x)
            extra = [*r["reasons"], f"{r['ois_flag']}. {r['judgement']}. {r['ois_text']}", *r["notes"]]
            rows.append(
                [
                    r["name"],
                    r["participants"],
                    r["effect"],
                    "\n".join(x for x in (r["control"], r["acr_text"]) if x),
                    r["intervention"],
                    "\n".join([certainty, *extra]),
                ]
            )
        w.table(
            [
                "Outcome",
                "Participants (trials)",
                "Relative effect (95% CI)",
                "Risk with control (ACR)",
                "Risk with intervention (95% CI)",
                "Certainty of the evidence",
            ],
            rows,
        )


def _trials_table(w: _Writer, entry: dict[str, Any] | None) -> None:
    """Per-trial effects and weights of the primary analysis, as the forest plot shows them."""
    from trialsynth.report.explain import num

    if not entry or "result" not in entry:
        return
    res = entry["result"]
    rows = [
        [
            s["label"],
            f"{num(s['estimate'])} ({num(s['ci_lower'])} to {num(s['ci_upper'])})",
            num(s["weight"], 1) if s["included"] else "not pooled",
        ]
        for s in res["studies"]
    ]
    rows.append(
        [
            "Pooled" if res["pooled"] else "Single trial (not pooled)",
            f"{num(res['estimate'])} ({num(res['ci_lower'])} to {num(res['ci_upper'])})",
            "100.0" if res["pooled"] else "–",
        ]
    )
    w.table(["Trial", f"{entry['measure']} (95% CI)", "Weight (%)"], rows)


def _rob_table(w: _Writer, entry: dict[str, Any] | None) -> None:
    """The RoB 2 judgements of an outcome's trials: domains D1–D5 and overall, with the source."""
    from trialsynth.io.review.rob import DOMAIN_NAMES, DOMAINS

    rob = (entry or {}).get("risk_of_bias")
    if not rob:
        return
    w.table(
        ["Trial", *DOMAINS, "Overall", "Source"],
        [[s["label"], *(s[d] for d in DOMAINS), s["overall"], s["source"]] for s in rob["studies"]],
    )
    w.para("; ".join(f"{d}: {DOMAIN_NAMES[d]}" for d in DOMAINS) + ".")


def _section(w: _Writer, sec: dict[str, Any], entry: dict[str, Any] | None, reporter: str) -> None:
    w.heading(f"{sec['name']} ({sec['set_name']})", 1)
    unit = f"; unit: {sec['unit']}" if sec["unit"] else ""
    w.para(
        f"{sec['measure_name']}{unit}; {sec['better']}. Model: {sec['model']}"
        + (f" — {sec['assumption']}" if sec["assumption"] else "")
    )
    if sec["sentence"]:
        w.para(sec["sentence"], bold_lead=f"{sec['sentence_label']}: ")
    if sec["reported"] == "not reported":
        w.para("No published result to compare with.")
    else:
        w.para(f"Reported by {reporter}: {sec['reported']}")
    _trials_table(w, entry)
    if sec["forest_files"]:
        w.figure(
            sec["forest_files"],
            f"Forest plot: {sec['name']} ({sec['set_name']}), {sec['measure_name']}; "
            f"squares are sized by weight. Model: {sec['model']}.",
        )
    w.para(sec["heterogeneity"])
    w.heading("Reported vs recomputed", 2)
    w.bullets(sec["explanation"])
    if sec["messages"]:
        w.heading("Notes from the analysis", 2)
        w.bullets(sec["messages"])
    if sec["sensitivity"]:
        w.heading("Sensitivity analyses", 2)
        w.table(
            ["Model", "k", "Estimate (95% CI)", "p", "τ²", "I²"],
            [
                [r["model"], str(r["k"]), r["estimate"], r["p"], r["tau2"], r["i2"]]
                for r in sec["sensitivity"]
            ],
        )
    if sec["loo"]:
        w.heading("Leave-one-out", 2)
        w.figure(
            sec["loo_files"],
            "Leave-one-out meta-analysis: each row pools all trials but the one named. "
            f"Model: {sec['model']}.",
        )
        w.table(
            ["Omitted", "Estimate (95% CI)", "p", "τ²", "I²"],
            [[r["label"], r["estimate"], r["p"], r["tau2"], r["i2"]] for r in sec["loo"]],
        )
    if sec["funnel_files"] or sec["funnel_note"]:
        w.heading("Small-study effects", 2)
        w.figure(
            sec["funnel_files"],
            "Contour-enhanced funnel plot (Peters et al. 2008); hollow circles are trials "
            f"imputed by trim and fill. Model: {sec['model']}.",
            wide=False,
        )
        w.para(sec["funnel_note"])
    if sec["baujat_files"] or sec["radial_files"]:
        w.heading("Heterogeneity and influence", 2)
        w.figure(sec["baujat_files"], "Baujat plot (Baujat et al. 2002).", wide=False)
        w.figure(sec["radial_files"], "Galbraith (radial) plot (Galbraith 1988).", wide=False)
    w.para(sec["diagnostics_note"])
    if sec["rob_note"]:
        w.heading("Risk of bias (RoB 2)", 2)
        _rob_table(w, entry)
        w.figure(sec["rob_traffic_files"], "Risk of bias of each trial's result (RoB 2, Sterne et al. 2019).")
        w.figure(
            sec["rob_summary_files"],
            "Proportion of information at each level of risk of bias, per domain. "
            f"Weights from: {sec['model']}.",
        )
        w.para(sec["rob_note"])
    for i, sg in enumerate(sec["subgroups"]):
        w.heading(f"Subgroups: {sg['name']}", 2)
        if i < len(sec["subgroup_plots"]):
            w.figure(
                sec["subgroup_plots"][i]["files"],
                f"Forest plot by {sg['name']}, with the test for subgroup "
                f"differences. Model: {sec['model']}.",
            )
        w.table(
            ["Subgroup", "k", "Estimate (95% CI)", "τ²"],
            [[r["label"], str(r["k"]), r["estimate"], r["tau2"]] for r in sg["rows"]],
        )
        w.para(f"Test for subgroup differences: {sg['test']}")
    if sec["cumulative"]:
        w.heading(f"Cumulative meta-analysis (by {sec['cumulative_by']})", 2)
        w.figure(
            sec["cumulative_files"],
            f"Cumulative meta-analysis by {sec['cumulative_by']}: each row pools the "
            f"trials up to and including it. Model: {sec['model']}.",
        )
        w.table(
            ["Adding", "k", "Estimate (95% CI)", "p"],
            [[r["label"], str(r["k"]), r["estimate"], r["p"]] for r in sec["cumulative"]],
        )
    if sec["tsa"] or sec["bayes"] or sec["few_trials_notes"]:
        w.heading("Few trials: trial sequential analysis and Bayesian random effects", 2)
        if sec["tsa"]:
            t = sec["tsa"]
            w.para(f" {t['settings']} {t['result']}", bold_lead="Trial sequential analysis.")
            w.para(t["conclusion"])
            w.para(t["assumption"] or "")
            w.figure(sec["tsa_files"], f"Trial sequential analysis. Model: {t['model']}.")
        if sec["bayes"]:
            b = sec["bayes"]
            w.para(
                f" {b['priors']} {b['mu']} {b['tau']} {b['bf']}",
                bold_lead="Bayesian random-effects meta-analysis.",
            )
        w.bullets(sec["few_trials_notes"])
    if sec["rows"]:
        w.heading("Data used and their sources", 2)
        w.table(
            ["Trial", "Data", "Kind", "Source", "Definition", "Denominator", "Note"],
            [
                [r["label"], r["data"], r["kind"], r["source"], r["definition"], r["denominator"], r["note"]]
                for r in sec["rows"]
            ],
        )


def _network(w: _Writer, net: dict[str, Any]) -> None:
    """A network meta-analysis, as the HTML report's section: graph, forest plot, effects,
    ranking, league table and inconsistency."""
    stem = net["anchor"]

    def files(suffix: str) -> list[str]:
        return [f for f in net["files"] if Path(f).stem == stem + suffix]

    w.heading(f"Network meta-analysis: {net['name']}", 1)
    w.para(net["description"])
    w.para(f"Model: {net['model']} Data: {net['file']}.")
    w.figure(files(""), "Network of comparisons: node size by participants, edge width by number of trials.")
    w.figure(
        files("-forest"), f"Each treatment against {net['reference']} ({net['level']}% CI), with P-scores."
    )
    w.heading(f"Effects against {net['reference']}", 2)
    w.table(
        ["Treatment", f"{net['measure']} ({net['level']}% CI)", "p"],
        [[e["treatment"], e["estimate"], e["p"]] for e in net["effects"]],
    )
    w.heading("Ranking", 2)
    w.table(
        ["Treatment", "P-score", "SUCRA", "Mean rank"],
        [[r["treatment"], r["p_score"], r["sucra"], r["mean_rank"]] for r in net["ranking"]],
    )
    w.heading("League table", 2)
    w.figure(files("-league"), f"Every pairwise comparison ({net['measure']}, {net['level']}% CI).")
    w.heading("Inconsistency", 2)
    for line in net["inconsistency"]:
        w.para(line)
    w.para(net["references"])


def _closing(w: _Writer, ctx: dict[str, Any]) -> None:
    w.heading("Baseline characteristics", 1)
    if not ctx["baseline"]:
        w.para("The review folder gives no baseline characteristics.")
    else:
        w.table(
            ["Characteristic", "Per trial (as reported)", "Pooled across trials"],
            [[b["characteristic"], "\n".join(b["per_study"]), b["pooled"]] for b in ctx["baseline"]],
        )
    if ctx["lead"]:
        w.heading("LV-lead position (as reported)", 2)
        w.table(
            ["Trial", "Arm", "Position", "Percent", "Source"],
            [[x["label"], x["arm"], x["position"], x["percent"], x["source"]] for x in ctx["lead"]],
        )
    w.heading("Data gaps", 1)
    if not ctx["gaps"]:
        w.para("None: every included trial has data for every outcome.")
    else:
        w.table(
            ["Outcome", "Trial", "Analysis sets", "Why"],
            [[g["outcome"], g["label"], g["sets"], g["note"]] for g in ctx["gaps"]],
        )
    refs = ctx["references"]
    w.heading("References", 1)
    if ctx["methods"]["references"]:
        w.heading("Methods", 2)
        w.bullets(ctx["methods"]["references"], numbered=True)
    w.heading("Included studies", 2)
    w.bullets([r["text"] for r in refs["included"]], numbered=True)
    w.heading("Excluded studies", 2)
    if refs["excluded"]:
        w.bullets(
            [f"{r['text']} Reason for exclusion: {r['reason'] or 'not recorded'}." for r in refs["excluded"]],
            numbered=True,
        )
    else:
        w.para("None recorded: the review folder has no full-text exclusions in a record store.")


def docx_bytes(context: dict[str, Any], doc: dict[str, Any], out: Path) -> bytes:
    """The report as .docx bytes, from the HTML report's context (figures already in ``out``)."""
    w = _Writer(out)
    w.doc.add_heading(context["title"], 0)
    if context["reproduces"]:
        w.para(f"Reproduces: {context['reproduces']}")
    w.para(
        f"Generated by {context['generator']} from the review folder {context['folder']}; the analyses "
        f"follow the conventions of {context['profile']}."
    )
    _question(w, context)
    _selection(w, context)
    _summaries(w, context)
    entries = {(e["analysis_set"], e["outcome"]): e for e in doc["outcomes"]}
    keys = list(entries)
    for sec, key in zip(context["sections"], keys, strict=True):
        _section(w, sec, entries[key], context["reporter"])
    for net in context.get("networks", []):
        _network(w, net)
    _closing(w, context)
    props = w.doc.core_properties
    props.title = context["title"]
    props.author = props.last_modified_by = context["generator"]
    props.revision = 1
    props.comments = ""
    buffer = io.BytesIO()
    w.doc.save(buffer)
    return reproducible_zip(buffer.getvalue())


def write_docx(context: dict[str, Any], doc: dict[str, Any], out: Path) -> Path:
    """Write ``report.docx`` into ``out`` atomically; returns its path."""
    return write_bytes_atomic(Path(out) / "report.docx", docx_bytes(context, doc, Path(out)))
