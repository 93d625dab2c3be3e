"""The first thing a worker process does: make SIGTERM during start-up a clean exit.

Importing torch and transformers takes seconds. A SIGTERM in that window (a
scale-in, a rolling update, Ctrl-C) would otherwise kill the process with the
default action, exit 143 and no log line. Nothing has been consumed or
produced yet, so exiting 0 is the truthful answer. ``start_context`` replaces
these handlers with the ones that finish the current batch.
"""

from __future__ import annotations

import signal
import sys


def exit_cleanly_on_early_signals() -> None:
    def leave(signum: int, _frame: object) -> None:
        print(f"received {signal.Signals(signum).name} while starting: nothing consumed yet, exiting", file=sys.stderr)
        sys.exit(0)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)
