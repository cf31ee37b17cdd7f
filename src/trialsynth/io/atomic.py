"""Atomic writes: a file or a folder that a user keeps is either the old one or the new one.

``replace_file(path, data)`` writes ``data`` to a temporary file in the same folder, flushes
it to disk (``fsync``) and renames it over ``path`` (``os.replace``, atomic on POSIX and on
Windows within one volume). ``replace_folder(path)`` yields a temporary sibling folder to
fill; when the block ends without an exception the sibling takes the place of ``path``
(on Linux in one atomic exchange, ``renameat2(RENAME_EXCHANGE)``; elsewhere the old folder is
renamed away, the new one renamed in, the old one deleted). On an exception the temporary
folder is removed and ``path`` is untouched. A process killed in the middle leaves ``path``
as it was, or complete with the new content; stale temporary siblings of killed processes
are removed by the next ``replace_folder`` on the same path, and a folder left renamed away
by a kill between the two renames (non-Linux only) is put back.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["replace_file", "replace_folder", "write_figure"]

_TMP_TAG = ".trialsynth-tmp-"
_OLD_TAG = ".trialsynth-old-"


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@functools.cache
def _umask() -> int:
    """The process' umask (read once: reading it means setting it, which is not thread-safe)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` to disk before it is renamed into place."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            except OSError:
                pass
            finally:
                os.close(fd)
        _fsync_dir(Path(root))


def replace_file(path: str | os.PathLike[str], data: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` (bytes, or text encoded as ``encoding``) to ``path`` atomically; returns the path.

    The temporary file is created beside ``path`` (same folder, so the rename never crosses a
    file system), flushed and fsynced, then renamed over ``path``; on any error it is removed
    and ``path`` keeps its old content.
    """
    target = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}{_TMP_TAG}", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)
    return target


def write_figure(fig, path: str | os.PathLike[str], **savefig_options) -> Path:
    """``fig.savefig`` into memory, then :func:`replace_file` (the format from ``format=`` or the suffix)."""
    import io

    target = Path(path)
    options = dict(savefig_options)
    options.setdefault("format", target.suffix.lstrip(".").lower() or "png")
    buffer = io.BytesIO()
    fig.savefig(buffer, **options)
    return replace_file(target, buffer.getvalue())


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2``); False where not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _tidy(target: Path) -> None:
    """Put back a folder left renamed away by a killed swap; remove temporaries of dead processes."""
    parent = target.parent
    if not parent.is_dir():
        return
    for prefix in (_OLD_TAG, _TMP_TAG):
        for entry in parent.glob(f".{target.name}{prefix}*"):
            pid_text = entry.name[len(f".{target.name}{prefix}") :].split("-", 1)[0]
            if not pid_text.isdigit() or _pid_alive(int(pid_text)):
                continue
            if prefix == _OLD_TAG and not target.exists():
                with contextlib.suppress(OSError):
                    os.rename(entry, target)
                    continue
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def replace_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it becomes ``path``.

    The old folder (if any) is swapped out and deleted only after the new one is in place; on
    an exception the temporary folder is deleted and the old folder stays as it was.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        from trialsynth._core.errors import InputError

        raise InputError("the output exists and is not a folder", file=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    _tidy(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP_TAG}{os.getpid()}-", dir=target.parent))
    with contextlib.suppress(OSError):
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give what mkdir would
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        _fsync_tree(tmp)
        if not target.exists():
            os.rename(tmp, target)
        elif _exchange(tmp, target):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old folder
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}{_OLD_TAG}{os.getpid()}-", dir=target.parent))
            os.rmdir(old)
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(target.parent)
