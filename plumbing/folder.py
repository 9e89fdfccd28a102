"""Output folders: checked and claimed before any work starts, released when the command ends.

`output_folder(out)` refuses, before anything is written, a path that is a file or lies under one, a folder
that cannot be written, a damaged config.json, and (unless the command owns config.json: the resumable jobs,
which compare digests through plumbing.config.claim_result_folder) any folder holding config.json, i.e. another
tool's results. It then claims the folder with the lock file `.lock` holding the process id: a second process
on the same folder is refused with "folder X is in use by pid N"; the lock of a process that is no longer alive
is taken over. On exit the lock is removed, and so is the folder itself if this call created it and it is
still empty (a refused or interrupted command leaves nothing behind).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError

LOCK = ".lock"


def read_config_record(out: Path) -> dict | None:
    """out/config.json as a dict, None if there is none; InputError if it is damaged (not a JSON object)."""
    path = Path(out) / "config.json"
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{str(path)!r} is damaged ({' '.join(str(exc).split())}); use a new --out folder or "
                         "remove it") from None
    if not isinstance(record, dict):
        raise InputError(f"{str(path)!r} is damaged (not a JSON object); use a new --out folder or remove it")
    return record


def check_output_folder(out: str | os.PathLike, owns_config: bool = False, option: str = "--out") -> Path:
    """`out` as a Path if it may become an output folder (see the module doc); writes nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{option} must be a folder, got the file {str(out)!r}")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{option} {str(out)!r} lies under the file {str(parent)!r}")
            break
    record = read_config_record(out) if out.is_dir() else None
    if record is not None and not owns_config:
        raise InputError(f"{option} {str(out)!r} holds another tool's results (its config.json); use a new folder")
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


@contextmanager
def output_folder(out: str | os.PathLike, owns_config: bool = False, option: str = "--out") -> Iterator[Path]:
    """Check `out` (check_output_folder), create it, hold its lock for the block; see the module doc."""
    out = check_output_folder(out, owns_config, option)
    created = []
    for folder in [*reversed(out.parents), out]:
        if not folder.exists():
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                _remove_empty(created)
                raise InputError(f"cannot create the folder {str(folder)!r} for {option}: {exc.strerror}") from None
            created.append(folder)
    lock = out / LOCK
    try:
        _take(lock, option)
    except BaseException:
        _remove_empty(created)
        raise
    try:
        yield out
    finally:
        if _holder(lock) == os.getpid():
            lock.unlink(missing_ok=True)
        _remove_empty(created)


def _take(lock: Path, option: str) -> None:
    """Create `lock` with this pid, or take it over from a dead pid; InputError if a live process holds it."""
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid = _holder(lock)
            if pid is not None and _alive(pid):
                raise InputError(f"folder {str(lock.parent)!r} is in use by pid {pid}") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        except OSError as exc:
            raise InputError(f"cannot write into {option} {str(lock.parent)!r}: {exc.strerror}") from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        return
    raise InputError(f"folder {str(lock.parent)!r} is being claimed by another process; try again")


def _remove_empty(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            break
