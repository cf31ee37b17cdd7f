"""Row-level edits of a review folder's tables, with versions, a change log and undo.

Used by the browser (``trialsynth serve``) and usable by any other editor of the folder:

* :func:`new_review` writes a minimal valid folder (``review.toml`` with the title, question
  and first outcome, ``studies.csv`` and ``outcomes.csv`` with their headers).
* :class:`ReviewEditor` reads ``studies.csv`` / ``outcomes.csv`` as rows, each with a
  *version* (a hash of its cells), and applies one change at a time: add, edit or delete a
  row. A change names the version it was made against; when the row has changed since (another
  reviewer saved first) it is refused with :class:`StaleEdit`, never silently overwritten.
* Each change is checked with the loader itself (:func:`~trialsynth.io.review.load.load_review`
  on a copy of the folder with the change applied): a change that makes the folder fail to
  load is refused with the loader's own message (file, row, column), so the page and
  ``trialsynth run`` agree on what is valid.
* Each change is one atomic rewrite of the file (:func:`~trialsynth.io.atomic.replace_file`)
  followed by one line appended to ``changes.jsonl`` in the folder: who, when (UTC), file, row
  key, the old and the new values. :meth:`ReviewEditor.undo` reverts a reviewer's last change
  that is not yet undone (itself a change in the log).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trialsynth._core.errors import InputError
from trialsynth.io.atomic import replace_file

__all__ = [
    "CHANGE_LOG",
    "GAP_NOTE",
    "KEYS",
    "OUTCOME_COLUMNS",
    "STUDY_COLUMNS",
    "Change",
    "Op",
    "ReviewEditor",
    "StaleEdit",
    "new_review",
    "outcome_models",
    "set_outcome_model",
    "text_version",
    "toml_string",
]

#: The change log, one JSON object a line, appended to after every change.
CHANGE_LOG = "changes.jsonl"
#: The columns a new studies.csv starts with (FORMAT.md, studies.csv).
STUDY_COLUMNS = ("id", "label", "citation", "year", "source", "kind", "note")
#: The columns a new outcomes.csv starts with: identification, provenance, and the data of the
#: counts, means/SDs and estimate-with-CI / estimate-with-SE forms (FORMAT.md, outcomes.csv).
OUTCOME_COLUMNS = (
    "outcome", "study", "analysis_set", "use",
    "events_treatment", "n_treatment", "events_control", "n_control",
    "mean_treatment", "sd_treatment", "mean_control", "sd_control",
    "estimate", "ci_lower", "ci_upper", "log_estimate", "se",
    "kind", "source", "note",
)
#: The columns that identify a row of each table.
KEYS = {"studies.csv": ("id",), "outcomes.csv": ("outcome", "study", "analysis_set")}
#: The note of the data-gap row added for each outcome with a new study.
GAP_NOTE = "No data entered yet."
#: Files copied to check a change with the loader.
_REVIEW_FILES = ("review.toml", "studies.csv", "outcomes.csv", "baseline.csv", "lead_position.csv",
                 "reported.csv", "risk_of_bias.csv")


class StaleEdit(InputError):
    """A change made against a version of a row that is no longer the current one."""


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string."""
    return json.dumps(text, ensure_ascii=False)


def _csv_text(header: tuple[str, ...] | list[str], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, "") for c in header])
    return out.getvalue()


