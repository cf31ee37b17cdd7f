"""A small, defensive XML reader for RevMan files: a tree of elements with line numbers.

Built on the standard library's expat parser with everything that makes XML dangerous
switched off: no document type with an internal subset (so no entity declarations, and no
"billion laughs" expansion), no external entities or DTDs fetched, and a byte limit checked
before parsing. Every problem is an :class:`~trialsynth._core.errors.InputError` naming the file
and the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from trialsynth._core.errors import InputError
from trialsynth._core.limits import max_revman_bytes

#: Largest file read (bytes). RevMan 5 reviews are rarely above a few megabytes; the limit
#: stops a mistaken or hostile file from exhausting memory.
MAX_BYTES = 64 * 1_000_000  # the default of TRIALSYNTH_MAX_REVMAN_MB (trialsynth._core.limits)


@dataclass
class Element:
    """One XML element: tag, attributes (verbatim), children, text and the line it starts on."""

    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Element] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The element's own text (not its children's)."""
        return "".join(self.text_parts)

    def find(self, tag: str) -> Element | None:
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def findall(self, tag: str) -> list[Element]:
        return [child for child in self.children if child.tag == tag]


class _Forbidden(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class FileReader:
    """What both RevMan readers keep: the path, its name for messages, what was skipped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = str(path)
        self.name = path.name
        self.skipped: list[str] = []


def read_bytes(path: Path, *, max_bytes: int | None = None) -> bytes:
    """The file's bytes, refusing files above ``max_bytes`` (default :data:`MAX_BYTES`,
    checked before reading)."""
    max_bytes = max_revman_bytes() if max_bytes is None else max_bytes
    source = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError("no such file", file=source) from None
    except OSError as exc:
        raise InputError(f"the file cannot be read ({exc.strerror or exc})", file=source) from None
    if not path.is_file():
        raise InputError("not a file", file=source)
    if size > max_bytes:
        raise InputError(
            f"the file is {size} bytes, above the limit of {max_bytes} bytes for a RevMan file "
            "(set TRIALSYNTH_MAX_REVMAN_MB to change it)",
            file=source,
        )
    if size == 0:
        raise InputError("the file is empty", file=source)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"the file cannot be read ({exc.strerror or exc})", file=source) from None


def parse_xml(data: bytes, source: str) -> Element:
    """Parse ``data`` into an :class:`Element` tree; DTD subsets and entities are refused."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    root: list[Element] = []
    stack: list[Element] = []

    def line() -> int:
        return parser.CurrentLineNumber

    def start(tag, attrs):
        element = Element(tag, dict(attrs), line())
        if stack:
            stack[-1].children.append(element)
        else:
            root.append(element)
        stack.append(element)

    def end(tag):
        stack.pop()

    def chars(text):
        if stack:
            stack[-1].text_parts.append(text)

    def doctype(name, sysid, pubid, has_internal_subset):
        if has_internal_subset:
            raise _Forbidden(
                "the document type declares its own entities or elements (refused for safety)", line()
            )

    def entity_decl(*args):
        raise _Forbidden("the file declares XML entities (refused for safety)", line())

    def external_ref(*args):
        raise _Forbidden("the file refers to an external entity (refused for safety)", line())

    def skipped(name, is_parameter):
        # An entity that would come from an external DTD, which is never read.
        raise _Forbidden(f"the file uses an entity it does not define (&{name};)", line())

    def unparsed(*args):
        raise _Forbidden("the file declares an unparsed entity (refused for safety)", line())

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity_decl
    parser.UnparsedEntityDeclHandler = unparsed
    parser.ExternalEntityRefHandler = external_ref
    parser.SkippedEntityHandler = skipped
    try:
        parser.Parse(data, True)
    except _Forbidden as exc:
        raise _at(source, exc.line, exc.message) from None
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code)
        raise _at(source, exc.lineno, f"this is not well-formed XML ({reason})") from None
    except LookupError as exc:  # encoding="..." names an encoding Python does not know
        raise _at(source, 1, f"the XML declaration names an unknown encoding ({exc})") from None
    except (UnicodeError, ValueError) as exc:  # the bytes do not fit the declared encoding
        raise _at(source, 1, f"the file cannot be decoded as its XML declaration says ({exc})") from None
    if not root:
        raise InputError("the file has no XML element", file=source)
    return root[0]


def _at(source: str, line: int | None, message: str) -> InputError:
    error = InputError(message, file=source)
    if line:
        error.row = line
        error.args = (f"{source}, line {line}: {message}",)
    return error


def error_at(source: str, element: Element | None, message: str) -> InputError:
    """An InputError naming the file, the line and the element."""
    if element is None:
        return InputError(message, file=source)
    return _at(source, element.line, f"<{element.tag}>: {message}")
