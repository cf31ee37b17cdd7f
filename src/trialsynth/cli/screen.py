"""Commands for screening: ``screen`` (in the terminal, single-key decisions), ``serve``
(the same on a local web page) and ``screen-simulate`` (prioritised screening replayed on a
labelled set). Registered on the main group in :mod:`trialsynth.cli.main`."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import textwrap
import unicodedata
from contextlib import contextmanager

import click

from trialsynth._core.serialize import dumps_json

__all__ = ["COMMANDS", "report_runner", "screen", "screen_simulate", "serve"]

_STAGE_NAMES = {"title_abstract": "Title/abstract", "full_text": "Full-text"}
_ORDERING = {
    "model": "ranked by relevance (model trained on your {inc} include/maybe and {exc} exclude decisions)",
    "import": "import order (ranking starts after your first include and first exclude)",
    "undo": "the record you just undid",
    "sample": "random sample for the stopping rule (the order drawn when sampling began)",
}


def _reviewer_option(func):
    return click.option(
        "--reviewer",
        envvar="TRIALSYNTH_REVIEWER",
        required=True,
        help="Your name, recorded with every decision (or set TRIALSYNTH_REVIEWER).",
    )(func)


def _stage_option(func):
    return click.option(
        "--stage",
        type=click.Choice(["title_abstract", "full_text"]),
        default="title_abstract",
        show_default=True,
        help="Screening stage.",
    )(func)


def _width() -> int:
    return max(40, min(100, shutil.get_terminal_size((100, 24)).columns) - 2)


def _visible(text: str) -> str:
    """A record's text as it may be printed: control characters (an escape sequence in an
    imported title could reprogram the terminal) shown as ``\\x1b`` and so on."""
    return "".join(
        c if c in "\n\t" or unicodedata.category(c) != "Cc" else c.encode("unicode_escape").decode()
        for c in text
    )


def _wrap(text: str, indent: str = "  ") -> str:
    return "\n".join(
        textwrap.fill(p, _width(), initial_indent=indent, subsequent_indent=indent)
        for p in _visible(text).splitlines()
        if p.strip()
    )


def _authors(authors: tuple[str, ...]) -> str:
    if not authors:
        return "(no authors)"
    return "; ".join(authors[:6]) + (f"; … ({len(authors)} authors)" if len(authors) > 6 else "")


def _show_record(record, header: str) -> None:
    click.echo("")
    click.secho(header, fg="cyan")
    click.secho(_wrap(f"[{record.id}] {record.title or '(no title)'}", ""), bold=True)
    meta = " · ".join(
        x
        for x in (
            _authors(record.authors),
            str(record.year) if record.year else "(no year)",
            record.journal or "(no journal)",
            f"doi {record.doi}" if record.doi else "",
            f"PMID {record.pmid}" if record.pmid else "",
            record.database,
        )
        if x
    )
    click.echo(_wrap(meta, ""))
    click.echo("")
    click.echo(_wrap(record.abstract) if record.abstract.strip() else "  (no abstract)")
    click.echo("")


def _choose_reason(reasons: tuple[str, ...]) -> str | None:
    """Ask for one of the exclusion reasons; ``None`` when cancelled."""
    click.echo("Reason for exclusion:")
    for n, reason in enumerate(reasons, start=1):
        click.echo(f"  {n}  {reason}")
    if len(reasons) <= 9:
        click.echo("Press its number (any other key cancels).")
        try:
            key = _getchar()
        except (EOFError, KeyboardInterrupt):
            return None
        if key.isdigit() and 1 <= int(key) <= len(reasons):
            return reasons[int(key) - 1]
        return None
    choice = click.prompt(
        "Its number (0 cancels)", type=click.IntRange(0, len(reasons)), default=0, show_default=False
    )
    return reasons[choice - 1] if choice else None


_TERMINAL: list[int] = []  # the descriptor of the terminal held in cbreak mode, if any


@contextmanager
def _key_mode():
    """Hold the terminal in cbreak mode (keys arrive one by one, unechoed; Ctrl-C still
    interrupts) for the whole session, so that keys typed while the next record is being
    ranked are kept rather than flushed. Without a terminal, nothing changes."""
    try:
        import termios
        import tty
    except ImportError:  # not POSIX: click.getchar reads each key
        yield
        return
    if not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd, termios.TCSANOW)
    _TERMINAL.append(fd)
    try:
        yield
    finally:
        _TERMINAL.remove(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _getchar() -> str:
    """One key press from the terminal, or one character of standard input when that is
    not a terminal (piped keys, or CliRunner's input); skips line ends. Ctrl-D is the end."""
    while True:
        if _TERMINAL:
            key = os.read(_TERMINAL[-1], 1).decode("utf-8", "replace")
        else:
            try:
                key = click.getchar()
            except OSError:  # no terminal to read from: read the piped input
                key = sys.stdin.read(1)
        if key == "\x04":
            raise EOFError
        if key not in ("\n", "\r"):
            return key


def _exclusion_reason(session, keys: str) -> str | None:
    """The reason for an exclusion: none at title/abstract; at full text one of the review's
    reasons, or ``None`` when the reviewer cancels."""
    if session.stage != "full_text":
        return ""
    chosen = _choose_reason(session.reasons)
    if chosen is None:
        click.echo("cancelled; " + keys)
    return chosen


def _read_key() -> str:
    """One key press, lower-cased; ``q`` at the end of input (Ctrl-D) or on Ctrl-C."""
    try:
        key = _getchar()
    except (EOFError, KeyboardInterrupt):
        return "q"
    return key.lower() if key else "q"


def _progress_line(p) -> str:
    """One line of progress counts (a :class:`~trialsynth.workflow.screening.session.Progress`)."""
    return (
        f"{_STAGE_NAMES[p.stage]} screening · {p.reviewer}: {p.decided} of {p.total} decided "
        f"({p.include} include, {p.exclude} exclude, {p.maybe} maybe), {p.remaining} left"
        + (f" ({p.skipped} skipped)" if p.skipped else "")
        + f" · all reviewers: {p.agreed} agreed, {p.conflicts} in conflict, {p.resolved} resolved"
    )


def _screen_loop(session) -> tuple[int, int]:
    """Show records one at a time until none is left or the reviewer quits; returns the
    numbers of decisions made and undone."""
    made = undone_count = 0
    keys = "[i]nclude  [e]xclude  [m]aybe  [s]kip  [u]ndo  [q]uit"
    nxt, progress = session.status()
    while True:
        record = nxt.record
        if record is None:
            click.secho("Nothing left to screen at this stage for you.", fg="green")
            return made, undone_count
        header = (
            _progress_line(progress)
            + "\nOrder: "
            + _ORDERING[nxt.ordering].format(inc=nxt.trained_include, exc=nxt.trained_exclude)
            + "\n"
            + session.stopping_state().sentence()
        )
        _show_record(record, header)
        click.echo(keys)
        while True:
            key = _read_key()
            if key == "q":
                return made, undone_count
            if key in ("i", "m"):
                session.decide(record.id, "include" if key == "i" else "maybe")
                click.echo(f"→ {'include' if key == 'i' else 'maybe'}")
            elif key == "e":
                reason = _exclusion_reason(session, keys)
                if reason is None:
                    continue
                session.decide(record.id, "exclude", reason=reason)
                click.echo("→ exclude" + (f" ({reason})" if reason else ""))
            elif key == "s":
                session.skip(record.id)
                click.echo("→ skipped (shown again after the others)")
            elif key == "u":
                undone = session.undo()
                if undone is None:
                    click.echo("nothing to undo; " + keys)
                    continue
                undone_count += 1
                click.echo(f"→ undid your {undone.decision} of record {undone.record_id}")
            else:
                click.echo(f"unknown key {key!r}; " + keys)
                continue
            if key != "s" and key != "u":
                made += 1
            break
        nxt, progress = session.status()


def _conflict_loop(session) -> tuple[int, int]:
    """Show each conflict with every reviewer's decision; the reviewer settles it. Returns
    the numbers of resolutions made and undone."""
    made = undone_count = 0
    keys = "[i]nclude  [e]xclude  [s]kip  [u]ndo last resolution  [q]uit"
    skipped: set[int] = set()
    while True:
        conflicts = [c for c in session.conflicts() if c.record.id not in skipped]
        if not conflicts:
            click.secho(
                "No conflicts left at this stage" + (" (some skipped)." if skipped else "."), fg="green"
            )
            return made, undone_count
        conflict = conflicts[0]
        stage = _STAGE_NAMES[session.stage]
        header = f"Conflict 1 of {len(conflicts)} · {stage} · resolving as {session.reviewer}"
        _show_record(conflict.record, header)
        for d in conflict.decisions:
            extra = "".join(f" — {x}" for x in (d.reason, d.note) if x)
            click.echo(_visible(f"  {d.reviewer}: {d.decision}{extra}"))
        click.echo(keys)
        while True:
            key = _read_key()
            if key == "q":
                return made, undone_count
            if key == "i":
                how = session.resolve(conflict.record.id, "include")
                click.echo(f"→ include ({how})")
            elif key == "e":
                reason = _exclusion_reason(session, keys)
                if reason is None:
                    continue
                how = session.resolve(conflict.record.id, "exclude", reason=reason)
                click.echo(f"→ exclude ({how}{', ' + reason if reason else ''})")
            elif key == "s":
                skipped.add(conflict.record.id)
            elif key == "u":
                record_id = session.undo_resolution()
                if record_id is None:
                    click.echo("no resolution of yours to undo; " + keys)
                    continue
                skipped.discard(record_id)
                undone_count += 1
                click.echo(f"→ record {record_id} is in conflict again")
            else:
                click.echo(f"unknown key {key!r}; " + keys)
                continue
            if key in ("i", "e"):
                made += 1
            break


def _print_summary(review_dir, as_json: bool) -> None:

    from trialsynth.workflow.screening.session import screening_summary

    data = screening_summary(review_dir)
    if as_json:
        click.echo(dumps_json(data))
        return
    click.echo(f"Reviewers required per record: {data['reviewers_required']}")
    for stage, name in _STAGE_NAMES.items():
        st = data[stage]
        click.echo("")
        click.secho(f"{name} screening: {st['records']} records", bold=True)
        click.echo(
            f"  {st['pending']} pending, {st['agreed']} agreed, {st['conflict']} in conflict, "
            f"{st['resolved']} resolved; final: {st['included']} included, {st['excluded']} excluded"
        )
        for reason, n in st["exclusion_reasons"].items():
            click.echo(_visible(f"    excluded: {reason}: {n}"))
        for reviewer, counts in st["reviewers"].items():
            click.echo(
                _visible(
                    f"  {reviewer}: {counts['include']} include, {counts['exclude']} exclude, "
                    f"{counts['maybe']} maybe"
                )
            )
        for pair in st["agreement"]:
            kappa = "not defined" if pair["kappa"] is None else f"{pair['kappa']:.3f}"
            ac1 = "not defined" if pair["ac1"] is None else f"{pair['ac1']:.3f}"
            click.echo(
                _visible(
                    f"  {pair['reviewers'][0]} and {pair['reviewers'][1]}: agree on {pair['agreed']} of "
                    f"{pair['records']} records both decided; Cohen's kappa {kappa}; Gwet's AC1 {ac1}; "
                    f"{pair['conflicts']} conflicts"
                )
            )
        how = st["conflict_resolution"]
        click.echo(
            f"  conflicts resolved by consensus {how['consensus']}, by a third reviewer "
            f"{how['third_reviewer']}; open {how['open']}"
        )
        for c in st["conflicts"]:
            click.echo(_visible(f"  conflict [{c['record_id']}] {c['title']}"))
            for d in c["decisions"]:
                extra = "".join(f" — {x}" for x in (d["reason"], d["note"]) if x)
                click.echo(_visible(f"      {d['reviewer']}: {d['decision']}{extra}"))


def _begin_sampling(session, stop_rule: str, seed: int | None) -> None:
    """``screen --stop-rule``: begin (or, after a restart, go on with) the random sample."""
    from trialsynth.workflow.screening.stopping import parse_stop_rule

    try:
        target, confidence = parse_stop_rule(stop_rule)
        plan = session.start_sampling(target, confidence, seed=seed)
    except ValueError as exc:
        session.close()
        raise click.BadParameter(str(exc), param_hint="'--stop-rule'") from None
    except BaseException:
        session.close()
        raise
    click.echo(
        f"Random sampling for the stopping rule: {len(plan.order)} records in the order drawn "
        f"with seed {plan.seed} (began {plan.began})."
    )


class _ScreenCommand(click.Command):
    """``trialsynth screen simulate ...`` is ``trialsynth screen-simulate ...`` (a review
    folder named ``simulate`` is then reached as ``./simulate``)."""

    def make_context(self, info_name, args, parent=None, **extra):
        if args and args[0] == "simulate":
            return screen_simulate.make_context("screen simulate", list(args[1:]), parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


@click.command("screen", cls=_ScreenCommand)
@click.argument("review_dir", type=click.Path(file_okay=False))
@click.option(
    "--reviewer",
    envvar="TRIALSYNTH_REVIEWER",
    help="Your name, recorded with every decision (or set TRIALSYNTH_REVIEWER); required to screen.",
)
@_stage_option
@click.option("--conflicts", is_flag=True, help="Resolve the conflicts of the stage instead of screening.")
@click.option("--no-rank", is_flag=True, help="Keep import order (no relevance ranking).")
@click.option(
    "--summary",
    is_flag=True,
    help="Print where screening stands (states, reviewers, kappa, conflicts) and ask nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="With --summary: print JSON.")
@click.option(
    "--stop-rule",
    metavar="recall:R,confidence:C",
    help="End the ranked phase: screen the records left in a random order and test after each "
    "decision whether recall ≥ R holds with confidence C (Callaghan & Müller-Hansen 2020).",
)
@click.option(
    "--sample-seed",
    type=int,
    help="With --stop-rule: seed for the random order (default: drawn at random); stored with it.",
)
def screen(review_dir, reviewer, stage, conflicts, no_rank, summary, as_json, stop_rule, sample_seed) -> None:
    """Screen the records of REVIEW_DIR in the terminal, one key per decision.

    \b
    Keys: i include, e exclude (at full text, then the reason's number), m maybe,
          s skip (shown again after the others), u undo your last decision, q quit.
    With --conflicts: i / e settle the record shown (as third reviewer, or as consensus
    when you were one of its reviewers), s skip, u undo your last resolution, q quit.

    Records are ranked by a relevance model trained on your own decisions at this stage
    (TF-IDF of title and abstract, logistic regression) once you have made one include
    and one exclude decision; until then they come in import order. Other reviewers'
    decisions are never shown while screening. Decisions are stored at once in
    REVIEW_DIR/records.sqlite; the CSV copy in REVIEW_DIR/records/ is rewritten on quitting.

    With --stop-rule the ranked phase ends: the records you have left are drawn once in a
    random order (seed and order stored in the record store, so later sessions go on with
    the same sample) and the stopping test is shown after each decision, until it says
    "screening stopped at record N: recall ≥ R with C confidence, p = …".
    """
    from trialsynth.workflow.screening.session import ScreeningSession

    if summary:
        _print_summary(review_dir, as_json)
        return
    if not reviewer or not reviewer.strip():
        raise click.UsageError("Missing option '--reviewer' (or set TRIALSYNTH_REVIEWER).")
    if sample_seed is not None and not stop_rule:
        raise click.UsageError("--sample-seed goes with --stop-rule.")
    session = ScreeningSession(review_dir, reviewer, stage, rank=not no_rank)
    if stop_rule:
        _begin_sampling(session, stop_rule, sample_seed)
    try:
        with _key_mode():
            made, undone = _conflict_loop(session) if conflicts else _screen_loop(session)
    finally:
        session.export()
    what = "resolution" if conflicts else "decision"
    click.echo(f"This session: {made} {what}{'' if made == 1 else 's'} recorded, {undone} undone.")
    click.echo(_progress_line(session.progress()))
    if not conflicts:
        click.echo(session.stopping_state().sentence())
    session.close()


def report_runner(folder):
    """What the Report page runs: ``trialsynth run FOLDER`` itself (the command's function,
    its default options, its default output folder out/<folder name>, no progress bars);
    returns the report's path."""
    from pathlib import Path

    def run_report() -> Path:
        from trialsynth.cli.main import run
        from trialsynth.report.review import review_path

        out = Path("out") / review_path(folder).name  # run_review's default output folder
        command = run.callback
        assert command is not None  # a click command always has its function
        command(review_dir=str(folder), out_dir=None, pdf=None, docx=True, xlsx=True, rm5=True, quiet=True)
        return out / "report.html"

    return run_report


@click.command("serve")
@click.argument("review_dir", type=click.Path(file_okay=False))
@_reviewer_option
@_stage_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default)."
)
@click.option(
    "--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port)."
)
@click.option("--no-rank", is_flag=True, help="Keep import order (no relevance ranking).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
def serve(review_dir, reviewer, stage, host, port, no_rank, open_browser) -> None:
    """The review in the browser: studies, outcome data, live analyses, screening and the
    report of REVIEW_DIR on a local web page (docs/browser.md).

    REVIEW_DIR may be empty or not exist yet: the first page then asks for the review's title,
    question and first outcome and writes a minimal review folder. Serves at the printed address
    (it holds a random key: keep it to yourself) until Ctrl-C. Every change is written at once
    (atomically, logged with your name in REVIEW_DIR/changes.jsonl); a change made against a
    row someone else changed since is refused. Screening has the keys of `trialsynth screen`
    (i include, e exclude and at full text the reason's number, m maybe, s skip, u undo) and a
    Conflicts tab; decisions are stored at once in REVIEW_DIR/records.sqlite, the CSV copy in
    REVIEW_DIR/records/ is rewritten on stopping. The Report page runs `trialsynth run
    REVIEW_DIR` (output in out/<folder name>). Requests above 64 KiB are refused; a connection
    silent for 30 s is closed (docs/limits.md).
    """
    from pathlib import Path

    from trialsynth._core.errors import InputError
    from trialsynth.web.app import WebContext, WebServer
    from trialsynth.web.screening import Screening
    from trialsynth.workflow.screening.session import ScreeningSession

    folder = Path(review_dir)
    if folder.exists() and not folder.is_dir():
        raise click.ClickException(f"{folder} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    session = None
    try:
        session = ScreeningSession(folder, reviewer, stage, rank=not no_rank)
    except InputError as exc:
        if not reviewer.strip():
            raise
        click.echo(f"Nothing to screen yet ({exc}); the other pages work.", err=True)

    ctx = WebContext(folder, (reviewer or "").strip(), run_report=report_runner(folder))
    if session is not None:
        ctx.extra["screening"] = Screening(session)
    try:
        server = WebServer(ctx, host=host, port=port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"warning: listening on {host or 'every interface'}, not only on this machine; anyone who can "
            "reach it and has the address below can edit this review as you",
            err=True,
        )
    click.echo(f"Review {folder} as {ctx.reviewer}: {server.url}")
    click.echo("Press Ctrl-C to stop.")
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    def stop(signum, frame):
        raise KeyboardInterrupt

    # uvicorn stops on Ctrl-C and SIGTERM, then raises the signal again with the handlers it
    # found: a SIGTERM (a service manager) then stops here too, saving the CSV copy.
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.socket.close()
        if session is not None:
            session.export()
    if session is not None:
        click.echo("")
        click.echo(_progress_line(session.progress()))
        session.close()


@click.command("screen-simulate")
@click.argument("labelled", type=click.Path(dir_okay=False))
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for drawing the prior records.")
@click.option(
    "--prior-included", default=1, show_default=True, type=click.IntRange(1), help="Included priors."
)
@click.option(
    "--prior-excluded", default=1, show_default=True, type=click.IntRange(1), help="Excluded priors."
)
@click.option(
    "--batch",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Records screened between retrainings.",
)
@click.option(
    "--stop-rule",
    default=None,
    metavar="recall:R,confidence:C",
    help="Also replay the stopping test of Callaghan & Müller-Hansen 2020 (recall:0.95,confidence:0.95).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print every measure, the recall curve and the order as JSON."
)
def screen_simulate(labelled, seed, prior_included, prior_excluded, batch, stop_rule, as_json) -> None:
    """Replay prioritised screening on LABELLED.csv (columns title, abstract, label 0/1).

    Starting from prior records drawn with the seed, the relevance model is retrained after
    every BATCH records and the highest-ranked record is screened next. Reports the records
    screened to reach 95 % recall, the work saved over sampling (WSS@95, WSS@100; Cohen et
    al. 2006), the share of included records found in the first 10 % (RRF@10), and the
    expected values under random order after the same priors.

    With --stop-rule, the ranked phase ends after a run of excluded records (5% of the
    records, at least 50, at most 200), the rest are screened in a random order (drawn with
    the seed) and screening stops once the hypergeometric test rejects "recall < R" at
    confidence C: reports the records screened at the stop, the recall reached and the work
    saved (the share never screened).
    """

    from trialsynth.workflow.screening.simulate import read_labelled, simulate
    from trialsynth.workflow.screening.stopping import parse_stop_rule

    try:
        rule = None if stop_rule is None else parse_stop_rule(stop_rule)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--stop-rule'") from None
    data = read_labelled(labelled)
    texts = [f"{t}\n{a}" for t, a in zip(data.titles, data.abstracts, strict=True)]
    result = simulate(
        texts,
        data.labels,
        seed=seed,
        n_prior_included=prior_included,
        n_prior_excluded=prior_excluded,
        batch=batch,
        stop_rule=rule,
    )
    if as_json:
        out = {"file": data.file, **result.to_dict()}
        click.echo(dumps_json(out))
        return
    n = result.n_records
    click.echo(f"{data.file}: {n} records, {result.n_included} included; seed {seed}")
    click.echo(
        f"priors: {prior_included} included + {prior_excluded} excluded; retrained every {batch} record(s)"
    )
    click.echo(
        f"95% recall after {result.records_to_95} of {n} records "
        f"(random order: {result.random_records_to_95:.1f} expected)"
    )
    click.echo(f"100% recall after {result.records_to_100} records")
    click.echo(f"WSS@95  {result.wss95:.3f}   (random order: {result.random_wss95:.3f} expected)")
    click.echo(f"WSS@100 {result.wss100:.3f}")
    click.echo(f"RRF@10  {result.rrf10:.3f}   (share of included records in the first 10% screened)")
    if result.stop is not None:
        st = result.stop
        click.echo(
            f"stop rule: {st.test.sentence(screened=st.screened)} "
            f"({st.ranked} ranked, then {st.sampled} of {st.test.urn} sampled at random)"
        )
        click.echo(
            f"  recall reached {st.recall:.3f}; work saved {st.work_saved:.3f} "
            f"(beside WSS@95 {result.wss95:.3f})"
        )


COMMANDS = (screen, serve, screen_simulate)
