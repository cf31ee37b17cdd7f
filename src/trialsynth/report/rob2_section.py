"""The RoB 2 signalling answers of an outcome, for the report and results.json.

Per assessed study: the variant of domain 2, each domain's answers in question order
(``1.1 Y · 1.2 PY · 1.3 N``), the algorithm's suggested judgement and the judgement entered in
risk_of_bias.csv; where they differ the report shows "suggested: X, entered: Y" with the
entered judgement's support (required by risk_of_bias.csv). The traffic-light plot is drawn from
the entered judgements only, unchanged.
"""

from __future__ import annotations

from typing import Any

from trialsynth.io.review.rob2 import QUESTIONS
from trialsynth.io.review.signalling import compare_judgements


def _cell(check) -> str:
    if check.suggested is None and check.entered is None:
        return "incomplete"
    if check.entered is None:
        return f"suggested: {check.suggested} (not entered)"
    if check.suggested is None:
        return f"entered: {check.entered} (answers incomplete)"
    if check.differs:
        return f"suggested: {check.suggested}, entered: {check.entered} — {check.support}"
    return check.entered


def rob2_rows(review, outcome_id: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """One row per assessed study of the outcome, ready for the report template."""
    assessments = review.rob2_signalling_for(outcome_id)
    checks = compare_judgements(assessments, review.risk_of_bias_for(outcome_id))
    rows = []
    for a in assessments:
        mine = {c.domain: c for c in checks if c.study == a.study}
        domains = []
        for suggestion in a.domains:
            prefix = suggestion.domain[1:] + "."
            answers = " · ".join(
                f"{q.number} {a.answer(q.number).answer}"
                for q in QUESTIONS[a.variant]
                if q.number.startswith(prefix) and a.answer(q.number) is not None
            )
            need = f" (needs {', '.join(suggestion.missing)})" if suggestion.missing else ""
            domains.append({"answers": answers or "—", "judgement": _cell(mine[suggestion.domain]) + need})
        rows.append(
            {
                "label": labels.get(a.study, a.study),
                "variant": a.variant,
                "domains": domains,
                "overall": _cell(mine["overall"]),
            }
        )
    return rows


def rob2_json(review, outcome_id: str) -> list[dict[str, Any]] | None:
    """results.json: every answer and the suggested beside the entered judgements; None without answers."""
    assessments = review.rob2_signalling_for(outcome_id)
    if not assessments:
        return None
    checks = compare_judgements(assessments, review.risk_of_bias_for(outcome_id))
    out = []
    for a in assessments:
        mine = {c.domain: c for c in checks if c.study == a.study}
        out.append(
            {
                "study": a.study,
                "variant": a.variant,
                "answers": [
                    {
                        "question": x.question,
                        "answer": x.answer,
                        "comment": x.comment,
                        "who": x.who,
                        "when": x.when,
                    }
                    for x in a.answers
                ],
                "domains": {
                    s.domain: {
                        "suggested": s.judgement,
                        "entered": mine[s.domain].entered,
                        "differs": mine[s.domain].differs,
                        "path": list(s.path),
                        "missing": list(s.missing),
                    }
                    for s in a.domains
                },
                "overall": {
                    "suggested": mine["overall"].suggested,
                    "entered": mine["overall"].entered,
                    "differs": mine["overall"].differs,
                },
            }
        )
    return out
