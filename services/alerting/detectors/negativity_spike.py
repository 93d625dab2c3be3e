"""``negativity_spike``: more people complaining than this hour of the week explains.

Scopes: the brand as a whole, and each owned channel (where the brand answers, a wave local to one page
matters even when the brand-wide count hides it). Per scope:

* **Distinct complainants, not posts.** One furious customer posting ten times is one person. Per-minute
  buckets hold, for the last hour, how many negative authors were last seen in each minute (an
  author -> last-minute map moves a returning author to their newest minute), so the number of distinct
  complainants in a trailing window is the sum of its buckets. Each window keeps the sum of its complete
  minutes (updated when a minute closes), so an ordinary event costs O(1): its count is that sum plus the
  current minute's bucket, compared with a per-minute threshold.
* **A learned, seasonal baseline** (:mod:`services.alerting.baseline`): per-minute rates of distinct
  negative authors and of all distinct authors, by hour of week in the brand's time zone (hour of day for
  a channel), shrunk toward hour of day and flat while history is short, forgotten with a half-life of
  weeks, and never learned from minutes inside an open incident (or the spike would become normal). It is
  fixed for each local hour once a scope is a day old. A new scope first learns for ``warmup_minutes``:
  no prior can tell a big brand's ordinary minute from a wave before it has seen one.
* **Window test** in each trailing window (default 2, 5, 15, 60 minutes, the current minute counted as far
  as it has run): the gamma-Poisson predictive (negative binomial) tail P(X >= observed). It holds when
  p <= ``p_value``, at least ``min_authors`` distinct complainants, at least ``min_ratio`` x expected, and
  normal traffic would climb to that count less than ``chance_per_week`` times a week. The last condition
  is the false-alarm budget: the window is re-judged at every complaint, and at one complaint a minute
  p <= 1e-4 alone is reached about twice a week. A window longer than ``recent_minutes`` holds only while
  its recent minutes are still elevated, so an incident neither lingers nor refires on a wave that ended.
* **Build-up tests:** log-likelihood-ratio CUSUMs on minute counts of complainants new in the hour, one
  tuned to a doubling (``cusum_ratio``: slow waves the windows never see) and one to a tripling
  (``fast_cusum_ratio``: a sharp wave at a big brand, sooner than a window can reach 2x). They compare
  against a cautious baseline (mean + ``cusum_z`` sd), so an unsure baseline cannot drift them into alarm.
  Once an incident is open, a CUSUM keeps it alive only while the last hour is still elevated, and the
  CUSUMs restart when the scope's incident resolves or its finding is left to another scope's incident:
  the people who built them were reported, and must not reopen or re-page the wave once it is over.
* **Share guard:** when the authors who did not complain also rose significantly and the negative share
  did not rise by ``share_ratio`` (a campaign, a viral post), the alert is ``volume_surge`` at lower
  severity instead.

Severity: ``warning``; ``critical`` when the count is at least ``critical_ratio`` x expected (from
``critical_min_authors`` people) or exceeds it by ``critical_excess`` people. A ``volume_surge`` is
``info``, or ``warning`` when its complainants alone reach the critical bar. An incident re-notifies only
when its severity rises or its complainant rate (people per minute of the window that holds it) doubles;
it resolves after ``quiet_minutes`` without any test holding; a return within ``cooldown_minutes`` reopens
it (same ``alert_id``). A wave already called a spike stays a spike when all volume joins in.

One wave, one page: a channel reports a wave only when it is its own (the channel's share of the brand's
complainants rose, binomial test) and the brand has no incident of that kind; the brand defers to a
channel's incident that holds most of its complainants; the brand alert names its top channels. An
incident in either blocks learning in both.

Time: buckets follow the brand's watermark minute by minute. An event older than the watermark but
within the hour goes into its own minute's bucket (the windows see it; the baseline and CUSUM already
closed that minute); older ones are ignored. Redelivered events change nothing: an author already seen
at that minute is not counted again, and mention ids are remembered for an hour for the mention count.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, ClassVar

from pydantic import Field, field_validator

from services.alerting import incidents
from services.alerting.baseline import (
    Estimate,
    SeasonalRates,
    binom_logsf,
    epoch_minute,
    local_slot,
    minute_start,
    nb_logpmf,
    nb_logsf,
)
from services.alerting.incidents import Episode, EpisodePolicy
from services.alerting.types import BrandView, DetectorSettings, Observation
from shared.schemas import (
    Alert,
    AlertEvidence,
    AlertKind,
    AlertStatus,
    EventType,
    EvidenceMention,
    Platform,
    Severity,
)

#: minutes of buckets kept: the longest window
RING = 60
#: an open incident that only a CUSUM still holds stays open while its last hour runs at least this many
#: times expected: below the ~1.44x a doubling-tuned CUSUM needs to grow, so that the ordinary dips of a
#: gentle wave that is still running do not end its incident; an hour back to normal does
_KEEP_ALIVE_RATIO = 1.2
#: with no test holding, an open spike incident stays open while its recent complaints run at least this
#: many times expected (a gentle 1.6x wave does; a plateau just above normal after a spike does not), at 1%
_SUSTAIN_RATIO = 1.4
_LOG_SUSTAIN = math.log(0.01)
_HOUR = timedelta(hours=1)
#: a scope younger than this re-estimates its baseline every minute (its own last minutes matter)
_FRESH_MINUTES = 1440
_MINUTES_PER_WEEK = 7 * 1440
_NEG, _ALL = 0, 1
#: the events whose authors the spike tests count (the evaluation's realised floor counts the same)
COUNTED_EVENTS = (EventType.CREATED, EventType.EDITED)
_SPIKE, _SURGE = AlertKind.NEGATIVITY_SPIKE, AlertKind.VOLUME_SURGE
# the seasonality spread is re-estimated every hour while a scope is young, then four times a day
_TAU_YOUNG_MINUTES = 2 * 1440
_TAU_EVERY_YOUNG = 60
_TAU_EVERY = 360
#: characters of text kept per example (the notification shows a snippet; the URL has the rest)
_EXAMPLE_TEXT = 200
#: a complainant seen again after this many minutes is worth a new example; one posting every minute is not
_EXAMPLE_GAP = 5
#: channels listed in top_channels
_TOP_CHANNELS = 5
#: distinct channels counted per minute in the brand scope (beyond it the rest go uncounted)
_CHANNELS_PER_MINUTE = 200


class NegativitySpikeSettings(DetectorSettings):
    #: trailing event-time windows, minutes (each <= 60: buckets cover the last hour). The issue's 5, 15
    #: and 60, plus 2: a small brand's 4 complainants in two minutes are far rarer than 4 in five
    windows_minutes: tuple[int, ...] = (2, 5, 15, 60)
    #: tail probability under the baseline at or below which a window may be anomalous
    p_value: float = Field(default=1e-4, gt=0.0, lt=1.0)
    #: ... and normal traffic must climb to that count in that window less often than this many times a
    #: week (complaints a week x P(one fewer)): the false-alarm budget of one window in one scope. Without
    #: it p <= 1e-4, judged at every complaint, pages ~2 times a week at one complaint a minute; with it
    #: brands of 2/hour to 5/minute measured 0.1-0.2 false alerts per brand-week (0.05 gave 0.1-0.3)
    chance_per_week: float = Field(default=0.02, gt=0.0)
    #: a window longer than this holds only while its last this-many minutes are still elevated ...
    recent_minutes: int = Field(default=15, ge=1)
    #: ... by at least this factor over expected: a wave that ended 20 minutes ago is over, even if the
    #: 60-minute window still holds it
    recent_ratio: float = Field(default=1.5, ge=1.0)
    #: fewest distinct complainants that can make a wave (two people are a coincidence)
    min_authors: int = Field(default=3, ge=1)
    #: the window must hold at least this many times the expected count (a significant +20% is no wave)
    min_ratio: float = Field(default=2.0, ge=1.0)
    #: rise in the complaint rate the slow CUSUM is tuned to (sustained waves from ~1.45x add up)
    cusum_ratio: float = Field(default=2.0, gt=1.0)
    #: alarm level of the slow CUSUM, in log-likelihood-ratio units (e^12 ~ 160,000): about 0.1 false
    #: alarms per scope-week or fewer on Poisson traffic of 0.5-20 complaints a minute (simulated)
    cusum_h: float = Field(default=12.0, gt=0.0)
    #: rise the fast CUSUM is tuned to (the issue's 3x waves); 1 or less switches it off
    fast_cusum_ratio: float = Field(default=3.0, ge=0.0)
    #: alarm level of the fast CUSUM (at most ~0.03 false alarms per scope-week, simulated likewise)
    fast_cusum_h: float = Field(default=12.0, gt=0.0)
    #: the CUSUMs compare against mean + z standard deviations of the baseline rate, so an uncertain
    #: (young, or unseen hour) baseline makes them cautious instead of alarming on estimation error
    cusum_z: float = Field(default=1.5, ge=0.0)
    #: a rise of all volume is a volume_surge unless the negative share rose above this times its usual;
    #: and a channel's wave is its own (not the brand's) when its share of the brand's complainants rose
    #: above this times its usual ...
    share_ratio: float = Field(default=1.5, ge=1.0)
    #: ... with a binomial tail at most this (only decides which scope reports a wave already significant)
    local_p_value: float = Field(default=0.01, gt=0.0, lt=1.0)
    #: critical when observed >= this times expected ...
    critical_ratio: float = Field(default=5.0, gt=1.0)
    #: ... (the ratio counts only from this many complainants: 3 people where 0.1 were expected is worth
    #: a look, not a page at night) ...
    critical_min_authors: int = Field(default=10, ge=1)
    #: ... or when this many more people complained than expected
    critical_excess: int = Field(default=50, ge=1)
    #: minutes without any test holding before an incident resolves
    quiet_minutes: int = Field(default=15, ge=1)
    #: minutes after resolution in which a return reopens the same incident instead of paging anew
    cooldown_minutes: int = Field(default=30, ge=0)
    #: re-notify when the complainant rate grew by this factor since the last notification
    escalate_factor: float = Field(default=2.0, gt=1.0)
    #: minutes a new scope only learns before it may alert (its first minutes are its only evidence)
    warmup_minutes: int = Field(default=30, ge=0)
    #: cold-start prior: distinct complainants per minute ...
    prior_negatives_per_minute: float = Field(default=0.2, gt=0.0)
    #: ... distinct authors of any sentiment per minute (a share prior of 20% negative) ...
    prior_authors_per_minute: float = Field(default=1.0, gt=0.0)
    #: ... with the weight of this many minutes of data (weak: ten minutes of a real brand outweigh it)
    prior_weight_minutes: float = Field(default=10.0, gt=0.0)
    #: the baseline forgets with this half-life (long enough to learn a weekly profile, short enough to
    #: follow a brand that grows)
    half_life_days: float = Field(default=21.0, gt=0.0)
    #: an incident open longer than this is learned from again: a lasting change of level then becomes the
    #: new normal (over days, at this half-life) instead of an incident that never ends
    learn_after_minutes: int = Field(default=360, ge=1)
    #: owned channels tracked per brand; the least recently active one without an incident is evicted
    max_channels: int = Field(default=50, ge=0)
    #: authors (and mention ids) remembered per scope within the hour; beyond it an author counts each
    #: time (counts err upward). Bounds the state of a very busy brand
    max_authors: int = Field(default=20_000, ge=100)
    #: example mentions per alert
    examples: int = Field(default=10, ge=0, le=20)

    @field_validator("windows_minutes")
    @classmethod
    def _windows(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v:
            raise ValueError("at least one window")
        if any(w < 1 or w > RING for w in v):
            raise ValueError(f"windows must be 1..{RING} minutes, got {list(v)}")
        return tuple(sorted(set(v)))


# --- state ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Prep:
    """What the tests need during one minute: a pure function of the scope at that minute (not dumped)."""

    minute: int
    est: Estimate
    #: cautious rate for the CUSUMs
    upper: float
    #: per window: (complete minutes in the previous local hour, complete minutes in the current one)
    spans: list[tuple[int, int]]
    #: per window: expected complainants in its complete minutes
    base: list[float]
    #: per window: fewest complainants worth a closer look (min_authors, min_ratio x expected at f=0)
    floors: list[int]
    #: fewest new complainants this minute that could lift a CUSUM to its alarm level
    need_new: int


@dataclass(slots=True)
class _Scope:
    """The brand, or one owned channel. Bounded: 4 x 60 buckets, author maps of at most the last two hours
    (swept every hour, capped by max_authors), an examples ring, fixed-size baseline arrays (168 slots for
    the brand, 24 for a channel), at most 2 episodes."""

    platform: str | None
    channel: str | None
    first: int
    cur: int
    slot: int
    hour_start: int
    rates: SeasonalRates
    last_active: int
    tau_at: int
    #: the expectation in force: fixed for a local hour once the scope is a day old (so a wave within the
    #: hour is judged against what the hour was expected to be), refreshed every minute before that
    est: Estimate
    est_at: int
    #: complainants per minute the previous local hour was expected at (windows reaching back into it)
    mu_prev: float
    neg_last: dict[str, int] = field(default_factory=dict)
    all_last: dict[str, int] = field(default_factory=dict)
    #: distinct negative authors by the minute they were last seen
    neg: list[int] = field(default_factory=lambda: [0] * RING)
    #: negative authors not seen in the hour before, by minute (what the CUSUMs count)
    new: list[int] = field(default_factory=lambda: [0] * RING)
    #: distinct negative mentions by minute
    ment: list[int] = field(default_factory=lambda: [0] * RING)
    #: distinct authors of any sentiment by the minute they were last seen
    allb: list[int] = field(default_factory=lambda: [0] * RING)
    #: brand scope only: negative mentions per channel by minute
    chans: list[dict[str, int]] | None = None
    #: recent complainants: (minute, mention_id, platform, channel, url, author, at, text, p_negative)
    examples: deque[tuple[Any, ...]] = field(default_factory=deque)
    #: per CUSUM arm: [statistic, run start minute (-1: none), new complainants in run, expected in run]
    cusum: list[list[Any]] = field(default_factory=list)
    episodes: dict[AlertKind, Episode] = field(default_factory=dict)
    # derived from the buckets (recomputed on load)
    closed: list[int] = field(default_factory=list)
    prep: _Prep | None = None
    #: smallest current-minute bucket at which some window reaches its floor (None: recompute)
    need: int | None = None


@dataclass(slots=True)
class NegativitySpikeState:
    #: the brand's current minute (epoch minutes) and newest time
    cur: int | None = None
    now: datetime | None = None
    brand: _Scope | None = None
    #: "platform:channel" -> scope, at most max_channels
    channels: dict[str, _Scope] = field(default_factory=dict)
    #: negative mention keys of the last hour -> minute (for the mention count; capped like authors)
    seen: dict[str, int] = field(default_factory=dict)
    # start of the current and of the next minute (derived: spares a timestamp per event)
    cur_at: datetime | None = None
    next_at: datetime | None = None


@dataclass(slots=True)
class _Finding:
    kind: AlertKind
    severity: Severity
    #: "window", "cusum" or "fast_cusum"
    test: str
    start: int
    minutes: float
    observed: int
    expected: float
    log_p: float | None
    score: float | None
    level: str
    #: complainants per minute of the window's nominal length (a run's length for a CUSUM): what
    #: escalation compares. Nominal, not elapsed, so that the same count reads the same early in a minute
    rate: float
    #: window tests: how often a week normal traffic would reach this count by chance
    chance: float | None = None
    total: int | None = None
    total_expected: float | None = None


# --- the detector --------------------------------------------------------------------------------------------


class NegativitySpikeDetector:
    name: ClassVar[str] = "negativity_spike"
    kinds: ClassVar[tuple[AlertKind, ...]] = (AlertKind.NEGATIVITY_SPIKE, AlertKind.VOLUME_SURGE)
    Settings: ClassVar[type[DetectorSettings]] = NegativitySpikeSettings
    STATE_VERSION: ClassVar[int] = 2

    def __init__(self, settings: NegativitySpikeSettings | None = None) -> None:
        s = settings or NegativitySpikeSettings()
        self.settings = s
        self._windows = s.windows_minutes
        self._log_p = math.log(s.p_value)
        self._log_chance = math.log(s.chance_per_week)
        self._log_local = math.log(s.local_p_value)
        self._growth = 2.0 ** (1.0 / (s.half_life_days * 1440.0))
        self._priors = (s.prior_negatives_per_minute, s.prior_authors_per_minute)
        arms = [("cusum", s.cusum_ratio, s.cusum_h)]
        if s.fast_cusum_ratio > 1.0:
            arms.append(("fast_cusum", s.fast_cusum_ratio, s.fast_cusum_h))
        # (name, log r, r - 1, h, cap): capped so that the statistic falls below h soon after a wave ends
        self._arms = [(n, math.log(r), r - 1.0, h, 1.5 * h) for n, r, h in arms]
        self._policy = EpisodePolicy(
            quiet=timedelta(minutes=s.quiet_minutes),
            cooldown=timedelta(minutes=s.cooldown_minutes),
            escalate_factor=s.escalate_factor,
        )
        self._enabled = s.enabled
        self._warmup = s.warmup_minutes
        self._learn_after = timedelta(minutes=s.learn_after_minutes)
        self._recent = min(RING, s.recent_minutes)
        # (complete minutes before, after the local hour began) per window, by minutes into the hour
        self._span_table = [[(max(0, w - 1 - u), min(w - 1, u)) for w in self._windows] for u in range(RING)]
        self._cap = s.max_authors
        self._channels_on = s.max_channels > 0
        # settings the per-event and per-minute paths read (an attribute of the detector, not of a model)
        self._backs = tuple(w - 1 for w in self._windows)
        self._cusum_z = s.cusum_z
        self._min_ratio = s.min_ratio
        self._min_authors = s.min_authors

    # -- protocol --

    def new_state(self) -> NegativitySpikeState:
        return NegativitySpikeState()

    def active(self, state: NegativitySpikeState) -> int:
        return sum(1 for sc in _scopes(state) for ep in sc.episodes.values() if ep.is_open)

    def observe(self, state: NegativitySpikeState, obs: Observation, brand: BrandView) -> list[Alert]:
        if not self._enabled:
            return []
        out: list[Alert] = []
        wm = obs.watermark
        next_at = state.next_at
        # one datetime comparison for an event within the current minute; epoch minutes only when it ends
        if next_at is None or wm >= next_at:
            c = epoch_minute(wm)
            if state.cur is None:
                state.brand = self._new_scope(None, None, c, brand, brand_scope=True)
                self._set_clock(state, c, wm.tzinfo)
            elif c > state.cur:
                self._tick(state, c, brand, out, wm.tzinfo)
            elif next_at is None:
                self._set_clock(state, state.cur, wm.tzinfo)
        now = state.now
        if now is None or wm > now:
            state.now = now = wm
        m = obs.event.mention
        if m.author_is_brand or m.event_type not in COUNTED_EVENTS:
            return out
        c, b, cur_at = state.cur, state.brand, state.cur_at
        assert c is not None and b is not None and cur_at is not None
        at = m.occurred_at
        if at >= cur_at:
            em = c  # the usual case; a date past the watermark cannot be, and is not indexed as the future
        else:
            em = epoch_minute(at)
            if em <= c - RING:
                return out  # older than every window
        platform = m.platform
        # platform names hold no ":", so "platform:id" keys never collide (and JSON keeps them short)
        author = platform + ":" + m.author_id
        sc = None
        if obs.owned and self._channels_on:
            sc = state.channels.get(platform + ":" + m.channel)
            if sc is None or sc.cur < c:
                sc = self._channel(state, platform, m.channel, c, brand)
            else:
                sc.last_active = c
        if not obs.negative:
            # _add_author, written out for the brand (most events end here: one lookup when the author was
            # already counted at this minute)
            last = b.all_last
            prev = last.get(author)
            if prev is None or prev < em:
                self._add_author(b, em, author, c)
            if sc is not None:
                last = sc.all_last
                prev = last.get(author)
                if prev is None or prev < em:
                    self._add_author(sc, em, author, c)
            return out
        key = platform + ":" + m.mention_id
        seen = state.seen
        fresh = key not in seen
        if fresh and len(seen) < self._cap:
            seen[key] = em
        grew_b = self._add_complaint(b, em, author, fresh, m.channel, c)
        grew_c = self._add_complaint(sc, em, author, fresh, m.channel, c) if sc is not None else 0
        if grew_b == 2 or grew_c == 2:
            # one shared record per complaint, kept by the scopes that want a new example
            s = obs.event.sentiment
            example = (
                em,
                m.mention_id,
                str(platform),
                m.channel,
                m.url,
                m.author_id,
                at,
                m.text[:_EXAMPLE_TEXT],
                s.negative if s is not None else None,
            )
            if grew_b == 2 and b.examples.maxlen:
                b.examples.append(example)
            if grew_c == 2 and sc is not None and sc.examples.maxlen:
                sc.examples.append(example)
        if grew_b and self._worth_a_look(b, c, now):
            self._check(state, b, c, brand, out)
        if grew_c and sc is not None and self._worth_a_look(sc, c, now):
            self._check(state, sc, c, brand, out)
        return out

    def advance(self, state: NegativitySpikeState, now: datetime, brand: BrandView) -> list[Alert]:
        if not self._enabled or state.cur is None:
            return []
        out: list[Alert] = []
        c = epoch_minute(now)
        if c > state.cur:
            self._tick(state, c, brand, out, now.tzinfo)
        if state.now is None or now > state.now:
            state.now = now
        return out

    # -- time --

    def _set_clock(self, state: NegativitySpikeState, c: int, tz: tzinfo | None) -> None:
        # The minute's bounds carry the events' own tzinfo: datetimes with the same tzinfo object compare
        # field by field, with different ones through utcoffset() on both (a pydantic-parsed event
        # against a timezone.utc bound costs ~20x more, twice per event)
        state.cur = c
        state.cur_at = datetime.fromtimestamp(c * 60, tz or timezone.utc)
        state.next_at = datetime.fromtimestamp((c + 1) * 60, tz or timezone.utc)

    def _new_scope(
        self, platform: str | None, channel: str | None, c: int, brand: BrandView, *, brand_scope: bool
    ) -> _Scope:
        tz = brand.config.timezone
        slot, hs = local_slot(c, tz)
        # a channel carries a share of the brand's traffic: an hour-of-week profile of it would stay
        # mostly prior, and 168 slots per channel would dominate the state; hour of day is learnable
        rates = SeasonalRates(2, weekly=brand_scope)
        est = self._estimate(rates, _NEG, slot)
        sc = _Scope(
            platform=platform,
            channel=channel,
            first=c,
            cur=c,
            slot=slot,
            hour_start=hs,
            rates=rates,
            last_active=c,
            tau_at=c,
            est=est,
            est_at=c,
            mu_prev=est.mean,
            chans=[{} for _ in range(RING)] if brand_scope else None,
            examples=deque(maxlen=self._ring_size(brand_scope)),
            cusum=[[0.0, -1, 0, 0.0] for _ in self._arms],
        )
        sc.closed = [0] * len(self._windows)
        return sc

    def _ring_size(self, brand_scope: bool) -> int:
        # the brand scope sees every channel's complainants: keep twice the examples to choose from
        n = self.settings.examples
        return 2 * n if brand_scope else n

    def _tick(self, state: NegativitySpikeState, c: int, brand: BrandView, out: list[Alert], tz: tzinfo | None) -> None:
        """The brand's clock reached minute ``c``: close minutes where incidents need watching.

        Channel scopes without episodes catch up when their next event comes: nothing changes in them in
        between but exposure, which catching up adds the same way.
        """
        b = state.brand
        assert b is not None
        self._roll(state, b, c, brand, out)
        chans = state.channels
        if chans:
            # while the brand is in an incident its channels must not learn those minutes either: close
            # them now. (Rolling one channel never changes another's episodes, so the list is taken first.)
            if any(ep.resolved_at is None for ep in b.episodes.values()):
                rolling = list(chans.values())
            else:
                rolling = [sc for sc in chans.values() if sc.episodes]
            for sc in rolling:
                self._roll(state, sc, c, brand, out)
        self._set_clock(state, c, tz)
        seen = state.seen
        horizon = c - RING
        while seen:
            k = next(iter(seen))
            if seen[k] > horizon:
                break
            del seen[k]

    def _roll(self, state: NegativitySpikeState, sc: _Scope, c: int, brand: BrandView, out: list[Alert]) -> None:
        """Bring the scope to minute ``c``: learn, run the CUSUMs, age the buckets; while it has incidents,
        judge them at every minute boundary (so a quiet period ends on time even without events)."""
        tz = brand.config.timezone
        while sc.cur < c:
            if sc.episodes:
                self._close(state, sc, tz)
                self._review(state, sc, sc.cur, brand, out)
                continue
            # only the current minute can hold counts; every later one is empty by construction
            if sc.allb[sc.cur % RING]:
                self._close(state, sc, tz)
            if sc.cur < c:
                self._drift(state, sc, c, tz)
            return

    def _close(self, state: NegativitySpikeState, sc: _Scope, tz: str) -> None:
        """Close minute ``sc.cur``: CUSUM step, learn it (unless inside an incident), age buckets by one."""
        m = sc.cur
        i = m % RING
        x_new = sc.new[i]
        cusum = sc.cusum
        if (x_new or cusum[0][0] > 0.0 or cusum[-1][0] > 0.0) and m - sc.first >= self._warmup:
            p = sc.prep
            if p is not None and p.minute == m:
                up, mu = p.upper, p.est.mean
            else:
                est = self._expect(sc, m)
                up, mu = est.upper(self._cusum_z), est.mean
            for arm, (_, lr, d, _h, cap) in zip(cusum, self._arms, strict=True):
                v = arm[0] + x_new * lr - d * up
                if v <= 0.0:
                    arm[0], arm[1], arm[2], arm[3] = 0.0, -1, 0, 0.0
                else:
                    arm[0] = v if v < cap else cap
                    if arm[1] < 0:
                        arm[1] = m
                    arm[2] += x_new
                    arm[3] += mu
        neg, allb = sc.neg, sc.allb
        if self._blocked(state, sc, m):
            sc.rates.skip(1, self._growth)
        else:
            sc.rates.learn(sc.slot, (neg[i], allb[i]), self._growth)
        # age the buckets by one minute (see _age): minute m joins the windows' complete parts, minute
        # m - w + 1 leaves each window, and the slot of minute m + 1 (which held m - 59) is emptied
        x = neg[i]
        closed = sc.closed
        for wi, back in enumerate(self._backs):
            closed[wi] += x - neg[(m - back) % RING]
        j = (m + 1) % RING
        if neg[j] or allb[j] or sc.new[j] or sc.ment[j]:
            neg[j] = sc.new[j] = sc.ment[j] = allb[j] = 0
        chans = sc.chans
        if chans is not None and chans[j]:
            chans[j] = {}
        sc.need = None
        sc.cur = m + 1
        self._set_hour(sc, m + 1, tz)

    def _drift(self, state: NegativitySpikeState, sc: _Scope, c: int, tz: str) -> None:
        """Minutes ``sc.cur`` .. ``c - 1`` hold no events and no incident runs: close them a local hour at a
        time (exposure and CUSUM drift in closed form), in O(hours + buckets) instead of O(minutes)."""
        growth = self._growth
        z = self.settings.cusum_z
        m0 = m = sc.cur
        warm_at = sc.first + self._warmup
        while m < c:
            slot, hs = local_slot(m, tz)
            end = min(c, hs + 60)
            n = end - m
            if m >= warm_at and (sc.cusum[0][0] > 0.0 or sc.cusum[-1][0] > 0.0):  # one or two arms
                est = self._estimate(sc.rates, _NEG, slot)
                up = est.upper(z)
                for arm, (_, _lr, d, _h, _cap) in zip(sc.cusum, self._arms, strict=True):
                    v = arm[0] - d * up * n
                    if v <= 0.0:
                        arm[0], arm[1], arm[2], arm[3] = 0.0, -1, 0, 0.0
                    else:
                        arm[0] = v
                        arm[3] += est.mean * n
            if self._blocked(state, sc, m):
                sc.rates.skip(n, growth)
            else:
                sc.rates.learn_empty(slot, n, growth)
            m = end
        self._age(sc, m0, c - m0)
        sc.cur = c
        self._set_hour(sc, c, tz)

    def _age(self, sc: _Scope, m: int, k: int) -> None:
        """Move the buckets from minute ``m`` to ``m + k``: minutes join the windows' complete parts, leave
        the windows, leave the hour."""
        sc.need = None
        if k >= RING:
            sc.neg = [0] * RING
            sc.new = [0] * RING
            sc.ment = [0] * RING
            sc.allb = [0] * RING
            if sc.chans is not None:
                sc.chans = [{} for _ in range(RING)]
            sc.closed = [0] * len(self._windows)
            return
        neg, new, ment, allb, closed, chans = sc.neg, sc.new, sc.ment, sc.allb, sc.closed, sc.chans
        if k == 1:
            x = neg[m % RING]
            for wi, w in enumerate(self._windows):
                # minute m joins the complete part, minute m - w + 1 leaves the window
                closed[wi] += x - neg[(m - w + 1) % RING]
        # the slots being reused (minutes m + 1 .. m + k) held minutes an hour older, which now leave the hour
        lo = (m + 1) % RING
        hi = lo + k
        for ring in (neg, new, ment, allb):
            if hi <= RING:
                ring[lo:hi] = [0] * k
            else:
                ring[lo:] = [0] * (RING - lo)
                ring[: hi - RING] = [0] * (hi - RING)
        if chans is not None:
            for m1 in range(m + 1, m + k + 1):
                j = m1 % RING
                if chans[j]:
                    chans[j] = {}
        if k > 1:
            # minutes after m are empty: each window's complete part holds what it held from its start to m
            top = m + k
            sc.closed = [_ring_sum(neg, top - w + 1, m) for w in self._windows]

    def _set_hour(self, sc: _Scope, m: int, tz: str) -> None:
        slot, hs = local_slot(m, tz)
        if hs == sc.hour_start:
            return
        old_slot = sc.slot
        sc.slot, sc.hour_start = slot, hs
        # authors last seen before the hour count as absent already; drop them once an hour so the maps
        # hold at most two hours of authors (amortised O(1) per author). Rebuilt in one pass, in order: when
        # the sweep runs changes no decision (an absent author and a stale one are both new)
        horizon = m - RING + 1
        sc.all_last = {k: v for k, v in sc.all_last.items() if v >= horizon}
        sc.neg_last = {k: v for k, v in sc.neg_last.items() if v >= horizon}
        every = _TAU_EVERY_YOUNG if m - sc.first < _TAU_YOUNG_MINUTES else _TAU_EVERY
        if m - sc.tau_at >= every:
            sc.rates.refresh(self._priors, self.settings.prior_weight_minutes)
            sc.tau_at = m
        prev_slot = local_slot(hs - 1, tz)[0]
        if prev_slot == old_slot:
            sc.mu_prev = sc.est.mean
        else:  # time jumped over whole hours
            sc.mu_prev = self._estimate(sc.rates, _NEG, prev_slot).mean
        sc.est = self._estimate(sc.rates, _NEG, slot)
        sc.est_at = m

    def _expect(self, sc: _Scope, m: int) -> Estimate:
        """The expectation at the scope's current minute ``m`` (see ``_Scope.est``)."""
        if sc.est_at != m and m - sc.first < _FRESH_MINUTES:
            sc.est = self._estimate(sc.rates, _NEG, sc.slot)
            sc.est_at = m
        return sc.est

    def _blocked(self, state: NegativitySpikeState, sc: _Scope, m: int) -> bool:
        """Minute ``m`` of ``sc`` falls inside an open incident (its own, the brand's for a channel, any
        channel's for the brand) young enough that its counts must not become normal."""
        if sc.episodes and self._in_incident(sc, m):
            return True
        b = state.brand
        if sc is not b:
            return b is not None and bool(b.episodes) and self._in_incident(b, m)
        for ch in state.channels.values():
            if ch.episodes and self._in_incident(ch, m):
                return True
        return False

    def _in_incident(self, sc: _Scope, m: int) -> bool:
        for ep in sc.episodes.values():
            if ep.is_open and m - epoch_minute(ep.started_at) < self.settings.learn_after_minutes:
                return True
        return False

    def _estimate(self, rates: SeasonalRates, series: int, slot: int) -> Estimate:
        return rates.estimate(series, slot, self._priors[series], self.settings.prior_weight_minutes)

    # -- events --

    def _channel(
        self, state: NegativitySpikeState, platform: str, channel: str, c: int, brand: BrandView
    ) -> _Scope | None:
        key = platform + ":" + channel
        chans = state.channels
        sc = chans.get(key)
        if sc is None:
            if len(chans) >= self.settings.max_channels:
                victim = None
                for k, other in chans.items():
                    if not other.episodes and (victim is None or other.last_active < chans[victim].last_active):
                        victim = k
                if victim is None:
                    return None  # every tracked channel is in an incident: the brand scope still counts it
                del chans[victim]
            sc = chans[key] = self._new_scope(str(platform), channel, c, brand, brand_scope=False)
        elif sc.cur < c:
            self._roll(state, sc, c, brand, [])
        sc.last_active = c
        return sc

    def _add_author(self, sc: _Scope, em: int, author: str, c: int) -> None:
        """Count an author of any sentiment at minute ``em`` (for the share guard)."""
        last = sc.all_last
        prev = last.get(author)
        if prev is None:
            if len(last) < self._cap or _sweep(last, c - RING + 1, self._cap):
                last[author] = em
            sc.allb[em % RING] += 1
        elif prev < em:
            if prev <= c - RING:
                # back after an hour: new again. Re-inserted, so that the map's order is the order in which
                # authors last became new whether or not the stale entry had been swept (dumps leave stale
                # entries out, and a restored map must grow exactly like the one it was dumped from)
                del last[author]
            else:
                sc.allb[prev % RING] -= 1
            last[author] = em
            sc.allb[em % RING] += 1

    def _add_complaint(self, sc: _Scope, em: int, author: str, fresh: bool, channel: str, c: int) -> int:
        """Count a complaint: 0 when no window's count of distinct complainants grew, 1 when one did,
        2 when it did and the complaint is worth keeping as an example."""
        self._add_author(sc, em, author, c)
        i = em % RING
        if fresh:
            sc.ment[i] += 1
            per = sc.chans[i] if sc.chans is not None else None
            if per is not None:
                if channel in per:
                    per[channel] += 1
                elif len(per) < _CHANNELS_PER_MINUTE:
                    per[channel] = 1
        last = sc.neg_last
        prev = last.get(author)
        if prev is None or prev <= c - RING:
            if prev is not None:
                del last[author]  # re-inserted below, as in _add_author
                last[author] = em
            elif len(last) < self._cap or _sweep(last, c - RING + 1, self._cap):
                last[author] = em
            sc.neg[i] += 1
            sc.new[i] += 1
            if em < c:
                self._late(sc, em, c, 1)
            return 2
        if prev >= em:
            return 0  # seen at this minute or later already (a redelivery, or a late post of a known person)
        sc.neg[prev % RING] -= 1
        sc.neg[i] += 1
        last[author] = em
        self._late(sc, prev, c, -1)
        if em < c:
            self._late(sc, em, c, 1)
        # did the complainant enter a window they were not in?
        for w in self._windows:
            if prev <= c - w < em:
                # one back after a while is worth showing again; one posting every minute is not
                return 2 if em - prev >= _EXAMPLE_GAP else 1
        return 0

    def _late(self, sc: _Scope, mm: int, c: int, delta: int) -> None:
        """A complete minute's bucket changed: fix the windows' complete parts that hold it."""
        closed = sc.closed
        for wi, w in enumerate(self._windows):
            if mm > c - w:
                closed[wi] += delta
        sc.need = None

    def _worth_a_look(self, sc: _Scope, c: int, t: datetime) -> bool:
        """A few integer comparisons for an ordinary event: could any test hold now?"""
        if c - sc.first < self._warmup:
            return False
        p = sc.prep
        if p is None or p.minute != c:
            p = self._prep(sc, c)
        for ep in sc.episodes.values():
            if ep.resolved_at is None:
                return True  # an open incident wants to hear about escalation
        need = sc.need
        if need is None:
            for fl, n in zip(p.floors, sc.closed, strict=True):
                if need is None or fl - n < need:
                    need = fl - n
            sc.need = need
        i = c % RING
        x = sc.neg[i]
        f = -1.0
        if x >= need:  # type: ignore[operator]
            # a floor is passed at the start of the minute; the expected count grows as the minute runs
            f = _fraction(t, c)
            ratio, mu = self._min_ratio, p.est.mean
            for closed, floor, base in zip(sc.closed, p.floors, p.base, strict=True):
                n = closed + x
                if n >= floor and n >= ratio * (base + mu * f):
                    return True
        x_new = sc.new[i]
        if x_new >= p.need_new:
            if f < 0.0:
                f = _fraction(t, c)
            drift = p.upper * f
            for arm, (_, lr, d, h, _cap) in zip(sc.cusum, self._arms, strict=True):
                if arm[0] + x_new * lr - d * drift >= h:
                    return True
        return False

    # -- tests --

    def _prep(self, sc: _Scope, m: int) -> _Prep:
        """Per-minute expectations and thresholds of the scope at its current minute ``m``."""
        est = self._expect(sc, m)
        mu, mu_prev = est.mean, sc.mu_prev
        min_authors, ratio = self._min_authors, self._min_ratio
        if m - sc.first >= RING:
            spans = self._span_table[m - sc.hour_start]
        else:
            spans = [_spans(max(m - w + 1, sc.first), m, sc.hour_start) for w in self._windows]
        base = []
        floors = []
        for n_prev, n_cur in spans:
            low = mu_prev * n_prev + mu * n_cur
            base.append(low)
            fl = math.ceil(ratio * low - 1e-9)
            floors.append(fl if fl > min_authors else min_authors)
        upper = est.upper(self._cusum_z)
        need_new = 0
        for ai, (arm, (_, lr, _d, h, _cap)) in enumerate(zip(sc.cusum, self._arms, strict=True)):
            v = math.ceil((h - arm[0]) / lr - 1e-9)
            if v < 0:
                v = 0
            if ai == 0 or v < need_new:
                need_new = v
        p = sc.prep = _Prep(m, est, upper, spans, base, floors, need_new)
        sc.need = None
        return p

    def _check(self, state: NegativitySpikeState, sc: _Scope, c: int, brand: BrandView, out: list[Alert]) -> None:
        """A count rose past a floor, or an incident is open: fire or escalate if a test holds."""
        s = self.settings
        t = state.now
        assert t is not None
        f = _fraction(t, c)
        p = sc.prep
        assert p is not None
        open_eps = [ep for ep in sc.episodes.values() if ep.is_open]
        i = c % RING
        if open_eps:
            # only news matters: a rate doubled, or the critical bar passed
            level = max(ep.level for ep in open_eps)
            bar = s.escalate_factor * level
            below_critical = any(ep.severity is not Severity.CRITICAL for ep in open_eps)
            x = sc.neg[i]
            maybe = False
            mu = p.est.mean
            for w, closed, base in zip(self._windows, sc.closed, p.base, strict=True):
                n = closed + x
                if n / w >= bar or (below_critical and self._critical(n, base + mu * f)):
                    maybe = True
                    break
            if not maybe:
                x_new = sc.new[i]
                for arm in sc.cusum:
                    if arm[1] >= 0 and (arm[2] + x_new) / max(1.0, c - arm[1] + f) >= bar:
                        maybe = True
                        break
            if not maybe:
                return
        finding = self._assess(sc, c, f, brand)
        if finding is not None:
            self._fire(state, sc, finding, t, c, f, brand, out)

    def _assess(self, sc: _Scope, c: int, f: float, brand: BrandView) -> _Finding | None:
        """Every test at minute ``c`` + fraction ``f``: the strongest one that holds, classified."""
        s = self.settings
        if c - sc.first < self._warmup:
            return None
        p = sc.prep
        if p is None or p.minute != c:
            p = self._prep(sc, c)
        est = p.est
        mu = est.mean
        shape = est.shape
        log_week = math.log(mu * _MINUTES_PER_WEEK)
        x = sc.neg[c % RING]
        best: tuple[float, int, int, float, float] | None = None
        for wi, (closed, floor, base) in enumerate(zip(sc.closed, p.floors, p.base, strict=True)):
            n = closed + x
            if n < floor:
                continue
            exp = base + mu * f
            if n < s.min_ratio * exp:
                continue
            # every condition must hold and none has side effects: the cheap one (a log pmf) goes first,
            # and the tail is summed only as far as deciding needs (exactly, where it may be reported)
            chance = log_week + nb_logpmf(n - 1, exp, shape)
            if chance > self._log_chance:
                continue
            lp = nb_logsf(n, exp, shape, stop_above=self._log_p)
            if lp > self._log_p or (best is not None and lp >= best[0]):
                continue
            if self._windows[wi] > self._recent and not self._still_running(sc, c, f, mu):
                continue
            best = (lp, wi, n, exp, chance)
        if best is not None:
            lp, wi, n, exp, chance = best
            n_prev, n_cur = p.spans[wi]
            minutes = n_prev + n_cur + f
            finding = _Finding(
                kind=_SPIKE,
                severity=Severity.WARNING,
                test="window",
                start=max(c - self._windows[wi] + 1, sc.first),
                minutes=minutes,
                observed=n,
                expected=exp,
                log_p=lp,
                score=None,
                level=est.level,
                rate=n / self._windows[wi],
                chance=math.exp(chance),
            )
        else:
            x_new = sc.new[c % RING]
            top: tuple[float, int] | None = None
            for ai, (arm, (_, lr, d, h, _cap)) in enumerate(zip(sc.cusum, self._arms, strict=True)):
                stat = arm[0] + x_new * lr - d * p.upper * f
                if stat >= h and (top is None or stat / h > top[0] / self._arms[top[1]][3]):
                    top = (stat, ai)
            if top is None:
                return None
            if any(ep.is_open for ep in sc.episodes.values()) and not self._still_running(
                sc, c, f, mu, RING, _KEEP_ALIVE_RATIO
            ):
                # A CUSUM keeps an open incident (of either kind) alive only while complaints still run above
                # normal over the last hour: its statistic is capped at 1.5 h and falls by the expected rate a
                # minute, so at a small scope it stayed above h for up to 14 h after a wave ended (make
                # eval-alerts), and the incident with it. Its first alarm needs no such check (a slow build-up
                # is the point).
                return None
            stat, ai = top
            arm = sc.cusum[ai]
            start = arm[1] if arm[1] >= 0 else c
            minutes = c - start + f
            n = arm[2] + x_new
            if n < s.min_authors:
                return None
            finding = _Finding(
                kind=_SPIKE,
                severity=Severity.WARNING,
                test=self._arms[ai][0],
                start=start,
                minutes=minutes,
                observed=n,
                expected=arm[3] + mu * f,
                log_p=None,
                score=stat,
                level=est.level,
                rate=n / max(1.0, minutes),
            )
        critical = self._critical(finding.observed, finding.expected)
        if critical:
            finding.severity = Severity.CRITICAL
        self._share_guard(sc, finding, c, f, critical, brand.config.timezone)
        return finding

    def _still_running(
        self, sc: _Scope, c: int, f: float, mu: float, minutes: int | None = None, ratio: float | None = None
    ) -> bool:
        """A long window also holds minutes of a wave that is over: only count it while its last
        ``recent_minutes`` (or ``minutes``) are still elevated by ``recent_ratio`` (or ``ratio``), so an
        incident neither lingers nor refires on old data."""
        start = max(c - (minutes or self._recent) + 1, sc.first)
        n = _ring_sum(sc.neg, start, c)
        n_prev, n_cur = _spans(start, c, sc.hour_start)
        r = self.settings.recent_ratio if ratio is None else ratio
        return n > 0 and n >= r * (sc.mu_prev * n_prev + mu * (n_cur + f))

    def _sustained(self, sc: _Scope, ep: Episode, c: int, t: datetime) -> bool:
        """An open spike incident's wave still runs although no test holds at the boundary of minute ``c``.

        A gentle wave (1.6x at a busy brand, 3x at a small one) sits near the CUSUM's break-even: its
        statistic random-walks to zero and the windows need 2x, so for 15 minutes nothing may hold and the
        incident resolved mid-wave, to reopen under the same alert_id minutes later (seen in the unit
        traffic). It stays open while the last hour runs at >= 1.4x expected, significant at p <= 1%, and so
        does the last half hour (so it ends within about half an hour of the wave) and, while the incident is
        younger than an hour, the half hour before that too (a burst of a few minutes fails one half).

        Only for the incident's first ``learn_after_minutes``: past them the baseline learns again, and a
        lasting plateau just above 1.4x must not hold an incident (and swallow the channels' and later
        waves' news) until the baseline catches up, which could take days.
        """
        if c - sc.first < self._warmup or t - ep.started_at >= self._learn_after:
            return False
        p = sc.prep if sc.prep is not None and sc.prep.minute == c else self._prep(sc, c)
        mu, shape = p.est.mean, p.est.shape
        # minute c has just begun (its bucket was emptied by _close): the hour is minutes c-59 .. c-1
        half = RING // 2
        older, recent = self._span(sc, c - RING + 1, c - half - 1, mu), self._span(sc, c - half, c - 1, mu)
        n, exp = older[0] + recent[0], older[1] + recent[1]
        if n <= 0 or n < _SUSTAIN_RATIO * exp or nb_logsf(n, exp, shape, stop_above=_LOG_SUSTAIN) > _LOG_SUSTAIN:
            return False
        halves = (recent,) if t - ep.started_at >= _HOUR else (older, recent)
        return all(k > 0 and k >= _SUSTAIN_RATIO * e for k, e in halves)

    @staticmethod
    def _span(sc: _Scope, lo: int, hi: int, mu: float) -> tuple[int, float]:
        """Complainants in the complete minutes lo..hi (inclusive) and how many were expected there."""
        lo = max(lo, sc.first)
        n_prev, n_cur = _spans(lo, hi + 1, sc.hour_start)
        return _ring_sum(sc.neg, lo, hi), sc.mu_prev * n_prev + mu * n_cur

    def _critical(self, observed: float, expected: float) -> bool:
        s = self.settings
        by_ratio = observed >= s.critical_ratio * expected and observed >= s.critical_min_authors
        return by_ratio or observed - expected >= s.critical_excess

    def _share_guard(self, sc: _Scope, finding: _Finding, c: int, f: float, critical: bool, tz: str) -> None:
        """Everyone else posted more too and the negative share did not rise: a volume_surge (info, or
        warning if its complainants alone are critical)."""
        s = self.settings
        start = max(finding.start, c - RING + 1, sc.first)
        neg_n = _ring_sum(sc.neg, start, c)
        total = _ring_sum(sc.allb, start, c)
        n_prev, n_cur = _spans(start, c, sc.hour_start)
        all_est = self._estimate(sc.rates, _ALL, sc.slot)
        all_prev = self._estimate(sc.rates, _ALL, local_slot(sc.hour_start - 1, tz)[0]).mean
        exp_all = all_prev * n_prev + all_est.mean * (n_cur + f)
        finding.total, finding.total_expected = total, exp_all
        prep = sc.prep
        assert prep is not None
        exp_neg = sc.mu_prev * n_prev + prep.est.mean * (n_cur + f)
        # the authors who did not complain must have risen significantly on their own (not merely by
        # counting the complainants twice); not necessarily 2x, since a CUSUM's run may include calm minutes
        others, exp_others = total - neg_n, exp_all - exp_neg
        if others <= 0 or exp_others <= 0.0 or nb_logsf(others, exp_others, all_est.shape, self._log_p) > self._log_p:
            return
        base_share = prep.est.mean / all_est.mean
        if neg_n / total <= s.share_ratio * base_share:
            finding.kind = _SURGE
            finding.severity = Severity.WARNING if critical else Severity.INFO

    def _local(self, state: NegativitySpikeState, sc: _Scope, finding: _Finding, c: int) -> bool:
        """Is a channel's wave its own, or the brand's wave seen on one of its channels? Its own when the
        channel's share of the brand's complainants in the window rose (binomial test against its usual
        share): a brand-wide wave is the brand scope's to report."""
        b = state.brand
        assert b is not None and sc.prep is not None and b.prep is not None and b.prep.minute == c
        lo = max(finding.start, c - RING + 1, b.first)
        total = _ring_sum(b.neg, lo, c)
        mine = _ring_sum(sc.neg, max(lo, sc.first), c)
        share = min(0.99, sc.prep.est.mean / b.prep.est.mean) if b.prep.est.mean > 0.0 else 0.99
        if total <= 0 or mine < self.settings.share_ratio * share * total:
            return False
        return binom_logsf(mine, total, share) <= self._log_local

    # -- incidents --

    def _fire(
        self,
        state: NegativitySpikeState,
        sc: _Scope,
        finding: _Finding,
        t: datetime,
        c: int,
        f: float,
        brand: BrandView,
        out: list[Alert],
    ) -> AlertKind | None:
        """A test holds: open, escalate or keep alive the matching incident. Returns the kind it fed."""
        eps = sc.episodes
        spike = eps.get(_SPIKE)
        if finding.kind is _SURGE and spike is not None and spike.is_open:
            # a wave already called a spike stays one: all volume joining in does not make it harmless
            finding.kind = _SPIKE
            crit = self._critical(finding.observed, finding.expected)
            finding.severity = Severity.CRITICAL if crit else Severity.WARNING
        kind = finding.kind
        ep = eps.get(kind)
        if sc is not state.brand and (ep is None or not _live(ep, t, self._policy)):
            b = state.brand
            assert b is not None
            same, spike = b.episodes.get(kind), b.episodes.get(_SPIKE)
            if (same is not None and _live(same, t, self._policy)) or (
                kind is _SURGE and spike is not None and _live(spike, t, self._policy)
            ):
                # the brand-wide incident already covers this wave; what built this scope's CUSUMs is reported
                self._restart(sc, c)
                return None
            if b.prep is None or b.prep.minute != c:
                self._prep(b, c)
            if not self._local(state, sc, finding, c):
                return None  # a brand-wide wave: the brand scope reports it
        if sc is state.brand and (ep is None or not _live(ep, t, self._policy)):
            for ch in state.channels.values():
                other = ch.episodes.get(kind)
                if other is not None and _live(other, t, self._policy):
                    # one owned channel's incident already covers this wave if it holds most of it
                    lo = max(finding.start, c - RING + 1)
                    # (the channel may not have caught up to minute c yet: count only what it holds)
                    held = _ring_sum(ch.neg, max(lo, ch.cur - RING + 1), min(c, ch.cur))
                    if 2 * held >= _ring_sum(sc.neg, lo, c):
                        self._restart(sc, c)
                        return None
        ep, status = incidents.trigger(
            ep,
            now=t,
            kind=kind,
            brand=brand.name,
            channel=sc.channel,
            platform=Platform(sc.platform) if sc.platform else None,
            severity=finding.severity,
            level=finding.rate,
            policy=self._policy,
        )
        eps[kind] = ep
        if status is not None:
            out.append(self._alert(sc, ep, status, finding, t, c, f, brand))
        return kind

    def _restart(self, sc: _Scope, c: int) -> None:
        """A finding of this scope was left to another scope's live incident, or its own incident resolved:
        restart its CUSUMs.

        The complainants that built them were that incident's. Kept, the statistic stays high after the
        wave ends, and once the other incident no longer holds most of the last hour this scope would page
        the same wave again as a new "build-up" (the usual CUSUM rule: restart after a signal).
        """
        for arm in sc.cusum:
            arm[0], arm[1], arm[2], arm[3] = 0.0, -1, 0, 0.0
        if sc.prep is not None and sc.prep.minute == c:
            self._prep(sc, c)  # need_new follows the arms

    def _review(self, state: NegativitySpikeState, sc: _Scope, m: int, brand: BrandView, out: list[Alert]) -> None:
        """At the boundary of minute ``m``: keep incidents alive that still hold, calm the others."""
        t = minute_start(m)
        finding = self._assess(sc, m, 0.0, brand)
        fed = self._fire(state, sc, finding, t, m, 0.0, brand, out) if finding is not None else None
        for kind, ep in list(sc.episodes.items()):
            if kind is fed:
                continue
            if ep.is_open:
                if kind is _SPIKE and self._sustained(sc, ep, m, t):
                    incidents.hold(ep)
                    continue
                status = incidents.calm(ep, now=t, policy=self._policy)
                if status is not None:
                    out.append(self._alert(sc, ep, status, None, t, m, 0.0, brand))
                    if not any(e.is_open for e in sc.episodes.values()):
                        # the wave was reported and is over: what it built must not reopen it at the
                        # scope's next ordinary complaint
                        self._restart(sc, m)
            elif incidents.forgettable(ep, now=t, policy=self._policy):
                del sc.episodes[kind]

    # -- alerts --

    def _alert(
        self,
        sc: _Scope,
        ep: Episode,
        status: AlertStatus,
        finding: _Finding | None,
        t: datetime,
        c: int,
        f: float,
        brand: BrandView,
    ) -> Alert:
        if finding is None:
            # a resolution: what the recent minutes hold now
            est = self._expect(sc, c)
            start = max(c - self._recent + 1, sc.first)
            n_prev, n_cur = _spans(start, c, sc.hour_start)
            observed = _ring_sum(sc.neg, start, c)
            expected = sc.mu_prev * n_prev + est.mean * (n_cur + f)
            minutes = n_prev + n_cur + f
            level = est.level
        else:
            start = finding.start
            observed, expected, minutes, level = finding.observed, finding.expected, finding.minutes, finding.level
        lo = max(start, c - RING + 1)
        ment = _ring_sum(sc.ment, lo, c)
        top = self._top_channels(sc, lo, c, ment)
        examples = self._examples(sc, lo) if finding is not None else []
        counts = {
            "distinct_negative_authors": int(observed),
            "window_minutes": max(1, round(minutes)),
            "negative_mentions": ment,
        }
        if finding is not None and finding.total is not None:
            counts["distinct_authors"] = finding.total
        evidence = AlertEvidence(
            mention_ids=[e.mention_id for e in examples],
            counts=counts,
            mentions=examples,
            observed=float(observed),
            expected=expected,
            p_value=math.exp(finding.log_p) if finding is not None and finding.log_p is not None else None,
            score=finding.score if finding is not None else None,
            baseline=level,
            top_channels=top,
        )
        message = _message(brand.name, sc.channel, ep, status, finding, observed, expected, minutes, level, top)
        return incidents.to_alert(
            ep, status, window_start=minute_start(start), window_end=t, evidence=evidence, message=message
        )

    def _top_channels(self, sc: _Scope, lo: int, c: int, ment: int) -> dict[str, int]:
        if sc.chans is None:
            return {sc.channel: ment} if sc.channel and ment else {}
        acc: dict[str, int] = {}
        for mm in range(lo, c + 1):
            for ch, n in sc.chans[mm % RING].items():
                acc[ch] = acc.get(ch, 0) + n
        return dict(sorted(acc.items(), key=lambda kv: (-kv[1], kv[0]))[:_TOP_CHANNELS])

    def _examples(self, sc: _Scope, lo: int) -> list[EvidenceMention]:
        picked: list[EvidenceMention] = []
        authors: set[tuple[str, str]] = set()
        for em, mid, platform, channel, url, author, at, text, p_neg in reversed(sc.examples):
            if len(picked) >= self.settings.examples:
                break
            if em < lo or (platform, author) in authors:
                continue
            authors.add((platform, author))
            picked.append(
                EvidenceMention(
                    mention_id=mid,
                    platform=Platform(platform),
                    channel=channel,
                    url=url,
                    author_id=author,
                    occurred_at=at,
                    text=text,
                    negative=p_neg,
                    role="example",
                )
            )
        return picked

    # -- state --

    def dump_state(self, state: NegativitySpikeState) -> dict[str, Any]:
        """Compact and exact. Minutes are stored as offsets back from the brand's minute ``cur``; scopes are
        positional lists (see :func:`_dump_scope`); what scopes share is stored once: the examples, and the
        authors of the hour (a table in the brand's order: the brand's own map is that order, every other
        map indexes into it). Left out, as nothing can read them again: authors last seen before the hour
        (they count as new when they return, present or not) and examples older than the hour at the front
        of a scope's ring (no window reaches them; the ring keeps the newest, so dropping its oldest changes
        no later pick)."""
        c = state.cur
        if c is None or state.brand is None:
            return {
                "version": self.STATE_VERSION,
                "cur": None,
                "now": state.now.isoformat() if state.now is not None else None,
                "brand": None,
                "channels": [],
                "seen": [[], []],
                "authors": [],
                "examples": [],
            }
        examples: dict[tuple[Any, ...], int] = {}
        authors = _Table()
        # the brand first: its map of all authors defines the table's order
        brand = _dump_scope(state.brand, c, examples, authors)
        channels = [[k, _dump_scope(sc, c, examples, authors)] for k, sc in state.channels.items()]
        return {
            "version": self.STATE_VERSION,
            "cur": c,
            "now": state.now.isoformat() if state.now is not None else None,
            "brand": brand,
            "channels": channels,
            # every entry, stale ones too: a mention key still here is a duplicate (the map is pruned in order)
            "seen": [_join(list(state.seen)), [c - v for v in state.seen.values()]],
            "authors": _join(authors.keys),
            "examples": [[c - e[0], e[1], e[2], e[3], e[4], e[5], e[6].isoformat(), e[7], e[8]] for e in examples],
        }

    def load_state(self, data: dict[str, Any]) -> NegativitySpikeState:
        if not isinstance(data, dict):
            raise ValueError(f"negativity_spike state must be a mapping, got {type(data).__name__}")
        version = data.get("version")
        if version != self.STATE_VERSION:
            raise ValueError(f"negativity_spike state version {version!r}; this build reads {self.STATE_VERSION}")
        try:
            raw_cur = data["cur"]
            now = datetime.fromisoformat(data["now"]) if data["now"] is not None else None
            st = NegativitySpikeState(now=now)
            if raw_cur is not None:
                c = int(raw_cur)
                fromiso = datetime.fromisoformat
                examples = [
                    (c - int(e[0]), e[1], e[2], e[3], e[4], e[5], fromiso(e[6]), e[7], e[8]) for e in data["examples"]
                ]
                authors = _split(data["authors"])
                seen_keys, seen_offsets = data["seen"]
                st.seen = _unrefs(None, seen_offsets, _split(seen_keys), c)
                if data["brand"] is not None:
                    st.brand = self._load_scope(data["brand"], True, c, examples, authors)
                st.channels = {str(k): self._load_scope(v, False, c, examples, authors) for k, v in data["channels"]}
                self._set_clock(st, c, now.tzinfo if now is not None else None)
            elif data["brand"] is not None or data["channels"]:
                raise ValueError("scopes without a clock")
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ValueError(f"negativity_spike state does not load: {exc!r}") from None
        if (st.cur is None) != (st.brand is None):
            raise ValueError("negativity_spike state: the clock and the brand scope come together")
        return st

    def _load_scope(
        self, d: list[Any], brand_scope: bool, c: int, examples: list[tuple[Any, ...]], authors: list[str]
    ) -> _Scope:
        if not isinstance(d, list) or len(d) != _SCOPE_FIELDS:
            raise ValueError(f"a scope is a list of {_SCOPE_FIELDS} fields")
        (
            platform, channel, first, cur, slot, hour_start, last_active, tau_at, est_mean, est_var, est_level,
            est_at, mu_prev, rates, cusum, rings, chans, ex_idx, neg_last, all_last, episodes,
        ) = d  # fmt: skip
        if rings and isinstance(rings[0], list):  # dense: the four rings (copied: the caller keeps its data)
            neg, new, ment, allb = (list(r) for r in rings)
            if any(len(r) != RING or not _ints(r) for r in (neg, new, ment, allb)):
                raise ValueError(f"bucket rings must be {RING} integers")
        else:  # sparse: rows of (minute % 60, neg, new, ment, allb)
            neg, new, ment, allb = [0] * RING, [0] * RING, [0] * RING, [0] * RING
            if len(rings) % 5 or not _ints(rings):
                raise ValueError("bucket rows must be rows of 5 integers")
            at = rings[0::5]
            if at and (min(at) < 0 or max(at) >= RING):
                raise ValueError("bucket index out of range")
            for i, a, b, m, e in zip(at, rings[1::5], rings[2::5], rings[3::5], rings[4::5], strict=True):
                neg[i], new[i], ment[i], allb[i] = a, b, m, e
        per_minute: list[dict[str, int]] | None = None
        if chans is not None:
            per_minute = [{} for _ in range(RING)]
            for i, per in chans:
                if not isinstance(per, dict):
                    raise ValueError("channel counts must be mappings")
                per_minute[i] = dict(per)
        if ex_idx and (not _ints(ex_idx) or min(ex_idx) < 0 or max(ex_idx) >= len(examples)):
            raise ValueError("example index out of range")
        sc = _Scope(
            platform=platform,
            channel=channel,
            first=int(first),
            cur=int(cur),
            slot=int(slot),
            hour_start=int(hour_start),
            rates=SeasonalRates.from_json(rates),
            last_active=int(last_active),
            tau_at=int(tau_at),
            est=Estimate(float(est_mean), float(est_var), str(est_level)),
            est_at=int(est_at),
            mu_prev=float(mu_prev),
            neg_last=_unrefs(neg_last[0], neg_last[1], authors, c),
            all_last=_unrefs(all_last[0], all_last[1], authors, c),
            neg=neg,
            new=new,
            ment=ment,
            allb=allb,
            chans=per_minute,
            examples=deque((examples[k] for k in ex_idx), maxlen=self._ring_size(brand_scope)),
            episodes={AlertKind(k): Episode.from_json(v) for k, v in episodes},
        )
        # the CUSUM arms follow the settings: a dump made with other settings keeps what still matches
        arms = [[float(a[0]), int(a[1]), int(a[2]), float(a[3])] for a in cusum][: len(self._arms)]
        arms += [[0.0, -1, 0, 0.0] for _ in range(len(self._arms) - len(arms))]
        sc.cusum = arms
        k = sc.cur
        sc.closed = [_ring_sum(sc.neg, k - w + 1, k - 1) for w in self._windows]
        return sc


