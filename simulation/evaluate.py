"""Detection quality of the alerting engine on a simulated scenario: caught, how fast, how many false.

``python -m simulation.evaluate [--scenario default] [--seed N] [--weeks W] [--set KEY=VALUE]...``
(what ``make eval-alerts`` runs) replays the scenario's ``ScoredMention`` stream
through the same engine and detectors as production (``run_backtest``: event
time only, the input's newest event time as wall time for the idle policy,
timers drained at the end), matches the alerts to the scenario's labels and
prints, per alert kind: incidents injected and caught, detection delay in event
time (median and max), and false alerts per brand-week of traffic; then a
PASS/FAIL line per target of issue 8 section 4, and every miss with the alerts
nearest to it. The exit code is 1 when a target is missed.

Matching. An alert (one incident = one ``alert_id``, represented by its first
notification) matches a label of the same kind and brand — and channel, when
both name one — whose window ``[start - before, end + after]`` (tolerances per
kind, :data:`TOLERANCES`) holds the alert's ``started_at``, and, when the label
names mentions and the alert's evidence names any, one of them. An alert that
matches no label is a false alert of its kind; one matching a "tolerated"
label is neither; one matching a "none" label is a violation.

Delays, in event time, from the label's ``detectable_from``:

* ``delay`` — the alert's own ``started_at`` minus ``detectable_from``;
* ``emitted`` — when the alert came out of the engine, as the newest event
  time the engine had been given at that moment (what a team would see); for an
  alert raised while draining timers after the input ended, its ``started_at``;
* ``events`` — for labels pinned to one event (removals, comebacks): how many
  further events the engine consumed before the alert came out (0: at that event).

Spikes and the statistical floor. A label's ``floor_at`` is when its injected
complainants plus the background's mean clear the detector's bar against the
true baseline. The evaluation also taps the stream for the complaints it
really holds in the wave's scope (injected ones and the background as it fell),
counts their authors as the detector does, and applies the same bar to them
(:func:`~simulation.incidents.negativity_spike.realised_floor`).
A wave that never clears it in this realisation is reported with its best
evidence and not judged by the catch target: no detector could call it at that bar.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shared.schemas import Alert, AlertKind, ScoredMention, Severity
from simulation.incidents import Expect, Label
from simulation.incidents.negativity_spike import RealisedFloor, realised_floor
from simulation.scenarios import SCENARIOS, Scenario, build_scenario
from simulation.world import World

__all__ = [
    "TOLERANCES",
    "Evaluation",
    "KindResult",
    "LabelResult",
    "Seen",
    "Target",
    "check_targets",
    "collect",
    "evaluate",
    "format_report",
    "main",
    "score",
]

_M = timedelta(minutes=1)

#: per kind: how long before a label's start and after its end an alert may start and still be its
TOLERANCES: dict[AlertKind, tuple[timedelta, timedelta]] = {
    AlertKind.NEGATIVITY_SPIKE: (1 * _M, 30 * _M),
    AlertKind.VOLUME_SURGE: (1 * _M, 30 * _M),
    AlertKind.DELETED_COMPLAINT: (1 * _M, 5 * _M),
    AlertKind.RETURNING_COMPLAINANT: (1 * _M, 10 * _M),
    AlertKind.DELETION_BIAS: (timedelta(0), timedelta(days=1)),
    AlertKind.UNANSWERED_COMPLAINT: (timedelta(0), 10 * _M),
    AlertKind.SILENT_COMMUNITY: (timedelta(0), timedelta(hours=1)),
}

#: issue 8 section 4's numbers
SPIKE_MIN_SIZE = 3.0
BIG_BRAND_NEG_PER_MIN = 5.0
BIG_BRAND_MAX_DELAY = timedelta(minutes=2)
MAX_FALSE_SPIKES_PER_BRAND_WEEK = 0.5
SLA_MAX_DELAY = timedelta(minutes=1)
REMOVAL_MAX_EVENTS = 1

_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


# --------------------------------------------------------------------------- what came out


@dataclass(frozen=True)
class Seen:
    """One incident the engine raised: its first notification and when it came out."""

    alert: Alert
    #: newest event time the engine had consumed when it came out (None: unknown)
    emitted_at: datetime | None = None
    #: events consumed when it came out (None: unknown)
    events_seen: int | None = None
    #: came out after the input ended, while timers were drained
    drained: bool = False

    @property
    def started_at(self) -> datetime:
        return self.alert.started_at or self.alert.window_end

    @property
    def shown_at(self) -> datetime:
        """When a team would have seen it, in event time."""
        if self.emitted_at is None or self.drained:
            return self.started_at
        return max(self.emitted_at, self.started_at)


class _Tracker:
    """Passes the events through, counting them, following event time, and noting where the
    events labels point at are."""

    def __init__(self, events: Iterable[ScoredMention], wanted: set[str]) -> None:
        self._events = events
        self._wanted = wanted
        self.count = 0
        self.now: datetime | None = None
        self.done = False
        self.index: dict[str, int] = {}

    def __iter__(self) -> Iterator[ScoredMention]:
        wanted, index = self._wanted, self.index
        for ev in self._events:
            m = ev.mention
            if m.event_id in wanted and m.event_id not in index:
                index[m.event_id] = self.count
            self.count += 1
            if self.now is None or m.occurred_at > self.now:
                self.now = m.occurred_at
            yield ev
        self.done = True


def collect(
    events: Iterable[ScoredMention],
    backtest: Callable[[Iterable[ScoredMention]], Iterable[Any]],
    *,
    wanted: set[str] = frozenset(),  # type: ignore[assignment]
) -> tuple[list[Seen], dict[str, int], int, int]:
    """Run ``backtest`` over ``events``; returns (incidents seen, event index of each wanted
    event id, events consumed, dead letters)."""
    tracker = _Tracker(events, set(wanted))
    first: dict[str, Seen] = {}
    dead = 0
    for out in backtest(tracker):
        if not isinstance(out, Alert):
            dead += 1
            continue
        if out.alert_id not in first:
            first[out.alert_id] = Seen(out, tracker.now, tracker.count, tracker.done)
    return list(first.values()), tracker.index, tracker.count, dead


# --------------------------------------------------------------------------- matching


@dataclass
class LabelResult:
    label: Label
    matched: list[Seen] = field(default_factory=list)
    #: event index of the label's detect event in the stream (None: not pinned or not seen)
    event_index: int | None = None
    #: spikes: the oracle's bar on what the stream really held (None: not measured)
    realised: RealisedFloor | None = None

    @property
    def below_floor(self) -> bool:
        """A wave whose complainants, as they really fell, never cleared the statistical bar."""
        return self.realised is not None and self.realised.at is None

    @property
    def caught(self) -> bool:
        return bool(self.matched)

    @property
    def first(self) -> Seen | None:
        return min(self.matched, key=lambda s: (s.shown_at, s.started_at)) if self.matched else None

    @property
    def delay(self) -> timedelta | None:
        f = self.first
        return None if f is None else f.started_at - self.label.detectable_from

    @property
    def emitted_delay(self) -> timedelta | None:
        f = self.first
        return None if f is None else f.shown_at - self.label.detectable_from

    @property
    def event_delay(self) -> int | None:
        f = self.first
        if f is None or f.events_seen is None or f.drained or self.event_index is None:
            return None
        return f.events_seen - (self.event_index + 1)

    @property
    def floor_delay(self) -> timedelta | None:
        """How much later than the statistical floor (spikes)."""
        f = self.first
        if f is None or self.label.floor_at is None:
            return None
        return f.shown_at - self.label.floor_at


@dataclass
class KindResult:
    kind: AlertKind
    labels: list[LabelResult] = field(default_factory=list)
    false: list[Seen] = field(default_factory=list)
    tolerated: list[Seen] = field(default_factory=list)
    #: alerts where a "none" label says nothing should alert
    violations: list[tuple[Label, Seen]] = field(default_factory=list)
    #: alerts on tolerated labels more severe than the label allows
    over_severe: list[tuple[Label, Seen]] = field(default_factory=list)
    #: false spike alerts that fell inside a volume surge (the share guard's job)
    false_in_surges: int = 0
    #: unmatched alerts that started after the input ended (timers drained past the data: not judged)
    after_end: list[Seen] = field(default_factory=list)

    @property
    def required(self) -> list[LabelResult]:
        return [r for r in self.labels if r.label.expect is Expect.ALERT]

    @property
    def caught(self) -> int:
        return sum(r.caught for r in self.required)

    @property
    def missed(self) -> list[LabelResult]:
        return [r for r in self.required if not r.caught]

    def delays(self, which: str = "delay") -> list[timedelta]:
        return [getattr(r, which) for r in self.required if getattr(r, which) is not None]


@dataclass
class Target:
    name: str
    #: None: nothing in the scenario to judge it on
    passed: bool | None
    detail: str


@dataclass
class Evaluation:
    scenario: str
    seed: int
    weeks: float
    brand_weeks: float
    kinds: dict[AlertKind, KindResult]
    events: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    targets: list[Target] = field(default_factory=list)

    def false_per_brand_week(self, kind: AlertKind) -> float:
        return len(self.kinds[kind].false) / self.brand_weeks if self.brand_weeks > 0 else 0.0

    @property
    def passed(self) -> bool:
        return all(t.passed is not False for t in self.targets)

    def figures(self) -> dict[str, Any]:
        """The numbers, JSON-safe (seconds for delays)."""
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "seed": self.seed,
            "weeks": self.weeks,
            "brand_weeks": self.brand_weeks,
            "events": self.events,
            "dead_letters": self.dead_letters,
            "kinds": {},
            "targets": [{"name": t.name, "passed": t.passed, "detail": t.detail} for t in self.targets],
        }
        for kind, kr in self.kinds.items():
            d = [x.total_seconds() for x in kr.delays()]
            e = [x.total_seconds() for x in kr.delays("emitted_delay")]
            out["kinds"][kind.value] = {
                "injected": len(kr.required),
                "caught": kr.caught,
                "delay_median_s": statistics.median(d) if d else None,
                "delay_max_s": max(d) if d else None,
                "emitted_median_s": statistics.median(e) if e else None,
                "emitted_max_s": max(e) if e else None,
                "false": len(kr.false),
                "false_per_brand_week": self.false_per_brand_week(kind),
                "tolerated": len(kr.tolerated),
                "violations": len(kr.violations),
                "over_severe": len(kr.over_severe),
                "after_end": len(kr.after_end),
                "missed": [r.label.to_json() for r in kr.missed],
            }
        return out


def _evidence_ids(alert: Alert) -> set[str]:
    ids = set(alert.evidence.mention_ids)
    ids.update(m.mention_id for m in alert.evidence.mentions)
    return ids


def _fits(label: Label, seen: Seen, tolerances: dict[AlertKind, tuple[timedelta, timedelta]]) -> bool:
    a = seen.alert
    if a.kind is not label.kind or a.brand != label.brand:
        return False
    if label.channel is not None and a.channel is not None and a.channel != label.channel:
        return False
    before, after = tolerances.get(label.kind, (_M, 10 * _M))
    if not label.start - before <= seen.started_at <= label.end + after:
        return False
    if label.mention_ids:
        ids = _evidence_ids(a)
        if ids and not ids.intersection(label.mention_ids):
            return False
    return True


def score(
    labels: Sequence[Label],
    seen: Sequence[Seen],
    *,
    brand_weeks: float,
    event_index: dict[str, int] | None = None,
    tolerances: dict[AlertKind, tuple[timedelta, timedelta]] | None = None,
    input_end: datetime | None = None,
    scenario: str = "",
    seed: int = 0,
    weeks: float = 0.0,
    realised: dict[str, RealisedFloor] | None = None,
) -> Evaluation:
    """Match alerts to labels and sum up per kind (see the module docs for the rules).

    Alerts that match no label but started after ``input_end`` are set aside, not
    counted false: past the end of the data every channel looks silent and every
    complaint whose answer fell after the cut looks unanswered.
    """
    tol = {**TOLERANCES, **(tolerances or {})}
    index = event_index or {}
    kinds = {k: KindResult(k) for k in AlertKind}
    results: list[LabelResult] = []
    for lab in labels:
        r = LabelResult(lab, event_index=index.get(lab.detect_event_id) if lab.detect_event_id else None)
        if realised is not None and lab.kind is AlertKind.NEGATIVITY_SPIKE:
            r.realised = realised.get(lab.incident)
        results.append(r)
        kinds[lab.kind].labels.append(r)
    by_kind_brand: dict[tuple[AlertKind, str], list[LabelResult]] = {}
    for r in results:
        by_kind_brand.setdefault((r.label.kind, r.label.brand), []).append(r)
    surges = [r.label for r in results if r.label.kind is AlertKind.VOLUME_SURGE]
    rank = {Expect.ALERT: 0, Expect.TOLERATE: 1, Expect.NONE: 2}
    for s in sorted(seen, key=lambda x: (x.shown_at, x.alert.alert_id)):
        kr = kinds[s.alert.kind]
        fits = [r for r in by_kind_brand.get((s.alert.kind, s.alert.brand), ()) if _fits(r.label, s, tol)]
        if not fits:
            if input_end is not None and s.started_at > input_end:
                kr.after_end.append(s)
                continue
            kr.false.append(s)
            if s.alert.kind is AlertKind.NEGATIVITY_SPIKE and any(
                lab.brand == s.alert.brand and _fits(lab, _as_kind(s, AlertKind.VOLUME_SURGE), tol) for lab in surges
            ):
                kr.false_in_surges += 1
            continue
        # a required label not caught yet first, then the one whose detection point is nearest
        best = min(
            fits,
            key=lambda r: (
                rank[r.label.expect],
                r.caught,
                abs((s.started_at - r.label.detectable_from).total_seconds()),
            ),
        )
        best.matched.append(s)
        if best.label.expect is Expect.NONE:
            kr.violations.append((best.label, s))
        elif best.label.expect is Expect.TOLERATE:
            kr.tolerated.append(s)
            cap = best.label.max_severity
            if cap is not None and _SEVERITY_RANK[s.alert.severity] > _SEVERITY_RANK[cap]:
                kr.over_severe.append((best.label, s))
    ev = Evaluation(scenario=scenario, seed=seed, weeks=weeks, brand_weeks=brand_weeks, kinds=kinds)
    ev.targets = check_targets(ev)
    return ev


def _as_kind(s: Seen, kind: AlertKind) -> Seen:
    return Seen(s.alert.model_copy(update={"kind": kind, "channel": None}), s.emitted_at, s.events_seen, s.drained)


# --------------------------------------------------------------------------- targets


def _fmt_td(td: timedelta | None) -> str:
    if td is None:
        return "-"
    s = td.total_seconds()
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 1:
        return f"{sign}{s:.2f}s" if s else "0s"
    if s < 120:
        return f"{sign}{s:.0f}s"
    if s < 7200:
        return f"{sign}{s / 60:.1f}m"
    if s < 2 * 86400:
        return f"{sign}{s / 3600:.1f}h"
    return f"{sign}{s / 86400:.1f}d"


def _realised(rf: RealisedFloor) -> str:
    return f"at best {rf.best_count} complainants where {rf.best_expected:.1f} were expected, p {rf.best_p:.1e}"


def _where(lab: Label) -> str:
    return f"{lab.incident} {lab.brand}{'/' + lab.channel if lab.channel else ''} @{lab.start:%m-%d %H:%M}"


def check_targets(ev: Evaluation) -> list[Target]:
    """PASS/FAIL of each target of issue 8 section 4 (None where the scenario has nothing to judge)."""
    out: list[Target] = []
    spikes = [r for r in ev.kinds[AlertKind.NEGATIVITY_SPIKE].required if (r.label.size or 0) >= SPIKE_MIN_SIZE]
    # "as soon as the complainants exceed the statistical floor": a wave whose complainants, as the stream
    # really holds them, never cleared it cannot be asked of any detector; it is reported, not judged
    below = [r for r in spikes if r.below_floor]
    judged = [r for r in spikes if not r.below_floor]
    missed = [r for r in judged if not r.caught]
    out.append(
        Target(
            f"every injected spike >= {SPIKE_MIN_SIZE:g}x baseline caught once its complainants clear the floor",
            None if not judged else not missed,
            f"{len(judged) - len(missed)}/{len(judged)} caught"
            + (f"; missed: {', '.join(_where(r.label) for r in missed)}" if missed else "")
            + (
                f"; {len(below)} never above the floor in this realisation, not judged "
                f"({sum(r.caught for r in below)} of them caught anyway): "
                + ", ".join(f"{_where(r.label)} ({_realised(r.realised)})" for r in below if r.realised)
                if below
                else ""
            ),
        )
    )
    big = [r for r in spikes if (r.label.baseline_per_min or 0) >= BIG_BRAND_NEG_PER_MIN]
    slow = [r for r in big if r.emitted_delay is None or r.emitted_delay > BIG_BRAND_MAX_DELAY]
    out.append(
        Target(
            f"spikes caught within {_fmt_td(BIG_BRAND_MAX_DELAY)} where baseline >= {BIG_BRAND_NEG_PER_MIN:g} neg/min",
            None if not big else not slow,
            f"{len(big) - len(slow)}/{len(big)} in time; delays "
            + ", ".join(f"{r.label.size:g}x: {_fmt_td(r.emitted_delay)}" for r in big),
        )
    )
    fpw = ev.false_per_brand_week(AlertKind.NEGATIVITY_SPIKE)
    n_false = len(ev.kinds[AlertKind.NEGATIVITY_SPIKE].false)
    in_surges = ev.kinds[AlertKind.NEGATIVITY_SPIKE].false_in_surges
    out.append(
        Target(
            f"<= {MAX_FALSE_SPIKES_PER_BRAND_WEEK:g} false spike alerts per brand-week",
            fpw <= MAX_FALSE_SPIKES_PER_BRAND_WEEK,
            f"{n_false} false over {ev.brand_weeks:.1f} brand-weeks = {fpw:.2f}"
            + (f" ({in_surges} during volume surges)" if in_surges else ""),
        )
    )
    removals = ev.kinds[AlertKind.DELETED_COMPLAINT].required
    late = [
        r
        for r in removals
        if not r.caught or r.delay != timedelta(0) or (r.event_delay is not None and r.event_delay > REMOVAL_MAX_EVENTS)
    ]
    out.append(
        Target(
            "every brand-side removal of a complaint flagged at the removal event",
            None if not removals else not late,
            f"{len(removals) - len(late)}/{len(removals)} flagged at the removal"
            + (f"; not: {', '.join(_removal_why(r) for r in late[:8])}" if late else "")
            + (f" (+{len(late) - 8} more)" if len(late) > 8 else ""),
        )
    )
    ret = ev.kinds[AlertKind.RETURNING_COMPLAINANT].required
    ret_missed = [r for r in ret if not r.caught]
    out.append(
        Target(
            "every returning complainant caught",
            None if not ret else not ret_missed,
            f"{len(ret) - len(ret_missed)}/{len(ret)} caught"
            + (
                f"; missed: {', '.join(f'{_where(r.label)} ({r.label.note})' for r in ret_missed)}"
                if ret_missed
                else ""
            ),
        )
    )
    nones = [r for k in ev.kinds.values() for r in k.labels if r.label.expect is Expect.NONE]
    violations = [(lab, s) for k in ev.kinds.values() for lab, s in k.violations]
    out.append(
        Target(
            "no alert for an author's own deletion of a non-negative post",
            None if not nones else not violations,
            f"{len(nones)} such deletions, {len(violations)} alerted"
            + (f": {', '.join(_where(lab) for lab, _ in violations)}" if violations else ""),
        )
    )
    sla = ev.kinds[AlertKind.UNANSWERED_COMPLAINT].required
    sla_late = [
        r
        for r in sla
        if r.emitted_delay is None or r.emitted_delay > SLA_MAX_DELAY or r.delay is None or r.delay > SLA_MAX_DELAY
    ]
    out.append(
        Target(
            f"SLA alerts within {_fmt_td(SLA_MAX_DELAY)} of the deadline",
            None if not sla else not sla_late,
            f"{len(sla) - len(sla_late)}/{len(sla)} in time; delays "
            + ", ".join(f"{_fmt_td(r.emitted_delay)}" for r in sla),
        )
    )
    return out


def _removal_why(r: LabelResult) -> str:
    if not r.caught:
        return f"{_where(r.label)} missed"
    if r.delay != timedelta(0):
        return f"{_where(r.label)} started {_fmt_td(r.delay)} off"
    return f"{_where(r.label)} {r.event_delay} events late"


# --------------------------------------------------------------------------- the report


def _nearest(ev: Evaluation, r: LabelResult, seen: Sequence[Seen], n: int = 2) -> str:
    """The alerts of the label's kind and brand closest to where it should have fired."""
    cands = [s for s in seen if s.alert.kind is r.label.kind and s.alert.brand == r.label.brand]
    if not cands:
        return "no alert of this kind for this brand at all"
    cands.sort(key=lambda s: abs((s.started_at - r.label.detectable_from).total_seconds()))
    parts = []
    for s in cands[:n]:
        parts.append(
            f"{_fmt_td(s.started_at - r.label.detectable_from)} from detectable, channel {s.alert.channel or '-'}, "
            f"{s.alert.severity.value}"
        )
    return "nearest alerts: " + "; ".join(parts)


