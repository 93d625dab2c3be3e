"""What ``repwatch poll`` keeps on its compacted topic (``ingest.poll_state``).

Two kinds of record, all on partition 0 (one poller process owns them; one partition
keeps the order in which they were written):

- ``c\\x1f<source>``: the source's cursor (high-water mark, page, ETag, quota spent);
- ``w\\x1f<source>\\x1f<mention id>``: one watch-list entry; a tombstone (null value) when
  it is dropped, so compaction forgets it too.

A restart reads the topic to its end and carries on where the last written round
stopped: no comment is emitted again and no watched mention is forgotten. Events are
sent before the state that covers them, so a crash in between re-sends a round's events
(with the same event ids) rather than losing them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from services.ingest.reconcile import Entry, WatchList
from shared.kafka.transport import Outgoing, Record

log = logging.getLogger(__name__)

VERSION = 1
_SEP = "\x1f"
PARTITION = 0


def cursor_record(topic: str, source: str, cursor: Mapping[str, Any]) -> Outgoing:
    value = json.dumps({"v": VERSION, "cursor": cursor}, sort_keys=True, default=str).encode()
    return Outgoing(topic, f"c{_SEP}{source}".encode(), value, partition=PARTITION)


def entry_record(topic: str, e: Entry) -> Outgoing:
    value = json.dumps({"v": VERSION, "entry": e.to_json()}, sort_keys=True).encode()
    return Outgoing(topic, f"w{_SEP}{e.source}{_SEP}{e.key}".encode(), value, partition=PARTITION)


def drop_record(topic: str, source: str, key: str) -> Outgoing:
    return Outgoing(topic, f"w{_SEP}{source}{_SEP}{key}".encode(), None, partition=PARTITION)  # type: ignore[arg-type]


def restore(records: Iterable[Record], watch: WatchList) -> dict[str, dict[str, Any]]:
    """Cursors by source (and the watch-list filled in) from the topic's records, in order."""
    cursors: dict[str, dict[str, Any]] = {}
    entries: dict[tuple[str, str], Entry | None] = {}
    for r in records:
        if r.key is None:
            continue
        try:
            parts = r.key.decode("utf-8").split(_SEP)
            if parts[0] == "c" and len(parts) == 2:
                if r.value is None:
                    cursors.pop(parts[1], None)
                else:
                    cursors[parts[1]] = dict(json.loads(r.value)["cursor"])
            elif parts[0] == "w" and len(parts) == 3:
                entries[(parts[1], parts[2])] = (
                    None if r.value is None else Entry.from_json(json.loads(r.value)["entry"])
                )
        except (ValueError, KeyError, TypeError) as exc:
            # one unreadable record (a newer version?) must not stop the poller: it is skipped
            log.warning("poll state: skipping record at offset %d: %r", r.offset, exc)
    watch.restore(e for e in entries.values() if e is not None)
    return cursors