# --- helpers -------------------------------------------------------------------------------------------------


def _scopes(state: NegativitySpikeState) -> list[_Scope]:
    out = [state.brand] if state.brand is not None else []
    out.extend(state.channels.values())
    return out


def _fraction(t: datetime, c: int) -> float:
    """How far into minute ``c`` time ``t`` is, in [0, 1)."""
    f = (t.timestamp() - c * 60.0) / 60.0
    return 0.0 if f < 0.0 else (f if f < 1.0 else 0.999999)


def _ring_sum(ring: list[int], lo: int, hi: int) -> int:
    """Sum of the buckets of minutes lo..hi (inclusive; at most RING of them)."""
    if hi < lo:
        return 0
    a, b = lo % RING, hi % RING
    return sum(ring[a : b + 1]) if a <= b else sum(ring[a:]) + sum(ring[: b + 1])


def _spans(start: int, c: int, hour_start: int) -> tuple[int, int]:
    """Complete minutes [start, c) before and after the current local hour began."""
    n_prev = max(0, min(hour_start, c) - start)
    n_cur = max(0, c - max(start, hour_start))
    return n_prev, n_cur


def _sweep(last: dict[str, int], horizon: int, cap: int) -> bool:
    """Drop authors last seen before ``horizon`` (the start of the hour). Is there room for one more?"""
    stale = [k for k, v in last.items() if v < horizon]
    for k in stale:
        del last[k]
    return len(last) < cap


