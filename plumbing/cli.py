"""The common end of every `python -m <package>` command: bad input and closed pipes end quietly."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from .errors import InputError


def run_cli(body: Callable[[], None]) -> int:
    """Run a command; return 0, or 2 after printing an InputError as one line `error: ...` on stderr.

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
    return 0
