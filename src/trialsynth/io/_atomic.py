"""Atomic, reproducible writes of the files a user keeps.

``write_bytes_atomic`` writes to a temporary file beside the target and renames it over the
target (``os.replace``), so a crash never leaves half a file. ``reproducible_zip`` rewrites an
Office Open XML package (a ZIP: .docx, .xlsx) with a fixed timestamp on every member, so the
same content always gives the same bytes.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import zipfile
from pathlib import Path

__all__ = ["CORE_DATE", "ZIP_DATE", "reproducible_zip", "write_bytes_atomic", "write_text_atomic"]

#: The timestamp of every member of a rewritten ZIP: the earliest a ZIP can hold.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: The created and modified dates written into an Office document's core properties.
CORE_DATE = "1980-01-01T00:00:00Z"
_CORE_DATES = re.compile(rb"(<dcterms:(?:created|modified)\b[^>]*>)[^<]*(</dcterms:)")


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a kept file gets the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """UTF-8 text with ``\\n`` line ends, written atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def reproducible_zip(data: bytes) -> bytes:
    """The ZIP ``data`` with every member's date set to :data:`ZIP_DATE`, its permissions fixed
    and its order kept ([Content_Types].xml first, as Office Open XML wants); deflate-compressed.
    The created and modified dates of ``docProps/core.xml`` become :data:`CORE_DATE`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for member in src.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 0
            body = src.read(member.filename)
            if member.filename == "docProps/core.xml":
                body = _CORE_DATES.sub(rb"\g<1>" + CORE_DATE.encode() + rb"\g<2>", body)
            dst.writestr(info, body)
    return out.getvalue()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
