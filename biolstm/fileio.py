"""Files: atomic writes (every file biolstm writes appears whole or not at all), the check of
paths users hand in (:func:`existing_path`), flocks (:func:`locked`) and the cache folder.

Use :func:`atomic_writer` for anything the toolkit saves (specs, weights,
checkpoints, sweep results, CSV tables): data goes to a temporary file in the target
folder, is flushed to disk and then renamed over the target, so an interrupt leaves
either the previous file or none. An existing file is never replaced unless the
caller passes ``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from biolstm.errors import BiolstmError

__all__ = ["DEFAULT_OUTPUT", "FileExistsRefusal", "atomic_writer", "atomic_write_text", "default_output_dir",
           "cache_dir", "existing_path", "locked"]

DEFAULT_OUTPUT = Path("biolstm-out")
"""Where commands write when no output folder is given: ``./biolstm-out`` of the working directory."""


class FileExistsRefusal(BiolstmError, FileExistsError):
    """Raised instead of overwriting a file the caller did not ask to replace."""


def existing_path(path: str | os.PathLike, error: type[Exception], what: str, accepted: str = "") -> Path:
    """``path`` as a :class:`~pathlib.Path` if it exists, else ``error`` with one message for
    every file a user hands biolstm: "``what`` ``path`` does not exist; give ``accepted``".

    ``what`` names the file's role ("MNIST path", "spec file", "IN"); ``accepted`` says which
    files would do (the fix); leave it empty where the role says it.
    """
    path = Path(path)
    if not path.exists():
        raise error(f"{what} {path} does not exist" + (f"; give {accepted}" if accepted else ""))
    return path


@contextlib.contextmanager
def locked(path: str | os.PathLike, shared: bool = False, blocking: bool = True) -> Iterator[bool]:
    """``flock`` on ``path`` (created if missing): exclusive, or ``shared``; yields False instead
    of waiting when not ``blocking`` and the lock is held.

    The kernel releases an ``flock`` when its holder exits, killed or not, so a crashed process
    never leaves a lock behind (unlike a lock *file* whose existence is the lock).
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fh, mode)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, overwrite: bool = False,
                  mode: str = "wb") -> Iterator[IO]:
    """Context manager yielding a file object whose content lands at ``path`` on success.

    Parameters
    ----------
    path : path-like
        Final location; parent folders are created.
    overwrite : bool
        Allow replacing an existing file. Otherwise :class:`FileExistsRefusal` is
        raised before anything is written.
    mode : str
        ``"wb"`` (default) or ``"w"`` for text (UTF-8).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsRefusal(
            f"{path} already exists; pass overwrite=True (or --overwrite) to replace it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str, *, overwrite: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, overwrite=overwrite, mode="w") as fh:
        fh.write(text)
    return Path(path)


def default_output_dir(*parts: str) -> Path:
    """``./biolstm-out/<parts>``, the output folder of a command run without ``--out``.

    The folder is created with a ``.gitignore`` holding ``*``, so that running a command
    inside a git checkout leaves ``git status`` clean; biolstm never writes its default
    output into tracked folders such as ``results/``.
    """
    top = DEFAULT_OUTPUT
    top.mkdir(parents=True, exist_ok=True)
    ignore = top / ".gitignore"
    if not ignore.exists():
        try:
            atomic_write_text(ignore, "# written by biolstm: its default output folder, not for git\n*\n")
        except FileExistsRefusal:  # another process wrote it meanwhile
            pass
    path = top.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(*parts: str) -> Path:
    """biolstm's cache folder: ``$BIOLSTM_CACHE/<parts>`` or ``~/.cache/biolstm/<parts>``.

    The one root of every cache (compiled Brian2 programs under ``brian/``, parsed data
    sets under ``data/``). Only computes the path; nothing is created.
    """
    base = os.environ.get("BIOLSTM_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "biolstm").joinpath(*parts)
