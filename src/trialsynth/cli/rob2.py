"""``trialsynth rob2``: RoB 2 signalling answers and GRADE ratings from a terminal (thin layer over
:mod:`trialsynth.io.review.assess` and :mod:`trialsynth.io.review.signalling`)."""

from __future__ import annotations

import click


@click.group()
def rob2() -> None:
    """Risk of bias (RoB 2) and GRADE: show the algorithm's suggestions, enter answers and ratings."""


@rob2.command("show")
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.option("--outcome", default=None, help="only this outcome id")
def show(review_dir, outcome) -> None:
    """Per study and outcome: each domain's suggested judgement beside the entered one."""
    from trialsynth.io.review import load_review
    from trialsynth.io.review.signalling import compare_judgements

    review = load_review(review_dir)
    assessments = [a for a in review.rob2_signalling if outcome in (None, a.outcome)]
    if not assessments:
        click.echo("no signalling answers (rob2_signalling.csv)")
        return
    checks = compare_judgements(assessments, review.risk_of_bias)
    for a in assessments:
        click.echo(f"{a.study} / {a.outcome} ({a.variant})")
        for c in (c for c in checks if (c.study, c.outcome) == (a.study, a.outcome)):
            suggestion = next((s for s in a.domains if s.domain == c.domain), None)
            need = f"  needs {', '.join(suggestion.missing)}" if suggestion and suggestion.missing else ""
            flag = "  DIFFERS" if c.differs else ""
            click.echo(
                f"  {c.domain:<8} suggested: {c.suggested or '-':<14} entered: {c.entered or '-'}{flag}{need}"
            )


@rob2.command("answer")
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.argument("study")
@click.argument("outcome")
@click.argument("question")
@click.argument("answer")
@click.option(
    "--variant", type=click.Choice(["assignment", "adhering"]), default="assignment", show_default=True
)
@click.option("--comment", default="", help="the quote or reason for the answer")
@click.option("--who", required=True, help="who answers (recorded in the row)")
@click.option("--expected", default=None, help="the row's token as loaded (default: the current one)")
def answer(review_dir, study, outcome, question, answer, variant, comment, who, expected) -> None:
    """Set the ANSWER (Y, PY, PN, N, NI, NA) to signalling QUESTION of STUDY and OUTCOME."""
    from trialsynth.io.review import assess as edit

    token = expected or edit.read_signalling_answer(review_dir, study, outcome, question).token
    row = edit.set_signalling_answer(
        review_dir, study=study, outcome=outcome, variant=variant, question=question, answer=answer,
        comment=comment, who=who, expected=token,
    )  # fmt: skip
    click.echo(f"saved {study} / {outcome} {question} = {row.values['answer']} (token {row.token})")


@rob2.command("grade")
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.argument("outcome")
@click.argument("domain")
@click.option("--rating", required=True, type=int, help="0, -1, -2 (rated down); +1, +2 (rated up)")
@click.option("--reason", default="", help="required unless the rating is 0")
@click.option("--who", required=True, help="who rates (recorded in the row)")
@click.option("--expected", default=None, help="the row's token as loaded (default: the current one)")
def grade(review_dir, outcome, domain, rating, reason, who, expected) -> None:
    """Rate GRADE DOMAIN of OUTCOME in grade.csv (--rating=-1; +1, +2 for reasons to rate up)."""
    from trialsynth.io.review import assess as edit

    token = expected or edit.read_grade_rating(review_dir, outcome, domain).token
    row = edit.set_grade_rating(
        review_dir, outcome=outcome, domain=domain, rating=rating, reason=reason, who=who, expected=token
    )
    click.echo(f"saved {outcome} {domain} = {row.values['rating']} (token {row.token})")