def _live(ep: Episode, t: datetime, policy: EpisodePolicy) -> bool:
    """Open, or resolved so recently that a return would reopen it."""
    return ep.resolved_at is None or t - ep.resolved_at < policy.cooldown


#: fields of a dumped scope (see _dump_scope)
_SCOPE_FIELDS = 21
#: joins the keys of a dumped map into one string (one JSON string parses far faster than thousands)
_SEP = " "


class _Table:
    """Dump time only: distinct keys in order of first use, and each key's index."""

    __slots__ = ("keys", "index")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.index: dict[str, int] = {}

    def refs(self, last: dict[str, int], c: int, horizon: int) -> tuple[list[int], list[int]]:
        """(table index, c - minute) of the map's entries newer than ``horizon``, adding keys it lacks."""
        index, keys = self.index, self.keys
        idx, offsets = [], []
        for k, v in last.items():
            if v > horizon:
                i = index.get(k)
                if i is None:
                    i = index[k] = len(keys)
                    keys.append(k)
                idx.append(i)
                offsets.append(c - v)
        return idx, offsets


def _ints(values: list[Any]) -> bool:
    """Plain integers only (bool is not one), checked at C speed."""
    return set(map(type, values)) <= {int}


def _join(keys: list[str]) -> str | list[str]:
    """Keys as one string, or as they are when one of them holds the separator (or is empty)."""
    joined = _SEP.join(keys)
    return joined if keys and joined.count(_SEP) == len(keys) - 1 and all(keys) else keys


