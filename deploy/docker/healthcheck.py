"""The image's HEALTHCHECK: GET /healthz (or the path given) on the worker's metrics port.

Why a script and not ``curl``: the slim base has no curl, and the port depends on the
worker. ``REPWATCH_METRICS_PORT`` wins when set (Compose and the Kubernetes manifests set
it); otherwise the port is the default of the settings class of the subcommand PID 1 runs
(``repwatch sentiment`` -> 9102), read from the class itself so it cannot drift from the
code. Exit 0 when the answer is 200, 1 otherwise (Docker's healthy/unhealthy).

    python /opt/repwatch/healthcheck.py [/healthz|/readyz]
"""

from __future__ import annotations

import importlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

#: subcommand -> (module, settings class) of the workers that serve /healthz
WORKER_SETTINGS = {
    "ingest": ("services.ingest.settings", "IngestSettings"),
    "receive": ("services.ingest.settings", "ReceiverSettings"),
    "poll": ("services.ingest.poll_main", "PollSettings"),
    "sentiment": ("services.sentiment.settings", "SentimentSettings"),
    "alerting": ("services.alerting.settings", "AlertingSettings"),
    "notifier": ("services.notifier.settings", "NotifierSettings"),
}


def worker_of(cmdline: list[str]) -> str | None:
    """The worker subcommand in a ``repwatch ...`` command line (None: not a worker)."""
    return next((arg for arg in cmdline[1:] if arg in WORKER_SETTINGS), None)


def metrics_port(env: dict[str, str], cmdline: list[str]) -> int:
    configured = env.get("REPWATCH_METRICS_PORT", "").strip()
    if configured:
        return int(configured)
    worker = worker_of(cmdline)
    if worker is None:
        raise LookupError(f"no worker subcommand in {' '.join(cmdline)!r} and REPWATCH_METRICS_PORT unset")
    module, cls = WORKER_SETTINGS[worker]
    return int(getattr(importlib.import_module(module), cls).model_fields["metrics_port"].default)


def pid1_cmdline() -> list[str]:
    raw = Path("/proc/1/cmdline").read_bytes()
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def check(port: int, path: str = "/healthz", timeout_s: float = 4.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as resp:  # noqa: S310
            return resp.status == 200, resp.read(200).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:  # 503: the worker answers, and says why it is not well
        return False, exc.read(200).decode("utf-8", "replace")
    except OSError as exc:
        return False, str(exc)


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/healthz"
    try:
        port = metrics_port(dict(os.environ), pid1_cmdline())
    except (LookupError, OSError, ValueError) as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    ok, detail = check(port, path)
    print(f"{path} on {port}: {detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
