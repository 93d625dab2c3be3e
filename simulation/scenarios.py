"""Named, deterministic simulated worlds with labelled incidents of every kind.

A :class:`Scenario` is pure data (brands, incidents with their start times, the
seed); :meth:`Scenario.run` builds a fresh :class:`~simulation.world.World`,
plans every incident with a generator of its own and returns the labels and the
lazy event stream. The same (name, seed, weeks) always gives the same labels and
a byte-identical stream; nothing large is ever written to disk.

``default``: four brands from ~0.02 to ~8 negatives a minute in four time
zones, three weeks of normal traffic (``weeks`` shortens or lengthens it), and
every incident kind staged several times at varied sizes: spikes of 3x..10x for
big and small brands (brand-wide and in one channel), campaign surges,
brand-side hides and deletes (answered first or not, influencer authors,
restored later, actor unknown), paraphrased returning complaints from other
accounts in en and ru, an author deleting their own praise (must not alert),
SLA breaches, a removal pattern, and a channel gone silent for 8 days.
Incidents of one brand are laid out one after another in slots after a
warm-up, each at a local hour that suits it (spikes in the daytime, when the
big brand is above 5 negatives a minute). A shorter run keeps the first part of
each brand's programme; the programmes are ordered so that every kind is in it.

``smoke``: two small brands, one day, one incident of each kind — for tests.

``demo``: what ``make run`` streams: two brands from the wall-clock start, every
kind of incident staged once in the first ten minutes (see :func:`demo`), with
the detector settings that time compression needs in its brands file.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from shared.brands import BrandsFile
from shared.schemas import Actor, EventType, Platform, ScoredMention
from simulation.incidents import Incident, Label
from simulation.incidents.deleted_complaint import AuthorDeletesOwnPost, DeletedComplaint
from simulation.incidents.deletion_bias import DeletionBias
from simulation.incidents.negativity_spike import NegativitySpike
from simulation.incidents.returning_complainant import ReturningComplainant
from simulation.incidents.silent_community import SilentCommunity
from simulation.incidents.unanswered_complaint import UnansweredComplaint
from simulation.incidents.volume_surge import VolumeSurge
from simulation.world import HOUR, BrandSpec, Happening, World

__all__ = ["SCENARIOS", "Run", "Scenario", "build_scenario"]

#: a Monday; US clocks change on 8 March 2026 and European ones on 29 March, so a
#: three-week run crosses a DST switch in one brand's time zone
DEFAULT_START = datetime(2026, 3, 2, tzinfo=timezone.utc)

_S = timedelta(seconds=1)
_M = timedelta(minutes=1)
_H = timedelta(hours=1)
_D = timedelta(days=1)


@dataclass
class Run:
    """One pass over a scenario: its world, the incidents' scripts and the labels."""

    world: World
    scripts: list[list[Happening]]
    labels: list[Label]

    def stream(self) -> Iterator[ScoredMention]:
        return self.world.stream(self.scripts)


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    start: datetime
    duration: timedelta
    brands: tuple[BrandSpec, ...]
    #: incidents with their ``at`` already laid out
    incidents: tuple[Incident, ...]
    sla: timedelta = timedelta(minutes=60)
    #: per-brand detector settings for the brands file (none by default: detectors' defaults)
    detectors: dict[str, dict[str, dict[str, object]]] = field(default_factory=dict)
    #: per-brand owned channels the world itself never posts in, added to the brands file
    #: (the demo's webhook pushes arrive on these)
    push_channels: dict[str, dict[Platform, tuple[str, ...]]] = field(default_factory=dict)

    @property
    def weeks(self) -> float:
        return self.duration / timedelta(weeks=1)

    @property
    def brand_weeks(self) -> float:
        """Brands x weeks of traffic: the denominator of false alerts per brand-week."""
        return len(self.brands) * self.weeks

    def world(self) -> World:
        return World(self.brands, start=self.start, duration=self.duration, seed=self.seed, sla=self.sla)

    def run(self) -> Run:
        world = self.world()
        scripts, labels = [], []
        for i, inc in enumerate(self.incidents):
            name = f"{inc.kind.value}#{i}"
            rng = random.Random(f"{self.seed}/incident/{i}/{type(inc).__name__}/{inc.brand}")
            plan = inc.plan(world, rng, name)
            scripts.append([h for h in plan.sorted_happenings() if h.t < world.end])
            labels.extend(plan.labels)
        return Run(world, scripts, labels)

    def labels(self) -> list[Label]:
        return self.run().labels

    def stream(self) -> Iterator[ScoredMention]:
        return self.run().stream()

    def brands_file(self) -> BrandsFile:
        bf = self.world().brands_file(self.detectors)
        if not self.push_channels:
            return bf
        brands = dict(bf.brands)
        for name, extra in self.push_channels.items():
            owned = {p: list(chs) for p, chs in brands[name].owned_channels.items()}
            for platform, channels in extra.items():
                owned.setdefault(platform, []).extend(c for c in channels if c not in owned.get(platform, ()))
            brands[name] = brands[name].model_copy(update={"owned_channels": owned})
        return BrandsFile(brands=brands)


