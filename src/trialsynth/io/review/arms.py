"""Multi-arm trials in a review folder: arm rows of outcomes.csv turned into comparisons.

A trial with more than two arms gives one row per arm in outcomes.csv (the ``arm`` column
names the arm; the arm's numbers are in ``events`` and ``n``, or ``mean``, ``sd`` and ``n``)
and a ``[[multi_arm]]`` table in review.toml naming its comparisons::

    [[multi_arm]]
    study = "lund"
    comparisons = ["echo + mri vs usual"]   # arms joined by "+" are combined into one group
    split_shared = false                    # true: an arm in several comparisons is split
    note = "..."

Each comparison enters an analysis as one two-arm row. Arms joined by ``+`` are combined
(Cochrane Handbook Table 6.5.a for means and SDs; events and sizes added for counts). An arm
that is in two or more comparisons of one trial would be counted twice (Handbook 23.3.4):
that is an error unless ``split_shared = true``, which divides its size (and events) evenly
between the comparisons, as whole numbers (the remainder to the first comparisons; mean and
SD unchanged). Every derived number keeps its derivation (:mod:`trialsynth.stats.derive`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from trialsynth._core.errors import InputError
from trialsynth.stats import derive

if TYPE_CHECKING:
    from trialsynth.io.review.model import OutcomeRow

__all__ = ["ARM_COLUMNS", "MultiArm", "expand_arms", "parse_comparison"]

#: The columns of an arm row (beside ``arm``): counts, or means and SDs, with the arm's size.
ARM_COLUMNS = ("events", "n", "mean", "sd")

_BINARY = ("events_treatment", "n_treatment", "events_control", "n_control")
_CONTINUOUS = ("mean_treatment", "sd_treatment", "n_treatment", "mean_control", "sd_control", "n_control")


@dataclass(frozen=True)
class MultiArm:
    """One ``[[multi_arm]]`` table: a trial's comparisons, each ``(treatment arms, control arms)``."""

    study: str
    comparisons: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    split_shared: bool = False
    note: str = ""

    def label(self, i: int) -> str:
        """The comparison as text, e.g. ``echo + mri vs usual``."""
        t, c = self.comparisons[i]
        return f"{' + '.join(t)} vs {' + '.join(c)}"

    def shared(self) -> dict[str, int]:
        """How many comparisons each arm is in."""
        count: dict[str, int] = {}
        for t, c in self.comparisons:
            for arm in (*t, *c):
                count[arm] = count.get(arm, 0) + 1
        return count


