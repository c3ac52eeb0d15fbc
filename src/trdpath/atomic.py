"""The one way trdpath writes its outputs: build beside the target, then swap it in with one rename.

`replace_folder(TARGET)` yields a staging folder `.TARGET.new-XXXXXXXX` beside TARGET; when the block
ends without error the staging folder takes TARGET's place in one `renameat2(RENAME_EXCHANGE)` (Linux)
so that, whenever the process is killed, TARGET holds the complete old or the complete new content
(docs/security.md, "Results folder"). `replace_file(PATH)` does the same for one file (`os.replace`).

Leftovers of a killed run (staging folders beside TARGET, which can hold patient-level files, and the
`.report-tmp-*`/`.report-old-*` folders of trdpath before 0.2) are removed by the next run on TARGET.
Two runs on one TARGET at once: the second stops with a message (an advisory lock `.TARGET.lock`
beside TARGET while a run writes it).
Files and folders get the user's umask (0644/0755 by default), not the 0600/0700 of temporary files.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trdpath.errors import UserError

_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100
# What tempfile.mkdtemp appends (8 of a-z0-9_), after the prefixes this module and trdpath <= 0.1 used.
_LEFTOVER = r"\.{name}\.(?:new-|old-)?[a-z0-9_]{{8}}"
_REPORT_LEFTOVER = re.compile(r"\.report-(?:tmp|old)-[A-Za-z0-9_]+")


def umask() -> int:
    """The process's umask, read without changing it where Linux allows (other threads may be writing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_created(path: Path, directory: bool) -> None:
    """Give a temporary file or folder (made 0600/0700 by tempfile) the mode a plain open()/mkdir() gives."""
    os.chmod(path, (0o777 if directory else 0o666) & ~umask())


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one system call; False where the system or file system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EXDEV, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(staging: Path, target: Path) -> None:
    if not target.exists() and not target.is_symlink():
        os.rename(staging, target)
        return
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        os.replace(staging, target)  # rename(2) replaces an empty folder in one step
        return
    if _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # now the old content
        return
    # No exchange on this system: two renames; a kill between them is undone by the next run
    # (remove_leftovers puts the old content back when TARGET is missing).
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    os.rename(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def remove_leftovers(target: Path | str) -> list[Path]:
    """Remove what killed runs on `target` left behind; returns what was removed (or restored)."""
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return []
    pattern = re.compile(_LEFTOVER.format(name=re.escape(target.name)))
    found = sorted((p for p in parent.iterdir() if pattern.fullmatch(p.name)), key=lambda p: p.stat().st_mtime)
    olds = [p for p in found if p.name.startswith(f".{target.name}.old-") and p.is_dir()]
    if olds and not target.exists():  # killed between the two renames of the fallback swap
        os.rename(olds[-1], target)
        found.remove(olds[-1])
    if target.is_dir():
        found += [p for p in target.iterdir() if _REPORT_LEFTOVER.fullmatch(p.name)]
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return found


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock
        yield
        return
    lock = target.parent / f".{target.name}.lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"{target} is being written by another trdpath run right now; "
                            "wait for it to finish or choose another output folder.") from None
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder removed this lock file as we took it: take the new one
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # removed while still held, so no one can take the old file
        os.close(fd)


@contextmanager
def replace_folder(target: Path | str) -> Iterator[Path]:
    """Yield an empty staging folder beside `target`; on success it replaces `target` in one rename.

    On an exception (or a kill) `target` is untouched and the staging folder is removed (now or by
    the next run)."""
    target = Path(os.path.realpath(target))  # through a symlink: replace what it points at, keep the link
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        remove_leftovers(target)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
        try:
            _as_created(staging, directory=True)
            yield staging
            _swap_in(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def replace_file(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename."""
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.new-", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        _as_created(temporary, directory=False)
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def carry_over(source: Path | str, staging: Path, skip: set[str] = frozenset()) -> None:
    """Put `source`'s files into `staging` as hard links (a copy where links are impossible), except the
    relative paths in `skip`: a rewrite of part of a result keeps the rest without copying gigabytes.
    Safe because no trdpath writer changes a file in place (they all replace)."""
    source = Path(source)
    if not source.is_dir():
        return

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    for root, dirs, files in os.walk(source):
        relative = Path(root).relative_to(source)
        dirs[:] = [d for d in dirs if (relative / d).as_posix() not in skip and not _REPORT_LEFTOVER.fullmatch(d)]
        (staging / relative).mkdir(parents=True, exist_ok=True)
        for name in files:
            if (relative / name).as_posix() not in skip:
                link(os.path.join(root, name), str(staging / relative / name))
