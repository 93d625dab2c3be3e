"""Logging set-up shared by the workers: readable text for people, JSON for shippers."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            doc.update(extra)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


class ClosedTransportRaceFilter(logging.Filter):
    """Drop kafka-python's traceback for a read that raced its own socket's close.

    kafka-python 3 reads sockets on its network thread. When the consumer is
    closed (every clean shutdown, every rebalance that drops a connection) the
    close can land between that thread's wake-up and its ``recv``, which then
    finds the socket gone and logs "Error receiving network data" with a full
    traceback. The transport had already been closed on purpose, so nothing is
    lost; an operator would read the traceback as a crash. The record carries
    the transport as its first argument, so only errors on a transport that is
    already closing are dropped: a receive error on a live connection still
    reaches the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "kafka.net.transport" or not record.exc_info:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        transport = args[0] if args else None
        is_closing = getattr(transport, "is_closing", None)
        return not (callable(is_closing) and is_closing())


def configure_logging(level: str = "INFO", fmt: str = "text", worker: str = "repwatch") -> None:
    """Configure the root logger once per process (called from a worker's main)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ClosedTransportRaceFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)-5s {worker} %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # kafka-python logs every reconnect at INFO/WARNING; keep it to real problems.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))
