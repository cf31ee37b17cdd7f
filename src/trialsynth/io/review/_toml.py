"""Line numbers for the keys of a TOML document (tomllib gives none).

:func:`key_lines` scans a document that :mod:`tomllib` has already accepted and maps
every key path to the line where it is written. A path is a tuple of keys and array
indices (0-based), as in the parsed document: ``("outcomes", 1, "model", "method")``.
Table headers give the line of the table (``[analysis]``, each ``[[outcomes]]``
element), array elements the line where the element starts.
"""

from __future__ import annotations

import bisect
import re
import tomllib

Path = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SPACE = " \t"
_BARE_VALUE = re.compile(r"[^,\]}#\r\n]*")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.lines: dict[Path, int] = {}
        # Array-of-tables paths (resolved) -> index of their last element.
        self.last: dict[Path, int] = {}

    # ---------------------------------------------------------------- helpers
    def line(self, i: int | None = None) -> int:
        return bisect.bisect_right(self.starts, self.i if i is None else i)

    def peek(self, n: int = 1) -> str:
        return self.text[self.i : self.i + n]

    def record(self, path: Path, line: int) -> None:
        self.lines.setdefault(path, line)

    def skip_space(self, newlines: bool = False) -> None:
        """Skip blanks and comments (and newlines when ``newlines``)."""
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c in _SPACE or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#":
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end
            else:
                break

    # ---------------------------------------------------------------- keys
    def key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self.skip_space()
            c = self.peek()
            if c in ('"', "'"):
                start = self.i
                self.string()
                raw = self.text[start : self.i]
                parts.append(tomllib.loads(f"k = {raw}")["k"])
            else:
                match = _BARE_KEY.match(self.text, self.i)
                if match is None:  # pragma: no cover - tomllib accepted the text
                    raise ValueError(f"cannot read a key at line {self.line()}")
                parts.append(match.group())
                self.i = match.end()
            self.skip_space()
            if self.peek() == ".":
                self.i += 1
                continue
            return tuple(parts)

    def resolve(self, keys: tuple[str, ...]) -> Path:
        """A header's keys with the current index of every array of tables on the way."""
        out: list[str | int] = []
        for key in keys:
            out.append(key)
            here = tuple(out)
            if here in self.last:
                out.append(self.last[here])
        return tuple(out)

    # ---------------------------------------------------------------- values
    def string(self) -> None:
        text = self.text
        quote = text[self.i]
        if text.startswith(quote * 3, self.i):
            end = self.i + 3
            while True:
                j = text.find(quote * 3, end)
                if j < 0:  # pragma: no cover
                    raise ValueError("unterminated string")
                if quote == '"' and _escaped(text, j):
                    end = j + 1
                    continue
                self.i = j + 3
                while self.peek() == quote:  # up to two quotes may close the string's content
                    self.i += 1
                return
        j = self.i + 1
        while j < len(text):
            c = text[j]
            if c == "\\" and quote == '"':
                j += 2
                continue
            if c == quote:
                self.i = j + 1
                return
            j += 1
        raise ValueError("unterminated string")  # pragma: no cover

    def value(self, path: Path) -> None:
        c = self.peek()
        if c in ('"', "'"):
            self.string()
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self.skip_space(newlines=True)
                if self.peek() == "]":
                    self.i += 1
                    return
                self.record((*path, index), self.line())
                self.value((*path, index))
                self.skip_space(newlines=True)
                if self.peek() == ",":
                    self.i += 1
                index += 1
        elif c == "{":
            self.i += 1
            while True:
                self.skip_space(newlines=True)
                if self.peek() == "}":
                    self.i += 1
                    return
                self.keyvalue(path)
                self.skip_space(newlines=True)
                if self.peek() == ",":
                    self.i += 1
        else:
            bare = _BARE_VALUE.match(self.text, self.i)  # matches the empty text too: never None
            self.i = bare.end() if bare is not None else self.i

    def keyvalue(self, table: Path) -> None:
        line = self.line()
        keys = self.key()
        for n in range(1, len(keys) + 1):
            self.record((*table, *keys[:n]), line)
        self.skip_space()
        self.i += 1  # '='
        self.skip_space()
        self.value((*table, *keys))

    # ---------------------------------------------------------------- document
    def run(self) -> dict[Path, int]:
        table: Path = ()
        text = self.text
        while True:
            self.skip_space(newlines=True)
            if self.i >= len(text):
                return self.lines
            line = self.line()
            if self.peek(2) == "[[":
                self.i += 2
                keys = self.key()
                self.i += 2
                base = (*self.resolve(keys[:-1]), keys[-1])
                index = self.last.get(base, -1) + 1
                self.last[base] = index
                self.record(base, line)
                table = (*base, index)
                self.record(table, line)
            elif self.peek() == "[":
                self.i += 1
                keys = self.key()
                self.i += 1
                table = self.resolve(keys)
                self.record(table, line)
            else:
                self.keyvalue(table)


def _escaped(text: str, j: int) -> bool:
    """Whether the character at ``j`` follows an odd number of backslashes."""
    n = 0
    while j - n - 1 >= 0 and text[j - n - 1] == "\\":
        n += 1
    return n % 2 == 1


def key_lines(text: str) -> dict[Path, int]:
    """Map every key path of a valid TOML document to its 1-based line number."""
    return _Scanner(text).run()


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of ``path``, or of its nearest recorded ancestor (None for the document)."""
    for n in range(len(path), 0, -1):
        line = lines.get(path[:n])
        if line is not None:
            return line
    return None
