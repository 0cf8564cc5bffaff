"""How CropperHead reads and writes files, in one place.

A photographer's photos, sidecars and catalogs, and the folders around them, are
precious. Everything that touches a file goes through here:

- **Reading**: only regular files are opened (:func:`open_regular`). A FIFO, a device or a
  socket named like a photo or a sidecar is refused at once instead of blocking the
  process forever.
- **Writing** (:func:`atomic_write`, :func:`atomic_open`): the new content goes to a
  temporary file beside the target, is fsynced and renamed over the target, and then
  the folder is fsynced. A reader, a crash or a full disk leaves the old file or the
  new one, never a mix. A new file gets the mode the user's umask gives, as any file
  they create would; a replaced file keeps its mode.
- **Temporary files** are named ``.NAME.cropperhead-PID-RANDOM.tmp``: the program's name
  and the process that made them. :func:`remove_stale_temporaries` deletes only files of
  that form whose process is gone (or that are a day old), which proves they are ours
  and nobody is still writing them.
- **Backups** (:func:`next_backup`, :func:`write_backup`): ``NAME.bak``, then
  ``NAME.bak.1``, ... never over an existing file.
- **Outputs the user names** (:func:`check_output_file`): an existing file is replaced
  only when it is provably one of ours (the caller says how to recognise it) or the user
  said so, and never when it is one of the run's inputs.
- **Folders we own** carry a marker file (:func:`mark_folder`, :func:`is_marked`), so
  that whatever is ever removed can be proved to be ours first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

#: The word in every temporary file name this program makes.
TEMP_TAG = "cropperhead"
#: A temporary file older than this is stale even if its PID is alive (PIDs are reused).
STALE_TEMP_S = 24 * 3600
_TEMP_RE = re.compile(
    rf"^\.(?P<name>.+)\.{TEMP_TAG}-(?P<pid>[0-9]+)-(?P<token>[0-9a-f]{{12}})\.tmp$"
)
#: Most backups kept beside one file before writing is refused.
MAX_BACKUPS = 10_000


class NotRegularFileError(OSError):
    """A path names something other than a regular file (a FIFO, a device, a folder)."""


class OutputRefusedError(ValueError):
    """An output path that would overwrite an input or a file that is not ours."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """``os.stat`` of ``path``, which must be a regular file (links are followed).

    Raises:
        NotRegularFileError: it is a FIFO, device, socket or folder.
        OSError: it cannot be looked at (missing, no permission, ...).
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(errno.EINVAL, f"{_kind(st.st_mode)}, not a file", str(path))
    return st


