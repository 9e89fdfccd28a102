"""The common end of every `python -m <package>` command: bad input, Ctrl-C and closed pipes end quietly."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from .errors import InputError

ROOT = Path(__file__).resolve().parents[1]  # the repository: where "interrupted at" looks for the toolkit's frame


class ArgumentParser(argparse.ArgumentParser):
    """argparse with its errors (unknown option, missing or malformed value) as one line `error: ...` and exit
    status 2, like an InputError, instead of a usage block. Subcommand parsers inherit the class."""

    def error(self, message: str):
        print(f"error: {self.prog}: {' '.join(message.split())}", file=sys.stderr)
        sys.exit(2)


def _where(exc: BaseException) -> str:
    """file:line (function) of the innermost frame of the toolkit's own code in exc's traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if Path(f.filename).resolve().is_relative_to(ROOT) and ".venv" not in Path(f.filename).parts]
    if not frames:
        return "start-up"
    f = frames[-1]
    return f"{Path(f.filename).resolve().relative_to(ROOT)}:{f.lineno} ({f.name})"


def run_cli(body: Callable[[], None]) -> int:
    """Run a command; return 0, or 2 after printing an InputError (or an OSError: a path that cannot be read or
    written) as one line `error: ...` on stderr, or 130 after one line on Ctrl-C (what finished is kept: every
    result file is written atomically, and the resumable commands pick up from it).

    A closed stdout (e.g. `| head`) ends the command quietly with status 0 instead of a BrokenPipe traceback.
    """
    try:
        body()
    except InputError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away: point stdout at /dev/null so the interpreter's final flush does not fail too
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"interrupted at {_where(exc)}; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0
