"""Small edits of a review folder's risk-of-bias and GRADE files, safe with several reviewers.

The functions a web page (or the CLI) calls to change one thing at a time:

* :func:`set_signalling_answer` — one RoB 2 signalling answer (``rob2_signalling.csv``);
* :func:`set_domain_judgement` — one domain's (or the overall) judgement with its support
  (``risk_of_bias.csv``; :func:`add_risk_of_bias` writes a study's first, complete row);
* :func:`set_grade_rating` — one GRADE domain of an outcome with its reason (``grade.csv``).

Each has a reader (:func:`read_signalling_answer`, :func:`read_domain_judgement`,
:func:`read_grade_rating`) returning the current :class:`Record` and its ``token``: a digest of
that one row (``"absent"`` when there is none). An edit passes the token it loaded as
``expected``; when the row changed in between, the edit raises :class:`StaleEdit` ("changed
by X at T since you loaded it") and writes nothing. Edits of other rows do not conflict.

Every edit records ``who`` and ``when`` (UTC, ISO 8601, now unless given) in its row, checks
the whole new file with the same reader as ``trialsynth run`` (so an edit can never leave a
file the loader refuses) and replaces the file atomically
(:func:`trialsynth.io.atomic.replace_file`) under an exclusive lock on the folder, so that two
processes cannot interleave a check and a write. The rest of the file keeps its rows and
columns; the CSV is written back in a plain form (RFC 4180 quoting, ``\\n`` line ends).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.io.atomic import replace_file

# One exception for every stale edit of the folder (the data tables' editor raises it too).
from trialsynth.io.review.edit import StaleEdit
from trialsynth.io.review.grade import GRADE_COLUMNS, GRADE_FILE, read_grade_csv
from trialsynth.io.review.rob import DOMAINS, ROB_OPTIONAL, ROB_REQUIRED, read_risk_of_bias
from trialsynth.io.review.signalling import SIGNALLING_COLUMNS, SIGNALLING_FILE, read_signalling

__all__ = [
    "ABSENT",
    "Record",
    "StaleEdit",
    "add_risk_of_bias",
    "read_domain_judgement",
    "read_grade_rating",
    "read_signalling_answer",
    "set_domain_judgement",
    "set_grade_rating",
    "set_signalling_answer",
]

ROB_FILE = "risk_of_bias.csv"
ABSENT = "absent"
_LOCK = ".trialsynth-edit.lock"




@dataclass(frozen=True)
class Record:
    """One row as the file holds it now: ``values`` (column → cell; empty when ``token`` is
    :data:`ABSENT`), ``token`` to pass back as ``expected``, ``who``/``when`` of its last edit."""

    values: Mapping[str, str]
    token: str
    who: str = ""
    when: str = ""

    @property
    def exists(self) -> bool:
        return self.token != ABSENT


# ---------------------------------------------------------------------------- rows of a CSV


def _token(header: Sequence[str], cells: Sequence[str]) -> str:
    """A digest of the row's non-blank cells by column name (so neither the column order nor
    an appended empty column changes it)."""
    pairs = sorted((h.strip().casefold(), c) for h, c in zip(header, cells, strict=True) if c and h.strip())
    canonical = "\x1f".join(f"{h}\x1e{c}" for h, c in pairs)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.exists():
        return [], []
    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    nonblank = [r for r in rows if any(c.strip() for c in r)]
    if not nonblank:
        return [], []
    header = nonblank[0]
    return header, [r + [""] * (len(header) - len(r)) for r in nonblank[1:]]


def _position(header: Sequence[str], column: str) -> int | None:
    names = [h.strip().casefold() for h in header]
    return names.index(column.casefold()) if column.casefold() in names else None


def _find(header: Sequence[str], rows: Sequence[list[str]], key: Mapping[str, str]) -> int | None:
    spots = {c: _position(header, c) for c in key}
    for i, row in enumerate(rows):
        if all(p is not None and row[p].strip() == v for c, v in key.items() for p in (spots[c],)):
            return i
    return None


def _record(header: Sequence[str], row: Sequence[str] | None) -> Record:
    if row is None:
        return Record({}, ABSENT)
    values = {h.strip(): c for h, c in zip(header, row, strict=True) if h.strip()}
    lower = {k.casefold(): v for k, v in values.items()}
    return Record(values, _token(header, row), lower.get("who", "").strip(), lower.get("when", "").strip())


def _read_record(path: Path, key: Mapping[str, str]) -> Record:
    header, rows = _read_csv(path)
    i = _find(header, rows, key) if header else None
    return _record(header, None if i is None else rows[i])


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the folder's edits (POSIX ``flock``; elsewhere none)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(folder / _LOCK, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _now(when: str | None) -> str:
    if when:
        return when
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _describe(key: Mapping[str, str]) -> str:
    return ", ".join(f"{k} '{v}'" for k, v in key.items())


def _edit(
    folder: Path,
    name: str,
    columns: Sequence[str],
    key: Mapping[str, str],
    change: Callable[[dict[str, str] | None], dict[str, str]],
    expected: str,
    check: Callable[[Path], object],
) -> Record:
    """Apply ``change`` to the row of ``key`` (None when absent) if its token is ``expected``."""
    path = folder / name
    with _locked(folder):
        header, rows = _read_csv(path)
        if not header:
            header = list(columns)
        for column in columns:  # columns the edit fills but the file lacks: appended
            if _position(header, column) is None:
                header.append(column)
                rows = [[*r, ""] for r in rows]
        i = _find(header, rows, key)
        current = _record(header, None if i is None else rows[i])
        if current.token != expected:
            if current.exists:
                who = current.who or "someone"
                when = f" at {current.when}" if current.when else ""
                what = f"changed by {who}{when}"
            else:
                what = "removed"
            raise StaleEdit(
                f"{_describe(key)} was {what} since you loaded it; reload and make the edit again",
                file=str(path),
                row=None if i is None else i + 2,
            )
        old = None if i is None else {h.strip(): c for h, c in zip(header, rows[i], strict=True)}
        new = change(old)
        cells = list(rows[i]) if i is not None else [""] * len(header)
        for column, value in new.items():
            position = _position(header, column)
            assert position is not None  # every edited column was added to the header above
            cells[position] = value
        if i is None:
            rows.append(cells)
        else:
            rows[i] = cells
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        text = buffer.getvalue()
        with tempfile.TemporaryDirectory(prefix=".trialsynth-check-", dir=folder) as tmp:
            trial = Path(tmp) / name
            trial.write_text(text, encoding="utf-8")
            try:
                check(trial)
            except InputError as error:
                raise InputError(error.reason, file=str(path), row=error.row, column=error.column) from None
        replace_file(path, text)
        return _record(header, cells)


def _ids(folder: Path) -> tuple[list[str], list[str]]:
    from trialsynth.io.review.load import load_review

    review = load_review(folder)
    return [s.id for s in review.studies], [o.id for o in review.outcomes]


def _text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} must not be blank")
    return value


# ---------------------------------------------------------------------------- signalling answers


def read_signalling_answer(folder: str | os.PathLike[str], study: str, outcome: str, question: str) -> Record:
    """The row of one signalling answer in ``rob2_signalling.csv`` (absent: token ``"absent"``)."""
    key = {"study": study, "outcome": outcome, "question": question}
    return _read_record(Path(folder) / SIGNALLING_FILE, key)


def set_signalling_answer(
    folder: str | os.PathLike[str],
    *,
    study: str,
    outcome: str,
    variant: str,
    question: str,
    answer: str,
    comment: str = "",
    who: str,
    when: str | None = None,
    expected: str,
) -> Record:
    """Write one signalling answer (``Y``, ``PY``, ``PN``, ``N``, ``NI`` or ``NA`` where allowed)
    of ``study`` and ``outcome``; ``expected`` is the token read with
    :func:`read_signalling_answer`. Returns the new row and token. The suggested judgements
    follow at the next load (:attr:`~trialsynth.io.review.model.Review.rob2_signalling`)."""
    base = Path(folder)
    studies, outcomes = _ids(base)
    who = _text(who, "who (the reviewer making the edit)")
    key = {"study": study, "outcome": outcome, "question": question}
    values = {**key, "variant": variant, "answer": answer, "comment": comment, "who": who, "when": _now(when)}
    return _edit(
        base,
        SIGNALLING_FILE,
        SIGNALLING_COLUMNS,
        key,
        lambda _old: values,
        expected,
        lambda p: read_signalling(p, studies, outcomes),
    )


# ---------------------------------------------------------------------------- domain judgements


def read_domain_judgement(folder: str | os.PathLike[str], study: str, outcome: str) -> Record:
    """The risk_of_bias.csv row of ``study`` and ``outcome`` (all domains: one token per row)."""
    return _read_record(Path(folder) / ROB_FILE, {"study": study, "outcome": outcome})


def set_domain_judgement(
    folder: str | os.PathLike[str],
    *,
    study: str,
    outcome: str,
    domain: str,
    judgement: str,
    support: str,
    who: str,
    when: str | None = None,
    expected: str,
) -> Record:
    """Set one judgement (``domain`` "D1" … "D5" or "overall") and its support text in the
    existing risk_of_bias.csv row of ``study`` and ``outcome``. The judgement may differ from
    the algorithm's suggestion (the report then shows both); the support must not be blank,
    and the row must still satisfy RoB 2's overall rule (checked as at load)."""
    base = Path(folder)
    if domain not in (*DOMAINS, "overall"):
        raise InputError(f"'{domain}' is not a RoB 2 domain: write D1, D2, D3, D4, D5 or overall")
    support = _text(support, f"the support for the {domain} judgement")
    who = _text(who, "who (the reviewer making the edit)")
    studies, outcomes = _ids(base)

    def change(old: dict[str, str] | None) -> dict[str, str]:
        if old is None:
            raise InputError(
                f"{ROB_FILE} has no row for study '{study}', outcome '{outcome}': enter all five domains "
                "and overall first (add_risk_of_bias)",
                file=str(base / ROB_FILE),
            )
        return {domain: judgement, f"{domain}_support": support, "who": who, "when": _now(when)}

    return _edit(
        base,
        ROB_FILE,
        (*ROB_REQUIRED, *ROB_OPTIONAL),
        {"study": study, "outcome": outcome},
        change,
        expected,
        lambda p: read_risk_of_bias(p, studies, outcomes),
    )