def _split(keys: str | list[str]) -> list[str]:
    if isinstance(keys, str):
        return keys.split(_SEP)
    if not isinstance(keys, list):
        raise ValueError(f"keys must be a string or a list, not {type(keys).__name__}")
    return keys


def _unrefs(idx: list[int] | None, offsets: list[int], keys: list[str], c: int) -> dict[str, int]:
    """The map back from (table indexes, offsets); ``idx`` None: the table's first entries, in order."""
    minutes = [c - o for o in offsets]
    if idx is None:
        if len(minutes) > len(keys):
            raise ValueError("more offsets than keys")
        return dict(zip(keys[: len(minutes)], minutes, strict=True))
    if len(idx) != len(minutes) or (idx and min(idx) < 0):
        raise ValueError("bad key indexes")
    return dict(zip([keys[i] for i in idx], minutes, strict=True))


def _dump_scope(sc: _Scope, c: int, examples: dict[tuple[Any, ...], int], authors: _Table) -> list[Any]:
    """A scope as a positional list (field names would be a third of a small brand's state):
    platform, channel, first, cur, slot, hour_start, last_active, tau_at, est mean, est variance, est level,
    est_at, mu_prev, baseline, CUSUM arms, buckets (rows of minute % 60, neg, new, ment, allb for the
    minutes that hold counts; or the four rings of 60 when most do), per-minute channel counts (brand
    scope: [[minute % 60, {channel: n}], ...]; None for a channel), example indexes into ``examples``,
    negative authors and all authors ([author table indexes, c - minute], the last hour's only; the brand's
    own map of all authors is the table's start, so its indexes are left out), episodes."""
    rings: list[Any] = []
    for i, row in enumerate(zip(sc.neg, sc.new, sc.ment, sc.allb, strict=True)):
        if row[0] or row[1] or row[2] or row[3]:
            rings += (i, *row)
    if len(rings) > 2 * RING:  # most minutes hold counts (a busy scope): four plain rings are shorter
        rings = [list(sc.neg), list(sc.new), list(sc.ment), list(sc.allb)]
    chans = [[i, dict(per)] for i, per in enumerate(sc.chans) if per] if sc.chans is not None else None
    lo = sc.cur - RING + 1
    ex_idx = []
    skipping = True
    for e in sc.examples:
        if skipping and e[0] < lo:
            continue
        skipping = False
        k = examples.get(e)
        if k is None:
            k = examples[e] = len(examples)
        ex_idx.append(k)
    horizon = c - RING
    first_map = not authors.keys
    all_idx, all_offsets = authors.refs(sc.all_last, c, horizon)
    neg_last = list(authors.refs(sc.neg_last, c, horizon))
    return [
        sc.platform,
        sc.channel,
        sc.first,
        sc.cur,
        sc.slot,
        sc.hour_start,
        sc.last_active,
        sc.tau_at,
        sc.est.mean,
        sc.est.var,
        sc.est.level,
        sc.est_at,
        sc.mu_prev,
        sc.rates.to_json(),
        [list(a) for a in sc.cusum],
        rings,
        chans,
        ex_idx,
        neg_last,
        # the first map dumped gave every entry a new index, in order: 0, 1, 2, ...
        [None if first_map else all_idx, all_offsets],
        [[k.value, ep.to_json()] for k, ep in sc.episodes.items()],
    ]


