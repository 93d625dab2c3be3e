"""The backtest: event-time replay, idle advances from the input's own clock, end-of-input drain,
JSONL reading with the workers' dead-letter reasons, and the summary. Uses the fake detectors of
test_engine, so it does not depend on the real ones."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from services.alerting.backtest import (
    BacktestInputError,
    DeadLetterNote,
    _drain_times,
    format_summary,
    read_jsonl_events,
    run_backtest,
    run_backtest_file,
    summarise,
)
from services.alerting.engine import IdlePolicy
from shared.schemas import Alert, AlertKind, AlertStatus, MentionEvent, ScoredMention
from tests.factories import T0, mention, scored
from tests.services.alerting.test_engine import OWNED, STREAM_BRANDS, fake_engine, minutes, neg, pos, random_stream


def lines(items) -> list[str]:
    return [a.model_dump_json() if isinstance(a, Alert) else repr(a) for a in items]


def test_backtest_is_deterministic():
    events = random_stream(11, n=800)
    first = lines(run_backtest(events, fake_engine(STREAM_BRANDS), IdlePolicy()))
    second = lines(run_backtest(events, fake_engine(STREAM_BRANDS), IdlePolicy()))
    assert first == second
    assert any('"firing"' in a for a in first) and any('"resolved"' in a for a in first)


def test_end_of_input_drain_fires_pending_timers_and_resolves():
    events = [neg(0, channel="vk:club_acme"), neg(1), neg(2)]  # a spike and an unanswered complaint, then nothing
    out = list(run_backtest(events, fake_engine(OWNED), IdlePolicy()))
    got = [(a.kind, a.status) for a in out]
    assert got == [
        (AlertKind.NEGATIVITY_SPIKE, AlertStatus.FIRING),
        # the drain keeps time moving after the input ends: the 10 min SLA expires, the spike calms and resolves
        (AlertKind.NEGATIVITY_SPIKE, AlertStatus.RESOLVED),
        (AlertKind.UNANSWERED_COMPLAINT, AlertStatus.FIRING),
    ]
    sla = out[2]
    assert sla.window_end - T0 <= minutes(11), "the SLA fires within a minute of its deadline, not at the end"
    without = list(run_backtest(events, fake_engine(OWNED), IdlePolicy(), drain=timedelta(0)))
    assert [(a.kind, a.status) for a in without] == [(AlertKind.NEGATIVITY_SPIKE, AlertStatus.FIRING)]


def test_drain_schedule_is_fine_then_hourly_and_ends_exactly():
    times = list(_drain_times(T0, timedelta(days=30), timedelta(minutes=1)))
    assert times[0] == T0 + minutes(1) and times[-1] == T0 + timedelta(days=30)
    assert times == sorted(set(times))
    assert len(times) < 360 + 30 * 24
    assert list(_drain_times(T0, minutes(2.5), minutes(1))) == [T0 + minutes(1), T0 + minutes(2), T0 + minutes(2.5)]


def test_quiet_brand_timers_fire_on_the_inputs_clock():
    # acme complains once and goes quiet; another brand keeps the input's clock moving
    events = [neg(0, channel="vk:club_acme")] + [pos(100 + i, brand="busy", at=T0 + minutes(i)) for i in range(30)]
    out = []
    for item in run_backtest(events, fake_engine(OWNED), IdlePolicy(), drain=timedelta(0)):
        out.append(item)
    sla = [a for a in out if a.kind is AlertKind.UNANSWERED_COMPLAINT]
    assert len(sla) == 1 and sla[0].brand == "acme"
    # SLA 10 min + idle delay 2 min: it fires once the input's newest event reaches 12 min
    assert minutes(10) <= sla[0].window_end - T0 <= minutes(11)


def test_idle_advances_only_when_the_newest_event_moved_a_step():
    calls = []

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def process(self, ev):
            return self.inner.process(ev)

        def watermark(self, brand):
            return self.inner.watermark(brand)

        def advance_all(self, now, skip=()):
            calls.append(now)
            return self.inner.advance_all(now, skip=skip)

    events = [pos(i, at=T0 + timedelta(seconds=10 * i)) for i in range(60)]  # 10 minutes, one every 10 s
    list(
        run_backtest(events, Counting(fake_engine()), IdlePolicy(), drain=timedelta(0), idle_step=minutes(1))  # type: ignore[arg-type]
    )
    assert len(calls) == 10
    assert calls[0] == T0 - minutes(2) and calls[1] == T0 + minutes(1) - minutes(2)


def test_a_lagging_stream_interleaved_in_the_input_keeps_its_own_clock():
    # a topic dump: brand "live" is current, brand "behind" replays a backlog six hours old, line by line
    # interleaved; behind's 3 complaints within a minute are a spike on behind's own clock
    behind_t0 = T0 - timedelta(hours=6)
    events = []
    for i in range(40):
        events.append(pos(i, brand="live", at=T0 + timedelta(seconds=30 * i)))
        behind = neg if 10 <= i < 13 else pos
        events.append(behind(1000 + i, brand="behind", at=behind_t0 + timedelta(seconds=20 * i)))
    out = [a for a in run_backtest(events, fake_engine(), IdlePolicy(), drain=timedelta(0)) if isinstance(a, Alert)]
    assert [(a.brand, a.kind, a.status) for a in out] == [("behind", AlertKind.NEGATIVITY_SPIKE, AlertStatus.FIRING)]
    assert out[0].window_end == behind_t0 + timedelta(seconds=20 * 12)
    # once its stream stops, the idle policy moves it like any quiet brand
    tail = [pos(2000 + i, brand="live", at=T0 + minutes(20 + i)) for i in range(3)]
    eng = fake_engine()
    list(run_backtest(events + tail, eng, IdlePolicy(), drain=timedelta(0)))
    assert eng.watermark("behind") == T0 + minutes(22) - minutes(2)


def test_future_dated_event_becomes_a_note_and_the_run_goes_on():
    bad = neg(5, at=T0 + timedelta(days=3650), ingested_at=T0)
    events = [neg(0), bad, neg(1), neg(2)]
    out = list(run_backtest(events, fake_engine(), IdlePolicy(), drain=timedelta(0)))
    note = out[0]
    assert isinstance(note, DeadLetterNote) and note.reason == "future_event" and note.event_id == bad.mention.event_id
    assert [(a.kind, a.status) for a in out[1:]] == [(AlertKind.NEGATIVITY_SPIKE, AlertStatus.FIRING)]


def write_jsonl(path: Path, rows: list[str | bytes]) -> Path:
    with open(path, "wb") as f:
        for r in rows:
            f.write((r if isinstance(r, bytes) else r.encode()) + b"\n")
    return path


def test_read_jsonl_detects_record_types_and_reports_bad_lines(tmp_path):
    s = scored(mention(1, text='a "mention": inside the text'))
    m = mention(2, channel="mention")
    v1 = json.loads(mention(3).model_dump_json())
    v1["schema_version"] = 1
    del v1["actor"]
    future_version = json.loads(mention(4).model_dump_json()) | {"schema_version": 9}
    unknown_platform = json.loads(mention(5).model_dump_json()) | {"platform": "myspace"}
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            s.model_dump_json(),  # 1
            m.model_dump_json(),  # 2
            "",  # 3: blank, skipped
            "{not json",  # 4
            json.dumps(v1),  # 5: v1 reads fine
            json.dumps(future_version),  # 6
            json.dumps(unknown_platform),  # 7
            '{"mention": {"brand": "acme"}}',  # 8
            b"\xff\xfe",  # 9
            "[1, 2]",  # 10
        ],
    )
    got = list(read_jsonl_events(path))
    assert isinstance(got[0], ScoredMention) and got[0] == s
    assert isinstance(got[1], MentionEvent) and got[1] == m
    assert isinstance(got[3], MentionEvent) and got[3].actor is None and got[3].schema_version == 1
    notes = [g for g in got if isinstance(g, DeadLetterNote)]
    assert [(n.line, n.reason) for n in notes] == [
        (4, "invalid_json"),
        (6, "unsupported_schema_version"),
        (7, "unknown_platform"),
        (8, "schema_invalid"),
        (9, "invalid_encoding"),
        (10, "schema_invalid"),
    ]
    assert str(notes[0]).startswith("line 4: invalid_json")


def test_read_jsonl_skips_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + scored(mention(1)).to_bytes() + b"\r\n")
    assert [type(r) for r in read_jsonl_events(path)] == [ScoredMention]


def test_backtest_file_writes_alerts_as_on_the_topic_and_summarises(tmp_path):
    events = random_stream(5, n=500)
    src = write_jsonl(tmp_path / "scored.jsonl", [e.model_dump_json() for e in events] + ["oops"])
    out = tmp_path / "alerts.jsonl"
    result = run_backtest_file(src, out, fake_engine(STREAM_BRANDS), IdlePolicy())
    written = out.read_bytes().splitlines()
    expected = [a for a in run_backtest(events, fake_engine(STREAM_BRANDS), IdlePolicy()) if isinstance(a, Alert)]
    assert written == [a.to_bytes() for a in expected]
    assert [Alert.model_validate_json(w) for w in written] == expected
    assert result.events == len(events) and result.alerts == len(expected)
    assert result.dead_letters == {"invalid_json": 1} and result.dead_letter_examples[0].line == len(events) + 1
    assert result.summary == summarise(expected)
    assert not (tmp_path / "alerts.jsonl.partial").exists()
    assert "invalid_json 1" in result.format_dead_letters()


def test_unscored_input_needs_a_scorer(tmp_path):
    src = write_jsonl(tmp_path / "raw.jsonl", [scored(mention(0)).model_dump_json(), mention(1).model_dump_json()])
    out = tmp_path / "alerts.jsonl"
    with pytest.raises(BacktestInputError, match=r"raw.jsonl:2: an unscored MentionEvent"):
        run_backtest_file(src, out, fake_engine(), IdlePolicy())
    assert not out.exists() and not (tmp_path / "alerts.jsonl.partial").exists()

    batches = []

    def scorer(batch: list[MentionEvent]) -> list[ScoredMention]:
        batches.append(len(batch))
        return [scored(m, "negative") for m in batch]

    raw = [mention(i, at=T0 + timedelta(seconds=i)).model_dump_json() for i in range(5)]
    src = write_jsonl(tmp_path / "raw.jsonl", raw[:2] + [scored(mention(9), "positive").model_dump_json()] + raw[2:])
    result = run_backtest_file(src, out, fake_engine(), IdlePolicy(), scorer, score_batch=2)
    assert batches == [2, 2, 1]  # batched, and flushed before the scored line so input order holds
    assert result.events == 6
    assert result.summary[AlertKind.NEGATIVITY_SPIKE]["incidents"] == 1

    with pytest.raises(BacktestInputError, match="scorer returned"):
        run_backtest_file(src, None, fake_engine(), IdlePolicy(), lambda batch: [])


def test_summarise_counts_statuses_incidents_and_open_ones():
    events = [neg(0), neg(1), neg(2), neg(10, brand="b"), neg(11, brand="b"), neg(12, brand="b")]
    alerts = [a for a in run_backtest(events, fake_engine(), IdlePolicy(), drain=timedelta(0)) if isinstance(a, Alert)]
    alerts += fake_engine().advance_all(T0)  # nothing
    summary = summarise(alerts)
    assert set(summary) == set(AlertKind)
    assert summary[AlertKind.NEGATIVITY_SPIKE] == {"firing": 2, "updated": 0, "resolved": 0, "incidents": 2, "open": 2}
    assert summary[AlertKind.SILENT_COMMUNITY]["incidents"] == 0
    table = format_summary(summary)
    assert table.splitlines()[0].split() == ["kind", "incidents", "firing", "updated", "resolved", "open"]
    assert "negativity_spike" in table and len(table.splitlines()) == 1 + len(AlertKind)