# --------------------------------------------------------------------------- laying incidents out


def _lay_out(
    world: World,
    programme: dict[str, Sequence[Incident]],
    rng: random.Random,
    *,
    warmup: timedelta,
    tail: timedelta,
) -> list[Incident]:
    """Give every incident its start: a brand's incidents one per slot, in a local hour that suits it."""
    out: list[Incident] = []
    begin, stop = world.t_of(warmup), world.end - world.t_of(tail)
    for brand, items in programme.items():
        if not items:
            continue
        slot = (stop - begin) // len(items)
        for i, inc in enumerate(items):
            lo = begin + i * slot
            hi = max(lo, lo + slot - world.t_of(inc.footprint()))
            out.append(replace(inc, at=timedelta(microseconds=_start_in(world, brand, inc, lo, hi, rng))))
    return out


def _start_in(world: World, brand: str, inc: Incident, lo: int, hi: int, rng: random.Random) -> int:
    hours = inc.preferred_hours()
    first = lo + int(rng.random() * (hi - lo))
    if hours is None:
        return first
    for _ in range(200):
        t = lo + int(rng.random() * (hi - lo)) if hi > lo else lo
        h, _ = world.local(brand, t)
        if hours[0] <= h < hours[1]:
            return t
        if hi <= lo:  # no room to choose: walk forward to the next suitable hour
            lo = hi = lo + HOUR // 4
    return first


def _take(items: Sequence[Incident], weeks: float, full_weeks: float = 3.0) -> list[Incident]:
    """The first part of a programme, in proportion to the run's length."""
    n = max(1, math.ceil(len(items) * min(1.0, weeks / full_weeks)))
    return list(items[:n])


# --------------------------------------------------------------------------- scenarios

_0 = timedelta(0)