def new_review(
    folder: str | Path,
    *,
    title: str,
    population: str,
    intervention: str,
    comparator: str,
    outcome_id: str,
    outcome_name: str,
    data_type: str,
    measure: str,
    better: str,
    study: dict[str, str],
) -> Path:
    """Write a minimal review folder: the review's title, question and first outcome, and its
    first study (``study``: the columns of :data:`STUDY_COLUMNS`; the loader wants at least
    one). Refused when ``folder`` already has a review.toml; the loader checks the files
    first, so an invalid value is an :class:`InputError` with its message and nothing is
    written."""
    folder = Path(folder)
    if (folder / "review.toml").exists():
        raise InputError("the folder already has a review", file=str(folder / "review.toml"))
    toml = "\n".join(
        [
            "# Written by trialsynth serve; the format is described in FORMAT.md.",
            "",
            "[review]",
            f"title = {toml_string(title)}",
            "",
            "[review.question]",
            f"population = {toml_string(population)}",
            f"intervention = {toml_string(intervention)}",
            f"comparator = {toml_string(comparator)}",
            "",
            "[[outcomes]]",
            f"id = {toml_string(outcome_id)}",
            f"name = {toml_string(outcome_name)}",
            f"data_type = {toml_string(data_type)}",
            f"measure = {toml_string(measure)}",
            f"better = {toml_string(better)}",
            "",
        ]
    )
    files = {
        "review.toml": toml,
        "studies.csv": _csv_text(STUDY_COLUMNS, [{k: str(v).strip() for k, v in study.items()}]),
        "outcomes.csv": _csv_text(
            OUTCOME_COLUMNS,
            [{"outcome": outcome_id.strip(), "study": str(study.get("id", "")).strip(), "use": "no",
              "note": GAP_NOTE}],
        ),
    }
    from trialsynth.io.review.load import load_review

    with tempfile.TemporaryDirectory(prefix="trialsynth-new-") as tmp:
        for name, text in files.items():
            Path(tmp, name).write_text(text, encoding="utf-8")
        try:
            load_review(tmp)
        except InputError as exc:
            raise InputError(str(exc).replace(tmp, str(folder))) from None
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        replace_file(folder / name, text.encode("utf-8"))
    return folder


