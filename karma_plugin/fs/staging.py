"""Output folders: reserved before the work, filled in a staging folder, published whole.

The one home of every folder a command writes (`binarize --out` (its report included),
`report`, `compare`, `pull --out`). Commands only call ``staged``:

- reserve, before any work: refuse what must not be replaced, remove staging folders of runs
  that provably died, and create this run's staging folder beside the target (so an unwritable
  parent fails at once, not after the work);
- publish, at the end: one atomic rename that never replaces a folder this run did not check.
  Without ``--overwrite`` nothing is replaced; with it, only the very folder checked at the
  start (same inode, same marker), and only one that this tool wrote (it holds ``MARKER``).

``--overwrite`` never replaces the working folder, the home folder, one of their ancestors
(``/`` included) or a folder that is, holds or lies inside an input of the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from karma_plugin._version import __version__
from karma_plugin.errors import InputError, Interrupted, KarmaError
from karma_plugin.fs.paths import locate

MARKER = ".karma-build"  # in every published folder: what --overwrite may replace
_OWNER = ".karma-build-stage"  # in a staging folder only: which process is filling it
_STAGE_SUFFIX = ".tmp"
_MAX_SMALL_FILE = 64 * 1024
_HOW_TO_GO_ON = "remove it yourself or pick another --out"


# --- identity of a folder: what --overwrite checked at the start ---------------------------------


@dataclass(frozen=True)
class _Identity:
    device: int
    inode: int
    marker: str


def _read_small_json(path: Path) -> dict[str, Any] | None:
    """A small JSON object in a regular file (never through a link), or None."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_SMALL_FILE:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def marker_id(folder: str | os.PathLike[str]) -> str | None:
    """The id in ``folder``'s marker, or None when this tool did not write the folder."""
    doc = _read_small_json(Path(folder) / MARKER)
    if doc is None or doc.get("tool") != "karma-build" or not isinstance(doc.get("id"), str):
        return None
    return doc["id"]


def _identity(folder: Path) -> _Identity | None:
    try:
        info = os.lstat(folder)
    except OSError:
        return None
    mark = marker_id(folder) if stat.S_ISDIR(info.st_mode) else None
    return None if mark is None else _Identity(info.st_dev, info.st_ino, mark)


# --- what --overwrite must never replace ----------------------------------------------------------


def _both(path: str | os.PathLike[str]) -> set[Path]:
    """The path as given (absolute) and with every link resolved: both name user files."""
    return {Path(os.path.abspath(path)), Path(os.path.realpath(path))}


def _homes() -> set[Path]:
    """$HOME and the account's home folder (they may differ; both hold the user's files)."""
    homes = set()
    with contextlib.suppress(RuntimeError):
        homes.add(Path.home())
    with contextlib.suppress(ImportError, KeyError, AttributeError, OSError):
        import pwd

        homes.add(Path(pwd.getpwuid(os.getuid()).pw_dir))
    return {p for home in homes for p in _both(home)}


def _protected_reason(target: Path, inputs: Iterable[str | os.PathLike[str]]) -> str | None:
    """Why ``target`` may never be replaced, or None."""
    real = _both(target)

    def holds(folder: Path, other: Path) -> bool:
        return folder == other or folder in other.parents

    if any(holds(t, cwd) for t in real for cwd in _both(os.getcwd())):
        return "is the working folder or holds it"
    if any(holds(t, home) for t in real for home in _homes()):
        return "is the home folder or holds it"
    for given in inputs:
        if locate(given) != "local":
            continue  # not a local path (a Hub id, `paper`): it has no folder to protect
        for path in _both(given):
            if any(holds(t, path) for t in real):
                return f"is or holds an input of this run ({str(given)!r})"
            if any(path in t.parents for t in real):
                return f"lies inside an input of this run ({str(given)!r})"
    return None


# --- staging folders and their owners -------------------------------------------------------------