def default(seed: int = 0, weeks: float = 3.0) -> Scenario:
    if weeks <= 0:
        raise ValueError("weeks must be > 0")
    brands = (
        BrandSpec("bigmart", 8.0, "Europe/Moscow", (("ru", 0.85), ("en", 0.15)), weekend=1.15, peak_hour=19.0),
        BrandSpec("acme", 1.5, "Europe/Berlin", (("en", 0.6), ("ru", 0.4)), weekend=0.75, peak_hour=18.0),
        BrandSpec("fjord", 0.2, "America/New_York", (("en", 1.0),), weekend=0.7, peak_hour=20.0),
        BrandSpec("tinyshop", 0.02, "Asia/Novosibirsk", (("ru", 1.0),), weekend=1.0, peak_hour=17.0),
    )
    duration = timedelta(weeks=weeks)
    # Each list is ordered so that its first third (what a one-week run keeps) holds, across
    # the four brands, every kind of incident.
    programme: dict[str, list[Incident]] = {
        "bigmart": [
            NegativitySpike("bigmart", _0, multiplier=3.0, duration=30 * _M),
            DeletedComplaint("bigmart", _0, channel="vk:club_bigmart", how=EventType.HIDDEN, influencer=True),
            UnansweredComplaint("bigmart", _0, channel="telegram:@bigmart_support", complaints=3, late_by=2 * _H),
            ReturningComplainant("bigmart", _0, lang="ru", channel="vk:club_bigmart", style="comeback", gap=25 * _M),
            AuthorDeletesOwnPost("bigmart", _0, channel="vk:club_bigmart", intent="positive", actor=Actor.AUTHOR),
            NegativitySpike("bigmart", _0, multiplier=5.0, duration=20 * _M),
            VolumeSurge("bigmart", _0, multiplier=3.0, duration=60 * _M),
            DeletedComplaint("bigmart", _0, channel="telegram:@bigmart_support", how=EventType.DELETED,
                             actor=None, replied_first=True, visible=25 * _M),
            NegativitySpike("bigmart", _0, multiplier=10.0, duration=15 * _M),
            UnansweredComplaint("bigmart", _0, channel="vk:club_bigmart", complaints=1, question=True,
                                late_by=6 * _H),
            ReturningComplainant("bigmart", _0, lang="en", channel="instagram:@bigmart", style="retold",
                                 gap=2 * _D, other_channel=True),
            NegativitySpike("bigmart", _0, multiplier=4.0, duration=30 * _M, channel="vk:club_bigmart"),
            DeletedComplaint("bigmart", _0, channel="youtube:bigmart_official/{video}", how=EventType.HIDDEN,
                             restore_after=12 * _M),
            DeletedComplaint("bigmart", _0, channel="vk:club_bigmart", by_author=True, actor=Actor.AUTHOR,
                             how=EventType.DELETED),
        ],
        "acme": [
            NegativitySpike("acme", _0, multiplier=3.0, duration=60 * _M),
            VolumeSurge("acme", _0, multiplier=4.0, duration=90 * _M),
            ReturningComplainant("acme", _0, lang="en", channel="facebook:acmeofficial", style="comeback", gap=3 * _H),
            DeletedComplaint("acme", _0, channel="facebook:acmeofficial", how=EventType.DELETED),
            UnansweredComplaint("acme", _0, channel="facebook:acmeofficial", complaints=2, late_by=90 * _M),
            NegativitySpike("acme", _0, multiplier=6.0, duration=30 * _M),
            ReturningComplainant("acme", _0, lang="ru", channel="telegram:@acme_support", style="repost", gap=1 * _D),
            AuthorDeletesOwnPost("acme", _0, channel="telegram:@acme_support", intent="neutral", actor=None),
            NegativitySpike("acme", _0, multiplier=3.0, duration=60 * _M, channel="telegram:@acme_support"),
            UnansweredComplaint("acme", _0, channel="vk:club_acme", lang="ru", complaints=4, late_by=None),
            DeletedComplaint("acme", _0, channel="vk:club_acme", lang="ru", how=EventType.HIDDEN, actor=None),
        ],
        "fjord": [
            NegativitySpike("fjord", _0, multiplier=5.0, duration=3 * _H),
            DeletionBias("fjord", _0, channel="facebook:fjordofficial", duration=36 * _H, complaints=110,
                         removed_share=0.9),
            UnansweredComplaint("fjord", _0, channel="instagram:@fjord", complaints=1, late_by=3 * _H),
            DeletedComplaint("fjord", _0, channel="instagram:@fjord", how=EventType.HIDDEN, influencer=True,
                             replied_first=True),
            NegativitySpike("fjord", _0, multiplier=10.0, duration=1 * _H),
            ReturningComplainant("fjord", _0, lang="en", channel="instagram:@fjord", style="comeback", gap=4 * _D,
                                 other_channel=True),
            NegativitySpike("fjord", _0, multiplier=3.0, duration=6 * _H),
            AuthorDeletesOwnPost("fjord", _0, channel="facebook:fjordofficial", intent="positive"),
        ],
        "tinyshop": [
            NegativitySpike("tinyshop", _0, multiplier=10.0, duration=2 * _H),
            ReturningComplainant("tinyshop", _0, lang="ru", channel="vk:club_tinyshop", style="comeback", gap=1 * _D),
            DeletedComplaint("tinyshop", _0, channel="telegram:@tinyshop_support", how=EventType.DELETED),
            UnansweredComplaint("tinyshop", _0, channel="vk:club_tinyshop", complaints=1, late_by=3 * _H),
            NegativitySpike("tinyshop", _0, multiplier=3.0, duration=10 * _H),
            DeletionBias("tinyshop", _0, channel="vk:club_tinyshop", duration=36 * _H, complaints=10,
                         removed_share=0.9),
            NegativitySpike("tinyshop", _0, multiplier=6.0, duration=4 * _H),
        ],
    }  # fmt: skip
    world = World(brands, start=DEFAULT_START, duration=duration, seed=seed)
    _fill_channels(world, programme)
    rng = random.Random(f"{seed}/layout/default")
    warmup = min(3 * _D, 0.3 * duration)
    chosen = {b: _take(items, weeks) for b, items in programme.items()}
    incidents = _lay_out(world, chosen, rng, warmup=warmup, tail=min(12 * _H, 0.05 * duration))
    # the silence spans most of the run: it starts early (in a channel no other incident uses)
    silence = SilentCommunity("acme", _0, channel="instagram:@acme", duration=8 * _D)
    t_sil = world.t_of(min(warmup / 2, max(6 * _H, duration - 9 * _D)))
    t_sil = _start_in(world, "acme", silence, t_sil, t_sil + world.t_of(12 * _H), rng)
    incidents.append(replace(silence, at=timedelta(microseconds=t_sil)))
    return Scenario("default", seed, DEFAULT_START, duration, brands, tuple(incidents))