def add_risk_of_bias(
    folder: str | os.PathLike[str],
    *,
    study: str,
    outcome: str,
    judgements: Mapping[str, str],
    support: Mapping[str, str],
    source: str,
    who: str,
    when: str | None = None,
    note: str = "",
) -> Record:
    """Write the first risk_of_bias.csv row of ``study`` and ``outcome``: ``judgements`` and
    ``support`` keyed "D1" … "D5" and "overall" (all required), ``source`` who judged. Refused
    (:class:`StaleEdit`) when the row exists (then edit it with :func:`set_domain_judgement`)."""
    base = Path(folder)
    who = _text(who, "who (the reviewer making the edit)")
    studies, outcomes = _ids(base)
    values = {
        "study": study,
        "outcome": outcome,
        "source": source,
        "note": note,
        "who": who,
        "when": _now(when),
    }
    for d in (*DOMAINS, "overall"):
        values[d] = judgements.get(d, "")
        values[f"{d}_support"] = support.get(d, "")
    return _edit(
        base,
        ROB_FILE,
        (*ROB_REQUIRED, *ROB_OPTIONAL),
        {"study": study, "outcome": outcome},
        lambda _old: values,
        ABSENT,
        lambda p: read_risk_of_bias(p, studies, outcomes),
    )


# ---------------------------------------------------------------------------- GRADE