def row_version(row: dict[str, str]) -> str:
    """The version of a row: a hash of its cells (column order does not matter)."""
    data = json.dumps(sorted((k, v) for k, v in row.items() if v != ""), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Op:
    """One row change: add (``key`` None), edit, or delete (``values`` None), made against
    the row's ``version``."""

    file: str
    key: dict[str, str] | None
    version: str | None
    values: dict[str, Any] | None


@dataclass(frozen=True)
class Change:
    """One line of the change log: who changed which row of which file when, from ``old`` to
    ``new`` (None: the row did not exist / was deleted). ``group`` is the log line of the
    first row changed together; ``undo_of`` the group an undo reverted."""

    who: str
    when: str
    file: str
    key: dict[str, str]
    old: dict[str, str] | None
    new: dict[str, str] | None
    group: int
    undo_of: int | None = None


class ReviewEditor:
    """Edit ``studies.csv`` and ``outcomes.csv`` of the review in ``folder`` row by row (one
    lock per editor: changes through it are serialised).

    ``validate(folder)`` raises :class:`InputError` for a folder that is not valid: by default
    the loader (:func:`~trialsynth.io.review.load.load_review`); ``trialsynth serve`` passes the
    analyses of ``trialsynth run`` (which also parse every data cell), so that what the page
    accepts, ``run`` accepts. ``lock`` (default: a new one) serialises the changes; a caller
    that also reads the folder passes its own, so that it never reads half of a change that
    rewrites two files."""

    def __init__(
        self,
        folder: str | Path,
        validate: Callable[[Path], object] | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        self.folder = Path(folder)
        #: Serialises the changes (and, when the caller shares it, its own reads of the folder).
        self.lock = lock if lock is not None else threading.RLock()
        self.validate = validate

    # ---------------------------------------------------------------- reading
    def _check_file(self, file: str) -> None:
        if file not in KEYS:
            raise InputError(f"only {', '.join(KEYS)} can be edited here, not {file!r}")

    def table(self, file: str) -> tuple[list[str], list[dict[str, str]]]:
        """The header and rows of ``file`` (each row a dict of its cells)."""
        self._check_file(file)
        path = self.folder / file
        if not path.exists():
            return list(STUDY_COLUMNS if file == "studies.csv" else OUTCOME_COLUMNS), []
        text = path.read_text(encoding="utf-8-sig")
        reader = csv.reader(io.StringIO(text))
        header = next(reader, [])
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            rows.append({h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)})
        return header, rows

    def rows(self, file: str) -> list[dict[str, Any]]:
        """The rows of ``file`` with their key and version (``_key``, ``_version``)."""
        _, rows = self.table(file)
        return [{**r, "_key": self.key_of(file, r), "_version": row_version(r)} for r in rows]

    def key_of(self, file: str, row: dict[str, str]) -> dict[str, str]:
        return {k: row.get(k, "").strip() for k in KEYS[file]}

    def _find(self, file: str, rows: list[dict[str, str]], key: dict[str, str]) -> int | None:
        for i, r in enumerate(rows):
            if self.key_of(file, r) == key:
                return i
        return None

    # ---------------------------------------------------------------- checking
    def _apply(self, file, header, rows, key, values):
        rows = [dict(r) for r in rows]
        header = list(header)
        index = None if key is None else self._find(file, rows, key)
        if values is None:
            if index is not None:
                del rows[index]
            return header, rows
        clean = {str(k): ("" if v is None else str(v)).strip() for k, v in values.items()}
        for column in clean:
            if column not in header and clean[column] != "":
                header.append(column)
        if index is None:
            rows.append({c: clean.get(c, "") for c in header})
        else:
            rows[index] = {**rows[index], **clean}
        return header, rows

    def _load_error(self, replace: dict[str, str] | None = None) -> str | None:
        """The loader's message for the folder (with ``replace``: file name → text), or None."""
        from trialsynth.io.review.load import load_review

        validate = self.validate or load_review
        with tempfile.TemporaryDirectory(prefix="trialsynth-check-") as tmp:
            for name in _REVIEW_FILES:
                if replace and name in replace:
                    Path(tmp, name).write_text(replace[name], encoding="utf-8")
                elif (self.folder / name).exists():
                    shutil.copyfile(self.folder / name, Path(tmp, name))
            try:
                validate(Path(tmp))
            except InputError as exc:
                return str(exc).replace(tmp + "/", "").replace(tmp, str(self.folder))
        return None

    def check(self, file: str, key: dict[str, str] | None, values: dict[str, Any] | None) -> str | None:
        """The loader's message if the change were made (``None``: the folder would load),
        or ``None`` also when the folder already fails the same way without it."""
        self._check_file(file)
        with self.lock:
            tables = {f: self.table(f) for f in KEYS}
            for op in self._expand(Op(file, key, None, values), tables):
                tables[op.file] = self._apply(op.file, *tables[op.file], op.key, op.values)
            after = self._load_error({f: _csv_text(*tables[f]) for f in KEYS})
            if after is None:
                return None
            return None if after == self._load_error() else after

    # ---------------------------------------------------------------- changing
    def _outcome_ids(self) -> list[str]:
        import tomllib

        try:
            data = tomllib.loads((self.folder / "review.toml").read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            return []
        outcomes = data.get("outcomes")
        if not isinstance(outcomes, list):
            return []
        return [o["id"] for o in outcomes if isinstance(o, dict) and isinstance(o.get("id"), str)]

    def _expand(self, op: Op, tables: dict) -> list[Op]:
        """A study added brings a data-gap row for each outcome (the loader wants a row per
        study and outcome: ``use = no`` and a note saying why, FORMAT.md); a study deleted takes
        its outcome rows with it."""
        if op.file != "studies.csv" or (op.key is not None and op.values is not None):
            return [op]
        _, outcome_rows = tables["outcomes.csv"]
        if op.values is not None:  # a new study
            sid = str(op.values.get("id", "")).strip()
            have = {r.get("outcome", "") for r in outcome_rows if r.get("study", "").strip() == sid}
            gaps = [
                Op("outcomes.csv", None, None, {"outcome": o, "study": sid, "use": "no", "note": GAP_NOTE})
                for o in self._outcome_ids()
                if o not in have
            ]
            return [op, *gaps]
        sid = (op.key or {}).get("id", "")
        rows = [
            Op("outcomes.csv", self.key_of("outcomes.csv", r), row_version(r), None)
            for r in outcome_rows
            if r.get("study", "").strip() == sid
        ]
        return [op, *rows]

    def change(
        self,
        file: str,
        *,
        who: str,
        key: dict[str, str] | None,
        version: str | None,
        values: dict[str, Any] | None,
    ) -> list[Change]:
        """Add (``key`` None), edit, or delete (``values`` None) one row. ``version`` is the
        row's version the change was made against (None for a new row). Raises
        :class:`StaleEdit` when the row changed since, :class:`InputError` with the loader's
        message when the change would make the folder invalid. Adding a study also adds a
        data-gap row per outcome; deleting one deletes its outcome rows."""
        self._check_file(file)
        with self.lock:
            tables = {f: self.table(f) for f in KEYS}
            ops = self._expand(Op(file, key, version, values), tables)
            return self.apply(ops, who=who)

    def apply(self, ops: list[Op], *, who: str, undo_of: int | None = None) -> list[Change]:
        """Make the changes ``ops`` together (each checked against its row's version), check the
        result with the loader, write each file once (atomically) and log one line per change."""
        if not who.strip():
            raise InputError("say who is editing (--reviewer NAME)")
        with self.lock:
            tables = {f: self.table(f) for f in KEYS}
            before = {f: _csv_text(*tables[f]) for f in KEYS}
            done: list[tuple[Op, dict[str, str] | None, dict[str, str] | None]] = []
            for op in ops:
                self._check_file(op.file)
                header, rows = tables[op.file]
                old = self._verify(op, rows)
                header, rows = self._apply(op.file, header, rows, op.key, op.values)
                tables[op.file] = (header, rows)
                new = None
                if op.values is not None:
                    merged = {**(old or {}), **{k: str(v or "").strip() for k, v in op.values.items()}}
                    new = rows[self._find(op.file, rows, self.key_of(op.file, merged))]
                done.append((op, old, new))
            texts = {f: _csv_text(*tables[f]) for f in KEYS}
            changed = [f for f in KEYS if texts[f] != before[f] or not (self.folder / f).exists()]
            after = self._load_error({f: texts[f] for f in changed})
            if after is not None and after != self._load_error():
                raise InputError(after)
            for f in changed:
                replace_file(self.folder / f, texts[f].encode("utf-8"))
            when = datetime.now(UTC).isoformat(timespec="seconds")
            first = len(self.history()) + 1
            out = []
            for op, old, new in done:
                record = Change(
                    who=who.strip(),
                    when=when,
                    file=op.file,
                    key=op.key if op.key is not None else self.key_of(op.file, new or {}),
                    old=old,
                    new=new,
                    group=first,
                    undo_of=undo_of,
                )
                self._log(record)
                out.append(record)
            return out

    def _verify(self, op: Op, rows: list[dict[str, str]]) -> dict[str, str] | None:
        """The row ``op`` changes (None for a new row), after the stale-version checks."""
        file, key = op.file, op.key
        if key is None:
            if op.values is None:
                raise InputError("nothing to change")
            new_key = self.key_of(file, {k: str(v or "") for k, v in op.values.items()})
            if self._find(file, rows, new_key) is not None:
                raise StaleEdit(f"{file}: a row {_show_key(new_key)} exists already (reload the page)")
            return None
        index = self._find(file, rows, key)
        if index is None:
            raise StaleEdit(
                f"{file}: the row {_show_key(key)} was deleted or renamed by someone else; reload the page"
            )
        old = rows[index]
        if op.version != row_version(old):
            raise StaleEdit(
                f"{file}: the row {_show_key(key)} was changed by someone else since you loaded it; "
                "reload the page to see their change"
            )
        if op.values is not None:
            moved = self.key_of(file, {**old, **{k: str(v or "") for k, v in op.values.items()}})
            if moved != key and self._find(file, rows, moved) is not None:
                raise StaleEdit(f"{file}: a row {_show_key(moved)} exists already")
        return old

    def _log(self, change: Change) -> None:
        line = json.dumps(
            {k: v for k, v in change.__dict__.items() if not (k == "undo_of" and v is None)},
            ensure_ascii=False,
            sort_keys=True,
        )
        with open(self.folder / CHANGE_LOG, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()

    def history(self) -> list[dict[str, Any]]:
        """The change log, oldest first (each entry with its line number ``n``, from 1)."""
        path = self.folder / CHANGE_LOG
        if not path.exists():
            return []
        out = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                out.append({"n": n, **json.loads(line)})
        return out

    def undo(self, who: str) -> list[Change]:
        """Revert ``who``'s last change not yet undone (all the rows it changed together);
        ``[]`` when there is none. Refused (:class:`StaleEdit`) when someone changed one of
        its rows since; an undo is itself a change in the log (and is not undone by the next)."""
        with self.lock:
            log = self.history()
            undone = {e["undo_of"] for e in log if e.get("undo_of") is not None}
            groups = [  # rows of the tables (a model choice is changed back by choosing again)
                e["group"] for e in log
                if e["who"] == who.strip() and e.get("undo_of") is None and e["group"] not in undone
                and e["file"] in KEYS
            ]
            if not groups:
                return []
            group = groups[-1]
            ops = []
            for e in reversed([e for e in log if e["group"] == group]):
                file, old, new = e["file"], e["old"], e["new"]
                if new is None:  # a deletion: add the row back
                    ops.append(Op(file, None, None, old))
                elif old is None:  # an addition: delete the row
                    ops.append(Op(file, self.key_of(file, new), row_version(new), None))
                else:
                    restore = {c: old.get(c, "") for c in set(old) | set(new)}
                    ops.append(Op(file, self.key_of(file, new), row_version(new), restore))
            return self.apply(ops, who=who, undo_of=group)


def _show_key(key: dict[str, str]) -> str:
    return "(" + ", ".join(f"{k} {v!r}" for k, v in key.items() if v) + ")"


def text_version(text: str) -> str:
    """The version of a whole file's text (a hash)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def outcome_models(folder: str | Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """review.toml's version and each outcome's own ``model`` table (``{}`` when the outcome
    uses ``[analysis] model`` or the default)."""
    import tomllib

    text = (Path(folder) / "review.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    models = {}
    for o in data.get("outcomes", []):
        if isinstance(o, dict) and isinstance(o.get("id"), str):
            models[o["id"]] = dict(o.get("model", {})) if isinstance(o.get("model"), dict) else {}
    return text_version(text), models


def set_outcome_model(
    editor: ReviewEditor,
    outcome: str,
    *,
    method: str,
    hk: bool,
    who: str,
    version: str,
    sensitivity: list[str] | None = None,
) -> Change:
    """Write the outcome's model (``model = { method = "DL", hk = false }``) into its
    ``[[outcomes]]`` table of review.toml, and with ``sensitivity`` its sensitivity analyses
    (``sensitivity = [{ method = "FE" }]``; an empty list: none), replacing an inline line of
    the same key or added below the table's header, as FORMAT.md describes. ``version`` is
    review.toml's version the choice was made against (:class:`StaleEdit` when it changed
    since); the loader checks the result (its message when refused); one atomic write and one
    line in the change log."""
    import tomllib

    from trialsynth.io.review._toml import key_lines

    if not who.strip():
        raise InputError("say who is editing (--reviewer NAME)")
    path = editor.folder / "review.toml"
    with editor.lock:
        text = path.read_text(encoding="utf-8")
        if version != text_version(text):
            raise StaleEdit("review.toml was changed by someone else since you loaded the page; reload it")
        data = tomllib.loads(text)
        ids = [o.get("id") for o in data.get("outcomes", [])]
        if outcome not in ids:
            raise InputError(f"review.toml: no outcome {outcome!r}")
        index = ids.index(outcome)
        table = data["outcomes"][index]
        values = {"model": f"{{ method = {toml_string(method)}, hk = {'true' if hk else 'false'} }}"}
        if sensitivity is not None:
            items = ", ".join(f"{{ method = {toml_string(m)} }}" for m in sensitivity)
            values["sensitivity"] = f"[{items}]"
        lines = text.splitlines(keepends=True)
        for key, value in values.items():
            lines_of = key_lines("".join(lines))
            at = lines_of.get(("outcomes", index, key))
            new_line = f"{key} = {value}\n"
            if at is not None:
                current = lines[at - 1]
                opened = sum(current.count(c) for c in "{[") - sum(current.count(c) for c in "}]")
                if not current.lstrip().startswith(key) or opened != 0:
                    raise InputError(
                        f"review.toml, line {at}: the {key} of outcome {outcome!r} is not written on one "
                        "line; change it in the file"
                    )
                lines[at - 1] = new_line
            else:
                lines.insert(lines_of[("outcomes", index)], new_line)
        new_text = "".join(lines)
        error = editor._load_error({"review.toml": new_text})
        if error is not None:
            raise InputError(error)
        replace_file(path, new_text.encode("utf-8"))
        record = Change(
            who=who.strip(),
            when=datetime.now(UTC).isoformat(timespec="seconds"),
            file="review.toml",
            key={"outcome": outcome, "keys": ", ".join(values)},
            old={k: json.dumps(table[k], sort_keys=True) for k in values if k in table},
            new={k: v for k, v in values.items()},
            group=len(editor.history()) + 1,
        )
        editor._log(record)
        return record