def open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a regular file for reading in binary mode, never blocking on a FIFO.

    The file is opened non-blocking (so opening a FIFO returns at once instead of
    waiting for a writer), checked with ``fstat`` on the open descriptor (no race with a
    swapped path), and then switched back to blocking reads.

    Raises:
        NotRegularFileError: it is a FIFO, device, socket or folder.
        OSError: it cannot be opened.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(errno.EINVAL, f"{_kind(mode)}, not a file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The bytes of a regular file, at most ``limit`` (None: no cap).

    Args:
        path: the file.
        limit: most bytes accepted.

    Raises:
        NotRegularFileError: not a regular file.
        ValueError: the file holds more than ``limit`` bytes.
        OSError: it cannot be read.
    """
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if limit is not None and size > limit:
            raise ValueError(f"{Path(path).name} is larger than {limit} bytes")
        # Ask for the size (plus one byte to notice growth), never for the whole cap.
        data = handle.read(size + 1)
        if len(data) > size:
            rest = -1 if limit is None else max(limit + 1 - len(data), 0)
            data += handle.read(rest)
    if limit is not None and len(data) > limit:
        raise ValueError(f"{Path(path).name} is larger than {limit} bytes")
    return data


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def temp_path(path: Path) -> Path:
    """A fresh temporary name beside ``path`` that proves who made it (module docstring)."""
    return path.with_name(f".{path.name}.{TEMP_TAG}-{os.getpid()}-{secrets.token_hex(6)}.tmp")


def create_new(path: Path, mode: int | None = None) -> IO[bytes]:
    """Create ``path`` for writing, failing if anything (a link included) is there.

    Args:
        path: the new file.
        mode: permission bits to set; None leaves what the umask gives (``0o666``
            masked), as for any file the user creates.

    Raises:
        FileExistsError: ``path`` exists.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def _existing_mode(path: Path) -> int | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
    newline: str | None = None,
    file_mode: int | None = None,
) -> Iterator[IO[Any]]:
    """Replace ``path`` atomically with what is written to the yielded file.

    The content goes to :func:`temp_path` beside ``path``; when the ``with`` block ends
    normally it is flushed, fsynced and renamed over ``path`` and the folder is fsynced.
    On an exception the temporary file is removed and ``path`` is left as it was. A
    symbolic link at ``path`` is replaced by the file, never written through: callers
    that mean to follow a link resolve it first.

    Args:
        path: the file to replace (its folder must exist).
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        encoding: text encoding (text mode).
        errors: encoding error handler (text mode).
        newline: as for :func:`open` (text mode).
        file_mode: permission bits of the result; None keeps an existing file's, or
            gives a new one what the umask allows.

    Raises:
        ValueError: ``mode`` is neither ``"w"`` nor ``"wb"``.
        OSError: the file cannot be written (disk full, permissions, ...).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    tmp = temp_path(path)
    keep = file_mode if file_mode is not None else _existing_mode(path)
    raw = create_new(tmp, keep)
    try:
        if mode == "wb":
            handle: IO[Any] = raw
        else:
            import io

            handle = io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline=newline)
        with handle:
            yield handle
            handle.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write(
    path: str | os.PathLike[str], data: bytes | str, *, file_mode: int | None = None, **kw: Any
) -> None:
    """Replace ``path`` atomically with ``data`` (bytes, or text encoded as UTF-8).

    Keyword arguments other than ``file_mode`` go to :func:`atomic_open` (text only).
    """
    if isinstance(data, bytes):
        with atomic_open(path, "wb", file_mode=file_mode) as handle:
            handle.write(data)
    else:
        with atomic_open(path, "w", file_mode=file_mode, **kw) as handle:
            handle.write(data)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return True
    return True


def is_stale_temporary(path: Path, now: float | None = None) -> bool:
    """Whether ``path`` is one of our temporary files that nobody is writing any more.

    Ours: its name has :func:`temp_path`'s form and it is a regular file (not a link).
    Stale: the process named in it is gone, or it is older than :data:`STALE_TEMP_S`.
    """
    match = _TEMP_RE.match(path.name)
    if match is None:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    now = time.time() if now is None else now
    if now - st.st_mtime > STALE_TEMP_S:
        return True
    pid = int(match["pid"])
    return pid != os.getpid() and not _pid_alive(pid)


def remove_stale_temporaries(folder: Path, names: Iterable[str] | None = None) -> int:
    """Delete our stale temporary files in ``folder`` (not below it); returns how many.

    Args:
        folder: where to look.
        names: only temporaries of these target names (e.g. ``{"IMG_1.xmp"}``); None:
            any of ours.
    """
    wanted = None if names is None else set(names)
    try:
        entries = os.listdir(folder)
    except OSError:
        return 0
    removed = 0
    now = time.time()
    for entry in entries:
        match = _TEMP_RE.match(entry)
        if match is None or (wanted is not None and match["name"] not in wanted):
            continue
        path = Path(folder) / entry
        if is_stale_temporary(path, now):
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed


def next_backup(path: Path) -> tuple[Path | None, Path]:
    """The newest existing backup of ``path`` (or None) and the next free backup name.

    Backups are ``NAME.bak``, ``NAME.bak.1``, ``NAME.bak.2``, ...

    Raises:
        ValueError: :data:`MAX_BACKUPS` backups exist already.
    """
    newest: Path | None = None
    candidate = path.with_name(path.name + ".bak")
    for n in range(1, MAX_BACKUPS):
        if not os.path.lexists(candidate):
            return newest, candidate
        newest = candidate
        candidate = path.with_name(f"{path.name}.bak.{n}")
    raise ValueError(f"too many backups of {str(path)!r}; not written")


def write_backup(path: Path, data: bytes, mode: int | None = None) -> Path:
    """Keep ``data`` (``path``'s current content) as its next backup; returns the backup.

    The newest backup is reused when it already holds exactly ``data``.
    """
    newest, free = next_backup(path)
    if newest is not None:
        with contextlib.suppress(OSError, ValueError):
            if read_regular(newest, len(data)) == data:
                return newest
    with create_new(free, mode) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return free


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same existing file (links and hard links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output_file(
    path: Path,
    *,
    what: str,
    is_ours: Callable[[Path], bool],
    overwrite: bool = False,
    inputs: Iterable[Path] = (),
    option: str = "overwrite_output=true",
) -> None:
    """Refuse an output path that would destroy something that is not ours.

    Args:
        path: where the output is to go.
        what: what the output is, for the message (``"predictions file"``).
        is_ours: recognises an existing file as an earlier output of ours.
        overwrite: the user asked to replace an existing file that is not ours.
        inputs: the run's input files, never overwritten, whatever ``overwrite`` says.
        option: how the user says ``overwrite`` (named in the message).

    Raises:
        OutputRefusedError: with a one-line message that names the path.
    """
    for item in inputs:
        if same_file(path, item) or Path(os.path.abspath(path)) == Path(os.path.abspath(item)):
            raise OutputRefusedError(
                f"the {what} {path} is one of the inputs; choose another output path"
            )
    if not os.path.lexists(path):
        return
    try:
        st = os.stat(path)
    except OSError as exc:
        raise OutputRefusedError(f"the {what} {path} cannot be checked: {exc.strerror}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise OutputRefusedError(f"the {what} {path} is a folder; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise OutputRefusedError(f"the {what} {path} is {_kind(st.st_mode)}; give a file name")
    if overwrite:
        return
    try:
        ours = is_ours(path)
    except (OSError, ValueError):
        ours = False
    if not ours:
        article = "an" if what[:1] in "aeiou" else "a"
        raise OutputRefusedError(
            f"{path} exists and is not {article} {what} CropperHead wrote; choose another "
            f"path, or pass {option} to replace it"
        )


#: The marker file of a folder this program made and owns.
MARKER_NAME = ".cropperhead"


def mark_folder(folder: Path, kind: str) -> Path:
    """Write the marker that says ``folder`` is ours, holding ``kind`` (e.g. ``"demo"``)."""
    marker = folder / MARKER_NAME
    atomic_write(marker, f"CropperHead {kind}\n")
    return marker


def is_marked(folder: Path, kind: str) -> bool:
    """Whether ``folder`` carries our marker for ``kind``."""
    try:
        text = read_regular(folder / MARKER_NAME, 4096).decode("utf-8", "replace")
    except (OSError, ValueError):
        return False
    return text.strip() == f"CropperHead {kind}"


__all__ = [
    "MARKER_NAME",
    "NotRegularFileError",
    "OutputRefusedError",
    "atomic_open",
    "atomic_write",
    "check_output_file",
    "check_regular",
    "create_new",
    "fsync_dir",
    "is_marked",
    "is_stale_temporary",
    "mark_folder",
    "next_backup",
    "open_regular",
    "read_regular",
    "remove_stale_temporaries",
    "same_file",
    "temp_path",
    "write_backup",
]