def _p_text(log_p: float) -> str:
    exp10 = log_p / math.log(10.0)
    if exp10 < -300:
        return "p < 1e-300"
    return f"p < 1e{math.ceil(exp10)}" if exp10 < -1 else f"p = {math.exp(log_p):.2f}"


def _n(x: float) -> str:
    if x >= 10:
        return f"{x:.0f}"
    if x >= 0.1:
        return f"{x:.1f}".rstrip("0").rstrip(".")
    return f"{x:.2f}"


def _weeks(per_week: float) -> str:
    weeks = 1.0 / per_week if per_week > 0.0 else math.inf
    return "1000+ weeks" if weeks >= 1000 else f"{weeks:.0f} weeks"


_LEVEL_TEXT = {
    "prior": "cold-start prior",
    "flat": "flat baseline",
    "hour_of_day": "hour-of-day baseline",
    "hour_of_week": "hour-of-week baseline",
}


def _message(
    brand: str,
    channel: str | None,
    ep: Episode,
    status: AlertStatus,
    finding: _Finding | None,
    observed: int,
    expected: float,
    minutes: float,
    level: str,
    top: dict[str, int],
) -> str:
    where = f"{brand} on {channel}" if channel else brand
    mins = max(1, round(minutes))
    if status is AlertStatus.RESOLVED:
        what = "volume is" if ep.kind is _SURGE else "complaints are"
        since = ep.started_at.strftime("%H:%M UTC")
        return (
            f"{where}: {what} back to normal ({observed} people complained in the last {mins} min, "
            f"~{_n(expected)} expected); the incident that started at {since} is over."
        )
    assert finding is not None
    base = _LEVEL_TEXT.get(level, level)
    most = f"; most on {next(iter(top))}" if top and not channel else ""
    if finding.kind is _SURGE:
        total = finding.total or 0
        share = observed / total if total else 0.0
        return (
            f"{where}: {total} people posted in {mins} min where ~{_n(finding.total_expected or 0.0)} were "
            f"expected, {observed} of them negative ({share:.0%}: the negative share did not rise; {base}){most}. "
            "Likely a campaign or a viral post, not a wave of complaints: watch it and answer the complaints "
            "among them."
        )
    if finding.log_p is not None:
        odds = f"; by chance about once in {_weeks(finding.chance)}" if finding.chance else ""
        return (
            f"{where}: {observed} people complained in {mins} min where ~{_n(expected)} were expected "
            f"({_p_text(finding.log_p)}, {base}{odds}){most}. Read the examples and answer publicly; check "
            "whether an outage or a post triggered it."
        )
    if finding.test == "fast_cusum":
        return (
            f"{where}: complaints jumped in the last {mins} min, {observed} people where ~{_n(expected)} were "
            f"expected (sharp-rise score {finding.score or 0.0:.1f}, {base}){most}. Read the examples and answer "
            "publicly; check whether an outage or a post triggered it."
        )
    return (
        f"{where}: complaints have been building up for {mins} min, {observed} people where ~{_n(expected)} "
        f"were expected (build-up score {finding.score or 0.0:.1f}, {base}){most}. Read the examples and look "
        "for a common cause before it grows."
    )