def _proc_text(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _process_start(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None when there is no such process.

    Linux only; the start time tells a reused pid from the process that recorded it.
    """
    text = _proc_text(f"/proc/{pid}/stat")
    if not text:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])  # fields[0] is field 3 of proc(5); starttime is field 22
    except (IndexError, ValueError):
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _owner() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "pid": pid,
        "start": _process_start(pid),
        "boot": _proc_text("/proc/sys/kernel/random/boot_id"),
        "host": socket.gethostname(),
        "pid_namespace": _pid_namespace(),
    }


def _write_owner(stage: Path) -> None:
    (stage / _OWNER).write_text(json.dumps(_owner()) + "\n", encoding="utf-8")


def _owner_is_gone(stage: Path) -> bool:
    """True only when the process that filled ``stage`` provably no longer runs.

    Anything uncertain (no owner file, another machine or pid namespace, no way to tell a
    reused pid) counts as alive: a staging folder is never removed on a guess.
    """
    doc = _read_small_json(stage / _OWNER)
    if doc is None or not isinstance(doc.get("pid"), int) or doc["pid"] <= 0:
        return False
    me = _owner()
    if doc.get("host") != me["host"] or doc.get("pid_namespace") != me["pid_namespace"]:
        return False
    if doc.get("boot") and me["boot"] and doc["boot"] != me["boot"]:
        return True  # the machine restarted since: every process of that boot is gone
    pid, start = doc["pid"], doc.get("start")
    now = _process_start(pid)
    if now is not None:
        return start is not None and now != start  # another start time: the pid was reused
    # Not in /proc (or no /proc): ask the kernel, which also sees what hidepid hides.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (another user's process)
    return False  # it exists, unseen: without its start time a reused pid cannot be told apart


def _remove_stage(stage: Path) -> None:
    """Delete a staging folder, its owner file last: if this is cut short, what is left still
    names its (dead) owner and a later run finishes the job."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(stage):
            if entry.name == _OWNER:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(stage / _OWNER)
    with contextlib.suppress(OSError):
        os.rmdir(stage)


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else 0


def remove_stale_stages(parent: str | os.PathLike[str]) -> list[Path]:
    """Remove the staging folders in ``parent`` whose owning process is gone; return them."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(_STAGE_SUFFIX)):
            continue
        with contextlib.suppress(OSError):
            if (
                entry.is_dir(follow_symlinks=False)
                and entry.stat(follow_symlinks=False).st_uid == _uid()  # others' are theirs
                and _owner_is_gone(Path(entry.path))
            ):
                _remove_stage(Path(entry.path))
                removed.append(Path(entry.path))
    return removed


# --- signals: SIGTERM becomes a clean exit that removes the staging folder ------------------------


class _Signals:
    """SIGTERM raises ``Interrupted`` while a folder is staged, except inside a publish step,
    where it waits for the step to end (a half-done swap is never left behind)."""

    lock = threading.Lock()
    users = 0
    previous: Any = None
    critical = 0
    pending: int | None = None

    @classmethod
    def handler(cls, signum: int, frame: Any) -> None:
        if cls.critical:
            cls.pending = signum
            return
        raise Interrupted(signum)

    @classmethod
    def acquire(cls) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        with cls.lock:
            if cls.users == 0:
                previous = signal.getsignal(signal.SIGTERM)
                if previous is not signal.SIG_DFL:
                    # Ignored, or a host program's own handler (karma_plugin used as a
                    # library): theirs to keep. Only the default, which would kill the run
                    # without any cleanup, is replaced.
                    return False
                cls.previous = previous
                signal.signal(signal.SIGTERM, cls.handler)
            cls.users += 1
        return True

    @classmethod
    def release(cls) -> None:
        with cls.lock:
            cls.users -= 1
            if cls.users == 0:
                # None: a handler set outside Python; the default is the closest we can restore.
                signal.signal(signal.SIGTERM, cls.previous or signal.SIG_DFL)

    @classmethod
    @contextlib.contextmanager
    def deferred(cls) -> Iterator[None]:
        cls.critical += 1
        try:
            yield
        finally:
            cls.critical -= 1
            if cls.critical == 0 and cls.pending is not None:
                signum, cls.pending = cls.pending, None
                raise Interrupted(signum)  # the signal wins over whatever the step raised


# --- atomic renames -------------------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


def _libc_renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None  # a libc older than glibc 2.28, or another libc without the wrapper
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    function.argtypes.append(ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


_renameat2_function = _libc_renameat2()


def _renameat2(source: Path, target: Path, flags: int) -> bool:
    """Rename with ``flags``; False when this system or filesystem cannot (use the fallback)."""
    if _renameat2_function is None:
        return False
    if (
        _renameat2_function(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags)
        == 0
    ):
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(source), None, str(target))


@contextlib.contextmanager
def _parent_locked(parent: Path) -> Iterator[None]:
    """Publishing runs into one parent folder take turns (an advisory lock on the folder)."""
    try:
        import fcntl

        fd = os.open(parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (ImportError, OSError):
        yield  # no locks here: the atomic renames alone still never replace unchecked data
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- the reservation ------------------------------------------------------------------------------


class _Reservation:
    """One output folder claimed by this run: its checks, its staging folder, its publish."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        overwrite: bool,
        inputs: Iterable[str | os.PathLike[str]],
    ) -> None:
        self.shown = str(path)
        self.target = Path(os.path.abspath(path))
        self.parent = self.target.parent
        self.checked = self._check(overwrite, list(inputs))
        self.created: list[Path] = []  # parent folders this run made (removed again on failure)
        self.stage: Path | None = None  # what `close` may delete: only ever this run's own folder
        self.signals = _Signals.acquire()
        try:
            self._make_stage()
        except BaseException:
            self.close(published=False)
            raise

    def _refuse(self, why: str) -> InputError:
        return InputError(f"output folder {self.shown!r} {why}")

    def _check(self, overwrite: bool, inputs: list[str | os.PathLike[str]]) -> _Identity | None:
        try:
            info = os.lstat(self.target)
        except FileNotFoundError:
            return None
        except OSError as exc:  # a file where a parent folder should be, no permission...
            raise InputError(
                f"cannot write the output folder {self.shown!r}: {exc.strerror}"
            ) from None
        if stat.S_ISLNK(info.st_mode):
            raise self._refuse(f"is a symbolic link; {_HOW_TO_GO_ON}")
        if not stat.S_ISDIR(info.st_mode):
            raise InputError(f"output path {self.shown!r} exists and is not a folder")
        reason = _protected_reason(self.target, inputs)
        if reason:
            raise self._refuse(
                f"exists and {reason}: --overwrite never replaces it; pick another --out"
            )
        identity = _identity(self.target)
        if identity is None:
            raise self._refuse(
                f"exists and karma-build did not write it (it has no {MARKER} marker, nor "
                f"do folders from earlier karma-build versions): --overwrite replaces only "
                f"folders karma-build wrote; {_HOW_TO_GO_ON}"
            )
        if not overwrite:
            raise self._refuse("already exists (use --overwrite to replace it)")
        return identity

    def _make_stage(self) -> None:
        missing = [p for p in (self.parent, *self.parent.parents) if not os.path.lexists(p)]
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self.created.append(folder)
            remove_stale_stages(self.parent)
            self.stage = self._new_stage()
            _write_owner(self.stage)
            marker = {"tool": "karma-build", "version": __version__, "id": uuid.uuid4().hex}
            (self.stage / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        except OSError as exc:
            where = exc.filename if exc.filename else self.parent
            raise InputError(
                f"cannot write the output folder {self.shown!r}: {exc.strerror} ({where})"
            ) from None

    def _new_stage(self) -> Path:
        """A new empty folder ``.NAME.RANDOM.tmp`` beside the target, with the mode a plain
        mkdir gives (the umask applies; mkdtemp would make it private)."""
        while True:
            stage = self.parent / f".{self.target.name}.{secrets.token_hex(6)}{_STAGE_SUFFIX}"
            with contextlib.suppress(FileExistsError):
                stage.mkdir()
                return stage

    def _changed(self) -> InputError:
        return self._refuse(
            "changed while this run worked (it is not the folder checked at the start): "
            "it was left as it is and this run's output discarded"
        )

    def publish(self) -> None:
        assert self.stage is not None
        with _Signals.deferred(), _parent_locked(self.parent):
            try:
                # Published folders carry no owner file (only staging folders may be removed).
                with contextlib.suppress(FileNotFoundError):
                    (self.stage / _OWNER).unlink()
                if self.checked is None:
                    self._move_into_place()
                else:
                    self._swap_into_place()
            except OSError as exc:
                raise KarmaError(
                    f"cannot move the output into {self.shown!r}: {exc.strerror}"
                ) from None

    def _move_into_place(self) -> None:
        assert self.stage is not None
        try:
            done = _renameat2(self.stage, self.target, _RENAME_NOREPLACE)
            if not done:
                # No renameat2: the lock keeps other karma-build runs out; a POSIX rename
                # never replaces a folder that holds anything.
                if os.path.lexists(self.target):
                    raise FileExistsError(errno.EEXIST, "exists")
                os.rename(self.stage, self.target)
        except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
            raise self._appeared() from exc
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise self._appeared() from None
            raise
        self.stage = None

    def _appeared(self) -> InputError:
        return self._refuse(
            "appeared while this run worked: it was left as it is and this run's output "
            "discarded; pick another --out"
        )

    def _swap_into_place(self) -> None:
        assert self.stage is not None
        if _identity(self.target) != self.checked:
            raise self._changed()
        try:
            exchanged = _renameat2(self.stage, self.target, _RENAME_EXCHANGE)
        except FileNotFoundError:
            raise self._changed() from None  # removed since the check, by something unlocked
        if exchanged:
            if _identity(self.stage) != self.checked:
                # Something replaced the folder between the check and the swap: undo.
                try:
                    undone = _renameat2(self.stage, self.target, _RENAME_EXCHANGE)
                except OSError:
                    undone = False
                if not undone:
                    raise self._stranded(self.stage)
                raise self._changed()
            old = self.stage
        else:
            old = self._swap_without_exchange()
        # The replaced folder now sits at a staging path; with an owner file, a later run
        # removes it if this one dies while deleting it.
        _write_owner(old)
        self.stage = old

    def _swap_without_exchange(self) -> Path:
        """Two renames under the lock: the checked folder aside, then the new one in."""
        assert self.stage is not None
        trash = self._new_stage()
        replaced = trash / "replaced"
        try:
            os.rename(self.target, replaced)
            if _identity(replaced) != self.checked:
                os.rename(replaced, self.target)
                raise self._changed()
            try:
                os.rename(self.stage, self.target)
            except OSError:
                os.rename(replaced, self.target)
                raise
        except BaseException:
            if os.path.lexists(replaced):
                raise self._stranded(replaced) from None
            shutil.rmtree(trash, ignore_errors=True)
            raise
        return trash

    def _stranded(self, where: Path) -> KarmaError:
        """A folder this run moved aside could not be put back: say where it is, delete
        nothing (``where`` has no owner file, so no later run removes it either)."""
        if where == self.stage:
            self.stage = None
        return KarmaError(
            f"output folder {self.shown!r} changed while this run replaced it, and the folder "
            f"found there could not be put back: it is now at {str(where)!r}"
        )

    def close(self, published: bool) -> None:
        """Remove what is left at the staging path (this run's output, or the folder it
        replaced), and on failure the parent folders this run created."""
        try:
            with _Signals.deferred():  # a second SIGTERM waits for the cleanup
                if self.stage is not None:
                    stage, self.stage = self.stage, None
                    _remove_stage(stage)
                if not published:
                    for folder in reversed(self.created):
                        with contextlib.suppress(OSError):
                            folder.rmdir()
        finally:
            if self.signals:
                self.signals = False
                _Signals.release()


@contextlib.contextmanager
def staged(
    path: str | os.PathLike[str],
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Reserve ``path`` for this run and yield its empty staging folder; publish it on success.

    Call it before any work: the refusals and an unwritable parent surface at once. ``inputs``
    are the run's input paths (files or folders; other strings are ignored): ``--overwrite``
    never replaces a folder that is, holds or lies inside one of them. On any error, or
    SIGTERM/SIGINT, the staging folder is removed and ``path`` is left as it was.
    """
    reservation = _Reservation(path, overwrite, inputs)
    published = False
    try:
        yield reservation.stage  # type: ignore[misc]
        reservation.publish()
        published = True
    finally:
        reservation.close(published)