def read_grade_rating(folder: str | os.PathLike[str], outcome: str, domain: str) -> Record:
    """The grade.csv row of one outcome and domain (absent: review.toml's rating, if any, applies)."""
    return _read_record(Path(folder) / GRADE_FILE, {"outcome": outcome, "domain": domain})


def set_grade_rating(
    folder: str | os.PathLike[str],
    *,
    outcome: str,
    domain: str,
    rating: int,
    reason: str,
    who: str,
    when: str | None = None,
    expected: str,
) -> Record:
    """Rate one GRADE domain of ``outcome`` in grade.csv (it overrides review.toml's rating):
    ``risk_of_bias``, ``inconsistency``, ``indirectness``, ``imprecision``, ``publication_bias``
    (0, -1, -2) or ``large_effect`` (0, +1, +2), ``dose_response``, ``plausible_confounding``
    (0, +1), with the ``reason`` (required unless 0). Until all five downgrade domains of an
    outcome are rated (here or in review.toml) its certainty is "not assessed" and the ratings
    so far are ``Grade.pending``."""
    base = Path(folder)
    who = _text(who, "who (the reviewer making the edit)")
    if isinstance(rating, bool) or not isinstance(rating, int):
        raise InputError(
            f"the rating is a whole number (0, -1, -2; +1, +2 for reasons to rate up), not {rating!r}"
        )
    _studies, outcomes = _ids(base)
    key = {"outcome": outcome, "domain": domain}
    values = {**key, "rating": str(rating), "reason": reason, "who": who, "when": _now(when)}
    return _edit(
        base,
        GRADE_FILE,
        GRADE_COLUMNS,
        key,
        lambda _old: values,
        expected,
        lambda p: read_grade_csv(p, outcomes),
    )