def parse_comparison(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``"a + b vs c"`` → ``(("a", "b"), ("c",))``; raises ValueError with the reason."""
    sides = text.split(" vs ")
    if len(sides) != 2:
        raise ValueError(
            f"'{text}' is not a comparison: write 'ARM vs ARM' (arms joined by '+' are combined)"
        )
    out = []
    for side in sides:
        arms = tuple(a.strip() for a in side.split("+"))
        if not all(arms):
            raise ValueError(f"'{text}' has an empty arm name")
        out.append(arms)
    t, c = out
    if len(set(t + c)) != len(t) + len(c):
        raise ValueError(f"'{text}' names an arm twice")
    return t, c


def _number(row, column: str, source: str) -> float:
    text = row.get(column).strip().replace("\u2212", "-")
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            f"arm '{row.get('arm').strip()}' of study '{row.study}' needs a number in '{column}'"
            + (f", not '{text}'" if text else ""),
            file=source,
            row=row.row,
            column=column,
        ) from None
    return value


def _split_whole(total: float, k: int) -> list[int]:
    """``total`` split into ``k`` whole parts as even as possible, the remainder to the first."""
    whole = round(total)
    return [whole // k + (1 if i < whole % k else 0) for i in range(k)]


def _side(arms, rows, binary: bool, source: str, shared: dict[str, int], part: dict[str, int], split: bool):
    """The numbers of one side of a comparison (arms combined) and their derivations."""
    values = []
    steps: list = []
    for arm in arms:
        row = rows[arm]
        n = _number(row, "n", source)
        v = {"n": n}
        if binary:
            v["events"] = _number(row, "events", source)
        else:
            v["mean"], v["sd"] = _number(row, "mean", source), _number(row, "sd", source)
        k = shared[arm]
        if k > 1 and split:
            n_d, e_d = derive.split_shared_arm(n, k, events=v.get("events"))
            i = part[arm]
            part[arm] += 1
            v["n"] = float(_split_whole(n, k)[i])
            note = f"rounded to whole numbers, part {i + 1} of {k}"
            steps.append(n_d.derivation.about(arm).with_notes(note))
            if e_d is not None:
                v["events"] = float(_split_whole(v["events"], k)[i])
                steps.append(e_d.derivation.about(arm).with_notes(note))
        values.append(v)
    combined = values[0]
    subject = " + ".join(arms)
    for v in values[1:]:
        if binary:
            e_d, n_d = derive.combine_counts(combined["events"], combined["n"], v["events"], v["n"])
            steps += [e_d.derivation.about(subject), n_d.derivation.about(subject)]
            combined = {"events": float(e_d.value), "n": float(n_d.value)}
        else:
            n_d, m_d, s_d = derive.combine_groups(
                combined["n"], combined["mean"], combined["sd"], v["n"], v["mean"], v["sd"]
            )
            steps += [d.derivation.about(subject) for d in (n_d, m_d, s_d)]
            combined = {"n": float(n_d.value), "mean": float(m_d.value), "sd": float(s_d.value)}
    return combined, steps


def expand_arms(records, multi_arm: tuple[MultiArm, ...], header: tuple[str, ...], source: str):
    """The used rows of one outcome and analysis set with every multi-arm trial's arm rows
    replaced by one row per comparison; returns ``(records, header)`` (the header gains the
    two-arm columns the new rows need). A trial with one comparison keeps its id; with
    several, each row's study is ``id[comparison]`` (:meth:`Review.study` finds the trial)."""
    arm_rows: dict[str, dict[str, OutcomeRow]] = {}
    out: list = []
    for r in records:
        arm = r.get("arm").strip()
        if not arm:
            out.append(r)
            continue
        arm_rows.setdefault(r.study, {})[arm] = r
    if not arm_rows:
        return tuple(records), header
    width = len(header)
    specs = {m.study: m for m in multi_arm}
    names = [h.strip().casefold() for h in header]
    extra = [c for c in (*_BINARY, *_CONTINUOUS) if c not in names]
    header = (*header, *dict.fromkeys(extra))
    names = [h.strip().casefold() for h in header]
    for study, rows in arm_rows.items():
        first = next(iter(rows.values()))
        spec = specs.get(study)
        if spec is None:
            raise InputError(
                f"study '{study}' has arm rows but no [[multi_arm]] table in review.toml naming its "
                "comparisons",
                file=source,
                row=first.row,
                column="arm",
            )
        if any(r.study == study for r in out):
            raise InputError(
                f"study '{study}' has both a two-arm row and arm rows for this outcome: use one or the other",
                file=source,
                row=first.row,
            )
        shared = spec.shared()
        unsplit = [a for a, k in shared.items() if k > 1]
        if unsplit and not spec.split_shared:
            raise InputError(
                f"study '{study}' would enter one analysis twice with the same arm '{unsplit[0]}' "
                "(double counting): set split_shared = true in its [[multi_arm]] table, or combine arms",
                file=source,
                row=first.row,
                column="arm",
            )
        binary = all(r.get("events").strip() for r in rows.values())
        part = dict.fromkeys(shared, 0)
        for i, (t_arms, c_arms) in enumerate(spec.comparisons):
            missing = [a for a in (*t_arms, *c_arms) if a not in rows]
            if missing:
                raise InputError(
                    f"study '{study}': comparison '{spec.label(i)}' names arm '{missing[0]}', which has no "
                    f"used row for this outcome (arms: {', '.join(rows)})",
                    file=source,
                    row=first.row,
                    column="arm",
                )
            t, t_steps = _side(t_arms, rows, binary, source, shared, part, spec.split_shared)
            c, c_steps = _side(c_arms, rows, binary, source, shared, part, spec.split_shared)
            cells = {f"{k}_treatment": v for k, v in t.items()} | {f"{k}_control": v for k, v in c.items()}
            used = [rows[a] for a in (*t_arms, *c_arms)]
            derived = bool(t_steps or c_steps) or any(u.kind == "derived" for u in used)
            label = study if len(spec.comparisons) == 1 else f"{study}[{spec.label(i)}]"
            raw = [label if n == "study" else repr(cells[n]) if n in cells else "" for n in names]
            notes = [f"{spec.label(i)} (arm rows {', '.join(str(u.row) for u in used)})"]
            notes += [u.note for u in used if u.note.strip()]
            out.append(
                replace(
                    first,
                    study=label,
                    kind="derived" if derived else first.kind,
                    note="; ".join(dict.fromkeys(notes)),
                    source="; ".join(dict.fromkeys(u.source for u in used)),
                    cells=MappingProxyType({n: raw[j] for j, n in enumerate(names)} | {"study": label}),
                    raw=tuple(raw),
                    derivations=(*t_steps, *c_steps),
                )
            )
    padded = [
        r if len(r.raw) == len(header) else replace(r, raw=(*r.raw, *[""] * (len(header) - width)))
        for r in out
    ]
    return tuple(padded), header