def smoke(seed: int = 0, weeks: float = 1 / 7) -> Scenario:
    """Small and quick: two small brands, one incident of each kind, for tests."""
    brands = (
        BrandSpec("acme", 0.5, "Europe/Berlin", (("en", 0.6), ("ru", 0.4)), weekend=0.8),
        BrandSpec("tinyshop", 0.05, "Asia/Novosibirsk", (("ru", 1.0),)),
    )
    duration = timedelta(weeks=weeks)
    h = duration / 24  # one "hour" of a one-day run; longer runs stretch the layout
    incidents: list[Incident] = [
        NegativitySpike("acme", 12 * h, multiplier=6.0, duration=40 * _M),
        DeletedComplaint("acme", 5 * h, channel="facebook:acmeofficial"),
        AuthorDeletesOwnPost("acme", 5 * h + 20 * _M, channel="facebook:acmeofficial"),
        ReturningComplainant("acme", 7 * h, lang="ru", channel="vk:club_acme", style="comeback", gap=40 * _M),
        UnansweredComplaint("acme", 10 * h, channel="instagram:@acme", complaints=2, late_by=30 * _M),
        VolumeSurge("acme", 16 * h, multiplier=3.0, duration=40 * _M),
        DeletionBias("tinyshop", 4 * h, channel="vk:club_tinyshop", duration=6 * _H, complaints=6),
        SilentCommunity("tinyshop", 2 * h, channel="telegram:@tinyshop_support", duration=8 * _D),
    ]
    return Scenario("smoke", seed, DEFAULT_START, duration, brands, tuple(incidents))


#: the demo's timetable: minutes after the start at which each incident begins (see :func:`demo`)
DEMO_TIMETABLE: dict[str, float] = {
    "silent_community": 0.5,
    "volume_surge": 1.0,
    "deleted_complaint": 1.0,
    "unanswered_complaint": 1.5,
    "negativity_spike": 2.5,
    "returning_complainant": 3.0,
    "deletion_bias": 3.5,
}

#: the demo's detector settings, per brand: a demo cannot wait an hour for an SLA or a week for a
#: silence, so every time scale is minutes (names and meanings: the ``Settings`` of each detector)
DEMO_DETECTORS: dict[str, dict[str, dict[str, object]]] = {
    "acme": {
        "negativity_spike": {
            "warmup_minutes": 10,
            "windows_minutes": [2, 5],
            "recent_minutes": 3,
            "quiet_minutes": 2,
            "cooldown_minutes": 1,
            # an episode open 5 minutes is learned from again: a baseline learned from a
            # 15-minute backlog is rough, and the real model reads a little more as complaints
            # after it than in it, which would otherwise hold a surge open for good
            "learn_after_minutes": 5,
        },
        "unanswered_complaint": {"sla_minutes": 2, "cooldown_minutes": 1},
        "deleted_complaint": {"resolve_after_hours": 0.1, "reopen_minutes": 1},
        "returning_complainant": {"quiet_hours": 0.05},
        "silent_community": {"enabled": False},
    },
    "globex": {
        "negativity_spike": {
            "warmup_minutes": 10,
            "windows_minutes": [2, 5],
            "recent_minutes": 3,
            "quiet_minutes": 2,
            "cooldown_minutes": 1,
            "learn_after_minutes": 5,
            # its campaign (the surge) must not read as a wave when the rest of its traffic ebbs first
            "share_ratio": 2.5,
        },
        "unanswered_complaint": {"sla_minutes": 2, "cooldown_minutes": 1},
        "deleted_complaint": {"resolve_after_hours": 0.1, "reopen_minutes": 1},
        "deletion_bias": {"window_days": 1, "min_removed": 3, "quiet_hours": 0.05, "cooldown_hours": 0.05},
        "silent_community": {"silent_days": 3 / (24 * 60), "critical_factor": 0},
    },
}