def format_report(ev: Evaluation, seen: Sequence[Seen] = ()) -> str:
    lines = [
        f"scenario {ev.scenario} seed {ev.seed}: {ev.weeks:g} weeks, {ev.brand_weeks:g} brand-weeks, "
        f"{ev.events:,} events, {ev.dead_letters} dead letters, {ev.seconds:.0f}s",
        "",
    ]
    head = (
        f"{'kind':<22} {'injected':>8} {'caught':>6} {'delay med':>9} {'delay max':>9} {'shown med':>9} "
        f"{'shown max':>9} {'false':>5} {'false/bw':>8}  notes"
    )
    lines += [head, "-" * len(head)]
    for kind, kr in ev.kinds.items():
        d, e = kr.delays(), kr.delays("emitted_delay")
        notes = []
        if kr.tolerated:
            notes.append(f"{len(kr.tolerated)} tolerated")
        if kr.violations:
            notes.append(f"{len(kr.violations)} must-not-alert violated")
        if kr.over_severe:
            notes.append(f"{len(kr.over_severe)} too severe")
        info = sum(1 for f in kr.false if f.alert.severity is Severity.INFO)
        if info:
            notes.append(f"{info} of the false ones info")
        if kr.false_in_surges:
            notes.append(f"{kr.false_in_surges} false during surges")
        if kr.after_end:
            notes.append(f"{len(kr.after_end)} after the input ended (not judged)")
        ed = [r.event_delay for r in kr.required if r.event_delay is not None]
        if ed:
            notes.append(f"events after the event: max {max(ed)}")
        lines.append(
            f"{kind.value:<22} {len(kr.required):>8} {kr.caught:>6} "
            f"{_fmt_td(statistics.median(d) if d else None):>9} {_fmt_td(max(d) if d else None):>9} "
            f"{_fmt_td(statistics.median(e) if e else None):>9} {_fmt_td(max(e) if e else None):>9} "
            f"{len(kr.false):>5} {ev.false_per_brand_week(kind):>8.2f}  {', '.join(notes)}"
        )
    spikes = ev.kinds[AlertKind.NEGATIVITY_SPIKE].required
    if spikes:
        lines += ["", "spikes (floor: when the injected complainants plus the mean background clear the bar; "
                  "realised: when the complainants the stream really holds do):",
                  f"  {'incident':<22} {'brand':<9} {'size':>5} {'base/min':>8} {'floor':>7} {'realised':>8} "
                  f"{'shown':>7} {'vs floor':>8}  channel"]  # fmt: skip
        for r in spikes:
            lab = r.label
            floor = lab.floor_at - lab.detectable_from if lab.floor_at else None
            rf = r.realised
            if rf is None:
                real = "-"
            elif rf.at is None:
                real = "never"
            else:
                real = _fmt_td(rf.at - lab.detectable_from)
            lines.append(
                f"  {lab.incident:<22} {lab.brand:<9} {lab.size or 0:>4g}x {lab.baseline_per_min or 0:>8.3f} "
                f"{_fmt_td(floor):>7} {real:>8} {_fmt_td(r.emitted_delay) if r.caught else 'MISSED':>7} "
                f"{_fmt_td(r.floor_delay):>8}  {lab.channel or '(brand-wide)'}"
            )
    lines += ["", "targets:"]
    for t in ev.targets:
        verdict = "n/a " if t.passed is None else "PASS" if t.passed else "FAIL"
        lines.append(f"  {verdict}  {t.name}: {t.detail}")
    misses = [r for kr in ev.kinds.values() for r in kr.missed]
    if misses:
        lines += ["", "missed:"]
        for r in misses:
            lines.append(f"  {_where(r.label)} {r.label.kind.value}: {r.label.note}")
            if r.realised is not None:
                clears = (
                    f"cleared the floor at {r.realised.at:%m-%d %H:%M:%S}"
                    if r.realised.at
                    else "never cleared the floor"
                )
                lines.append(f"      its complainants as they fell {clears}: {_realised(r.realised)}")
            lines.append(f"      detectable {r.label.detectable_from:%m-%d %H:%M:%S}; {_nearest(ev, r, seen)}")
    false = [(k, s) for k, kr in ev.kinds.items() for s in kr.false]
    if false:
        lines += ["", f"false alerts ({len(false)}; first 25):"]
        for k, s in sorted(false, key=lambda ks: ks[1].started_at)[:25]:
            a = s.alert
            lines.append(
                f"  {k.value:<22} {a.brand}{'/' + a.channel if a.channel else ''} @{s.started_at:%m-%d %H:%M:%S} "
                f"{a.severity.value}: {a.message[:110]}"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- running it


class _ComplainantTap:
    """Notes, for each spike label, every complaint the stream really holds in the wave's scope and time
    (injected or not) that the detector would count: a created or edited mention that is a complaint by the
    engine's rule (labelled negative, or P(negative) at least the threshold when one is set; never by the
    brand), brand-wide or in the label's channel; :func:`realised_floor` counts their authors."""

    def __init__(self, labels: Iterable[Label], is_complaint: Callable[[ScoredMention], bool]) -> None:
        from services.alerting.detectors.negativity_spike import COUNTED_EVENTS

        #: the engine's own rule (its optional P(negative) threshold included), on the events the detector counts
        self._is_complaint = is_complaint
        self._events = COUNTED_EVENTS
        self._by_brand: dict[str, list[tuple[Label, list[tuple[datetime, str]]]]] = {}
        for lab in labels:
            if lab.kind is AlertKind.NEGATIVITY_SPIKE and lab.expect is Expect.ALERT:
                self._by_brand.setdefault(lab.brand, []).append((lab, []))

    def __call__(self, events: Iterable[ScoredMention]) -> Iterator[ScoredMention]:
        by_brand = self._by_brand
        for ev in events:
            watched = by_brand.get(ev.mention.brand)
            if watched:
                m = ev.mention
                if m.event_type in self._events and self._is_complaint(ev):
                    for lab, complaints in watched:
                        if lab.start <= m.occurred_at <= lab.end and lab.channel in (None, m.channel):
                            complaints.append((m.occurred_at, f"{m.platform}:{m.author_id}"))
            yield ev

    def floors(self, world: World) -> dict[str, RealisedFloor]:
        out = {}
        for watched in self._by_brand.values():
            for lab, complaints in watched:
                # late and out-of-order events are part of a stream: sort by time
                ordered = sorted((world.t_of(t), author) for t, author in complaints)
                out[lab.incident] = realised_floor(ordered, world, lab.brand, lab.channel, world.t_of(lab.start))
        return out


def evaluate(
    scenario: Scenario,
    *,
    overrides: dict[str, str] | None = None,
    idle_delay: timedelta | None = None,
    alerts_out: Path | None = None,
) -> tuple[Evaluation, list[Seen]]:
    """Replay ``scenario`` through the real engine (built as ``repwatch backtest`` builds it)."""
    from services.alerting.backtest import run_backtest
    from services.alerting.engine import AlertEngine, IdlePolicy
    from services.alerting.settings import AlertingSettings

    run = scenario.run()
    settings = AlertingSettings()
    engine = AlertEngine.build(settings, scenario.brands_file(), overrides or {})
    idle = IdlePolicy.from_settings(settings) if idle_delay is None else IdlePolicy(delay=idle_delay)
    wanted = {lab.detect_event_id for lab in run.labels if lab.detect_event_id}
    sink = alerts_out.open("w", encoding="utf-8") if alerts_out else None

    def backtest(events: Iterable[ScoredMention]) -> Iterator[Any]:
        for out in run_backtest(events, engine, idle):
            if sink is not None and isinstance(out, Alert):
                sink.write(out.model_dump_json() + "\n")
            yield out

    tap = _ComplainantTap(run.labels, engine.is_complaint)
    t0 = time.perf_counter()
    try:
        seen, index, count, dead = collect(tap(run.stream()), backtest, wanted=wanted)
    finally:
        if sink is not None:
            sink.close()
    ev = score(
        run.labels,
        seen,
        brand_weeks=scenario.brand_weeks,
        event_index=index,
        input_end=scenario.start + scenario.duration,
        scenario=scenario.name,
        seed=scenario.seed,
        weeks=scenario.weeks,
        realised=tap.floors(run.world),
    )
    ev.events, ev.dead_letters, ev.seconds = count, dead, time.perf_counter() - t0
    return ev, seen


def _overrides(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m simulation.evaluate",
        description="Detection quality of the alerting detectors on a simulated, labelled scenario.",
    )
    p.add_argument("--scenario", default="default", choices=sorted(SCENARIOS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weeks", type=float, default=None, help="weeks of traffic (default: the scenario's own)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="detector setting override, as for `repwatch backtest --set`")  # fmt: skip
    p.add_argument("--idle-delay", type=float, default=None, metavar="SECONDS",
                   help="idle policy delay (default: the worker's configured one)")  # fmt: skip
    p.add_argument("--alerts-out", type=Path, default=None, help="also write every alert as JSONL here")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    try:
        overrides = _overrides(args.overrides)
        scenario = build_scenario(args.scenario, seed=args.seed, weeks=args.weeks)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        ev, seen = evaluate(
            scenario,
            overrides=overrides,
            idle_delay=None if args.idle_delay is None else timedelta(seconds=args.idle_delay),
            alerts_out=args.alerts_out,
        )
    except ImportError as exc:
        print(f"error: the alerting engine is not available ({exc})", file=sys.stderr)
        return 2
    except ValueError as exc:  # a bad --set key or value
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(ev, seen))
    if args.json is not None:
        args.json.write_text(json.dumps(ev.figures(), indent=2), encoding="utf-8")
    return 0 if ev.passed else 1


if __name__ == "__main__":
    sys.exit(main())