#: the owned channels the demo's webhook pushes arrive on (``devtools/demo_pushes.py``): a VK
#: community and a Facebook Page of acme, spelled by their platform ids as a team's brands file
#: lists them (the connectors know a page only by its id). The simulated world's own channels
#: (``vk:club_acme``) are names, not ids, so the pushes get channels of their own. Only acme:
#: its silent_community detector is off, so a channel that hears from a push only now and then
#: raises no silence alert (globex's would).
DEMO_PUSH_GROUP_ID = 218000123
DEMO_PUSH_PAGE_ID = "104000000000123"
DEMO_PUSH_CHANNELS: dict[str, dict[Platform, tuple[str, ...]]] = {
    "acme": {Platform.VK: (f"vk:club{DEMO_PUSH_GROUP_ID}",), Platform.FACEBOOK: (f"facebook:{DEMO_PUSH_PAGE_ID}",)},
}


def _afternoon_zone(start: datetime) -> str:
    """A fixed-offset zone where ``start`` falls in the early afternoon (13:00-14:00 local): the
    demo's brands are then at their daily peak and at work, whenever the demo is run."""
    offset = (13 - start.astimezone(timezone.utc).hour + 12) % 24 - 12  # -12..+11 hours from UTC
    # POSIX sign convention: Etc/GMT-3 is three hours *ahead* of UTC
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def demo(
    seed: int = 0, weeks: float = 1 / 7, *, start: datetime | None = None, history: timedelta = 15 * _M
) -> Scenario:
    """``make run``: two brands and every incident kind once, on a timetable of minutes.

    ``start`` is when the live part begins (the demo passes wall-clock now and streams in
    real time from there, so the idle policy and SLA timers work as they do live). The world
    begins ``history`` earlier: that backlog goes out at once, and the detectors learn the
    brands' normal traffic from it (the spike detector's warm-up is 10 minutes of it) instead
    of alerting on a cold start. The world then runs on for ``weeks`` of normal traffic (a day
    by default) so the demo can stay open. Time is compressed where the detectors need it, in
    the brands file (:data:`DEMO_DETECTORS`): SLA 2 minutes, silence after 3, spikes that
    resolve after 2 quiet minutes, the removal pattern judged over a day from 3 removals,
    removed complaints closing after 6 minutes. The brands post every minute or so in each
    of their channels (so only the staged silence is one), answer every person's mention in
    them (so whatever the real model reads as a complaint is answered within the SLA), and
    live where it is early afternoon, at the day's peak of traffic.

    Timetable (:data:`DEMO_TIMETABLE`, minutes after ``start``; acme and globex each ~30
    mentions a minute, ~6 of them complaints), and when each alert comes in a backtest:

    * 0.5 ``silent_community`` — globex stops posting and replying in its Telegram support
      chat for 6 minutes: fires 3 minutes later, resolves when it is back (complaints that
      pile up there meanwhile may raise ``unanswered_complaint`` too);
    * 1 ``volume_surge`` — globex's whole traffic 4x for 3 minutes (a campaign): the share of
      complaints does not rise; resolves ~10 minutes in;
    * 1 ``deleted_complaint`` — acme hides a complaint after 40 s and restores it 4 minutes later;
    * 1.5 ``unanswered_complaint`` — two complaints to acme answered 1-2 minutes after the
      2-minute SLA;
    * 2.5 ``negativity_spike`` — acme: 6x its complaint rate for 3 minutes; resolves ~11
      minutes in;
    * 3 ``returning_complainant`` — a complaint acme deleted comes back a minute later from
      the author's second account (its deletion is a ``deleted_complaint`` too);
    * 3.5 ``deletion_bias`` — globex removes all 4 of a run of complaints, each within two
      minutes: fires at the third removal (it does not resolve while the day's window holds them).
    """
    live = (start or DEFAULT_START).astimezone(timezone.utc)
    zone = _afternoon_zone(live)
    local = live.astimezone(ZoneInfo(zone))
    # the daily peak half an hour after the start, to the microsecond: the stream then does not
    # depend on the minute the demo is started at
    peak = (local - local.replace(hour=0, minute=0, second=0, microsecond=0)) / timedelta(hours=1) + 0.5
    often = (0.3 / 60, 1.0 / 60)  # a brand post per owned channel every 18-60 s
    brands = (
        BrandSpec(
            "acme",
            3.0,
            zone,
            (("en", 0.7), ("ru", 0.3)),
            weekend=1.0,
            peak_hour=peak,
            post_gap_hours=often,
            answers_all=True,
        ),
        BrandSpec(
            "globex", 3.0, zone, (("en", 1.0),), weekend=1.0, peak_hour=peak, post_gap_hours=often, answers_all=True
        ),
    )
    at = {k: history + timedelta(minutes=v) for k, v in DEMO_TIMETABLE.items()}
    incidents: tuple[Incident, ...] = (
        SilentCommunity("globex", at["silent_community"], channel="telegram:@globex_support", duration=6 * _M,
                        quiet=3 * _M),
        DeletedComplaint("acme", at["deleted_complaint"], channel="facebook:acmeofficial", lang="en",
                         how=EventType.HIDDEN, visible=40 * _S, restore_after=4 * _M),
        UnansweredComplaint("acme", at["unanswered_complaint"], channel="instagram:@acme", lang="en", complaints=2,
                            spread=30 * _S, late_by=1 * _M, answer_jitter=1 * _M),
        NegativitySpike("acme", at["negativity_spike"], multiplier=6.0, duration=3 * _M, ramp=20 * _S),
        ReturningComplainant("acme", at["returning_complainant"], lang="en", channel="facebook:acmeofficial",
                             style="comeback", visible=40 * _S, gap=1 * _M),
        DeletionBias("globex", at["deletion_bias"], channel="facebook:globexofficial", duration=2 * _M,
                     complaints=4, removed_share=1.0, min_removed=3, window=_D,
                     removal_delay=(30 * _S, 2 * _M)),
        VolumeSurge("globex", at["volume_surge"], multiplier=4.0, duration=3 * _M, ramp=30 * _S),
    )  # fmt: skip
    return Scenario(
        "demo", seed, live - history, history + timedelta(weeks=weeks), brands, incidents, sla=2 * _M,
        detectors=DEMO_DETECTORS, push_channels=DEMO_PUSH_CHANNELS,
    )  # fmt: skip


def _fill_channels(world: World, programme: dict[str, list[Incident]]) -> None:
    """Channel keys in the programme may use ``{video}``: the brand's official video id."""
    for brand, items in programme.items():
        for i, inc in enumerate(items):
            key = getattr(inc, "channel", None)
            if key and "{video}" in key:
                prefix = key.split("{video}")[0]
                match = next(c.key for c in world.channels(brand) if c.key.startswith(prefix))
                items[i] = replace(inc, channel=match)  # type: ignore[call-arg]


SCENARIOS: dict[str, Callable[..., Scenario]] = {"default": default, "smoke": smoke, "demo": demo}


def build_scenario(
    name: str = "default", *, seed: int = 0, weeks: float | None = None, start: datetime | None = None
) -> Scenario:
    """A named scenario; ``start`` (a timezone-aware time) only for ``demo``, which begins whenever asked."""
    try:
        make = SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
    kw: dict[str, object] = {}
    if start is not None:
        if name != "demo":
            raise ValueError(f"scenario {name!r} has a fixed start; only 'demo' takes one")
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        kw["start"] = start
    return make(seed, **kw) if weeks is None else make(seed, weeks, **kw)
