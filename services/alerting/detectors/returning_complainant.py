"""``returning_complainant``: a complaint the brand removed comes back.

This is the moment a removal turns into a public fuss: the author notices, posts it
again (from the same account or another one, on the brand's page or anywhere else),
and now it is about the censorship too. Critical by design.

How it works:

1. Complaint texts are remembered as they are posted (negative created/edited mentions
   by others than the brand, on an owned channel or replying to the brand's own post or
   reply), because the ``deleted``/``hidden`` event that comes later carries no text.
   Bounded by ``memory_hours`` and ``max_texts``.
2. When one of them is removed by the brand (``actor`` brand, or unknown on an owned
   channel), its MinHash signature (:mod:`services.alerting.similarity`: character
   4-gram shingles of the normalised text, any script) goes into an LSH index for
   ``horizon_days``. Removed complaints that are near-duplicates of each other (the
   author reposted it and the brand removed that too) form one cluster: one incident.
3. Every later negative created/edited mention not by the brand, on any channel, from
   any account, is compared with the index: a Jaccard of the shingle sets >= ``similarity``,
   or the smaller text's shingles contained in the larger one >= ``containment`` ("you
   deleted my comment, so again: ..."), makes it a return. MinHash estimates and the LSH
   bands pick the candidates cheaply; a candidate is then confirmed exactly against the
   removed complaint's stored text, because estimated containment is noisy when one text
   is several times longer than the other. The tests hold the tuned defaults to a
   set of paraphrases (reordered clauses, a changed word or two, added emoji,
   punctuation, capitals, links) in English, Russian, Arabic and Chinese, and to
   unrelated complaints of the same kind that must not match.

One incident per cluster of removed complaints: it fires on the first return (critical),
is updated when the number of distinct returning accounts grows by ``escalate_factor``
(the fuss spreads), resolves after ``quiet_hours`` without a new return, and reopens
(same ``alert_id``) if returns resume while its removed complaints are within the
horizon. Its ``alert_id`` comes from the kind, brand, the removed complaint's channel, the
first return's time and the cluster's key (two clusters can first return in one poll).
The evidence names both the removed mention (role ``removed``) and the returned ones
(role ``returned``), with links. At most ``max_incidents`` are open at once.

Only negative events of a brand that has removed complaints within the horizon pay for
a signature and one vectorised comparison (a few tens of microseconds), and a text too short
to compare stops before its signature is computed; every other event is a dict lookup or two.
The exact shingle sets of the watched removed complaints are kept (in memory only) so that
confirming a candidate does not normalise and hash its text again; while a brand has only a
few watched complaints, a new text is compared with those sets first, and the signature is
computed only when one of them passes the thresholds (the index could not report anything else).

A removal whose source named the remover but not whether that is the author (``actor`` null,
``removed_by`` set: VK's deletion events) is judged against the remembered complaint's author
(:func:`~services.alerting.types.removal_actor`): the author's own removal is not watched (a
repost after it is no comeback from censorship), anyone else's is the brand's.

Out of order: a removal that arrives before its complaint's ``created`` waits
``pending_hours`` for it (with ``removed_by``, judged against the complaint's author then).
A return must be dated after the removal it repeats: a copy posted before the removal is a
double post, not a comeback.

Expiry reads when an entry was remembered only to the housekeeping pass (every ``_SWEEP_S``):
entries carry the whole-second time of the last pass, so remembering one needs no clock
conversion, and a TTL ends within a pass of its nominal length (expiry only ever ran at a pass).

Snapshot: the list of open incidents stays readable; everything else (complaint texts, clusters
with their evidence, brand posts, waiting removals) goes in columns and positional rows into one
zlib-compressed UTF-8 JSON document in base64. A watched complaint's text is stored once (the
cluster refers to the remembered text when they are the same), and the MinHash signatures are
not stored at all: they are recomputed from those texts on load, in the order they were indexed,
which rebuilds the very same index (about 40 microseconds per watched complaint). ``load_state``
keeps the document as it came and decodes it, index included, when the brand is next touched
(:meth:`ReturningComplainantDetector.materialise`), so restoring many brands only parses their
snapshots and a quiet brand never pays for its index.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from pydantic import Field

from services.alerting.incidents import Episode, EpisodePolicy, calm, resolve_now, to_alert, trigger
from services.alerting.packing import dec_time, deltas, enc_time, pack, undeltas, unpack, utc
from services.alerting.similarity import (
    SHINGLE,
    LshIndex,
    MinHasher,
    Signature,
    exact_similarity,
    normalize,
    shingle_hashes,
    shingle_set,
)
from services.alerting.types import BrandView, DetectorSettings, Observation, removal_actor
from shared.schemas import (
    Actor,
    Alert,
    AlertEvidence,
    AlertKind,
    AlertStatus,
    EventType,
    EvidenceMention,
    Platform,
    Severity,
    alert_id,
)

_UTC = timezone.utc
_KIND = AlertKind.RETURNING_COMPLAINANT
_CREATED = EventType.CREATED
_EDITED = EventType.EDITED
_DELETED = EventType.DELETED
_HIDDEN = EventType.HIDDEN
_RESTORED = EventType.RESTORED
_BRAND = Actor.BRAND
_AUTHOR = Actor.AUTHOR

#: characters of a complaint kept for its signature and evidence (the start of a long post
#: is what gets reposted; a containment match still works against a longer return)
_TEXT_KEEP = 600
#: characters of a new mention that are hashed: bounds the cost of one very long post
_HASH_KEEP = 2_000
#: characters of a removed or returned mention kept for the evidence: a notification snippet, the
#: same 500 as every other alert's evidence (incidents.mention_evidence)
_SNIPPET = 500
#: removed and returned mentions kept per incident for the evidence (counts go on)
_EVIDENCE_KEEP = 10
#: returning accounts and returned ids remembered per incident (dedupe); beyond, counts saturate
_ACCOUNTS_KEEP = 1_000
#: event-time seconds between housekeeping passes (expiry, quiet resolution)
_SWEEP_S = 60.0
_SWEEP = timedelta(seconds=_SWEEP_S)
#: before any event: the first one runs a housekeeping pass
_NEVER = datetime.min.replace(tzinfo=_UTC)
#: LSH layout over the 128-value signature: 64 bands of 2 make a pair with J=0.2 a
#: candidate with probability 0.93, so matching is decided by the verification below,
#: not lost in the banding (a containment match can have a low Jaccard)
_BANDS, _ROWS = 64, 2

#: how far below the thresholds the MinHash estimates may fall and still get the exact check:
#: ~3.5 standard errors of a Jaccard estimate, and a wide margin for the containment estimate,
#: which is noisy when one text is much longer than the other
_J_SLACK, _C_SLACK = 0.15, 0.3

_HASHER = MinHasher(num_perm=_BANDS * _ROWS)
#: watched complaints up to which a new text is first compared exactly with each (~2 us a set
#: comparison) and the MinHash is only computed if one of them could match
_EXACT_FIRST = 32


class ReturningComplainantSettings(DetectorSettings):
    #: days a removed complaint is watched for its return (the issue's default)
    horizon_days: float = Field(default=14.0, gt=0)
    #: Jaccard of the character 4-gram sets from which a new complaint is the removed one
    #: again (MinHash and LSH find the candidates, the stored texts confirm exactly).
    #: Paraphrases in the test set score 0.6-0.95, unrelated complaints on the same topics
    #: at most ~0.25: 0.45 sits between with room on both sides
    similarity: float = Field(default=0.45, gt=0.0, le=1.0)
    #: share of the smaller text's shingles found in the larger one from which a quote-and-add
    #: repost matches although its Jaccard is diluted (unrelated pairs stay under ~0.5)
    containment: float = Field(default=0.8, gt=0.0, le=1.0)
    #: the smaller text needs this many distinct shingles for the containment rule: a short
    #: generic text ("my vacuum died a month in") is largely contained in many long complaints
    containment_min_shingles: int = Field(default=40, ge=1)
    #: texts with fewer distinct shingles are not compared at all ("ужас!!!" says nothing about
    #: who wrote it); 12 shingles is about two short words
    min_shingles: int = Field(default=12, ge=1)
    #: hours a complaint's text is remembered before a removal that may never come
    memory_hours: float = Field(default=14 * 24.0, gt=0)
    #: complaint texts remembered per brand (oldest go first); the busiest simulated brand fills it in
    #: ~6 hours; ~60 bytes each in a snapshot (compressed; more for real, less repetitive text)
    max_texts: int = Field(default=2_000, ge=1)
    #: removed complaints watched per brand (the LSH index capacity); a text and a little evidence
    #: each in a snapshot (signatures are recomputed on load, ~40 us each)
    max_removed: int = Field(default=300, ge=1)
    #: hours without a new return after which the incident resolves
    quiet_hours: float = Field(default=24.0, gt=0)
    #: a new notification when distinct returning accounts grew by this factor (1 -> 2 -> 3 -> 5 -> 8 ...)
    escalate_factor: float = Field(default=1.5, gt=1.0)
    #: hours a removal of a not-yet-seen complaint waits for its late ``created``
    pending_hours: float = Field(default=24.0, gt=0)
    #: removals waiting for their complaint, per brand
    max_pending: int = Field(default=500, ge=0)
    #: the brand's own post/reply ids remembered, to recognise complaints addressed to it
    max_brand_posts: int = Field(default=1_000, ge=0)
    #: incidents open at once per brand; beyond it the oldest is closed with a note (only a
    #: brigade reposting hundreds of removed complaints gets here)
    max_incidents: int = Field(default=200, ge=1)


@dataclass(slots=True)
class _Text:
    """A complaint as posted (what a later removal needs)."""

    mention_id: str
    platform: str
    channel: str
    author_id: str
    url: str | None
    text: str
    negative: float
    at: float
    #: the housekeeping pass it was remembered after (whole seconds): monotone, so the dict is in expiry order
    kept: int


@dataclass(slots=True)
class _Seen:
    """A mention in an incident's evidence: removed (``at`` = posted, ``when`` = removed) or
    returned (``at`` = posted, ``when`` = its similarity to the removed one)."""

    mention_id: str
    platform: str
    channel: str
    author_id: str
    url: str | None
    text: str
    negative: float
    at: float
    when: float

    def to_json(self) -> list[Any]:
        return [
            self.mention_id,
            self.platform,
            self.channel,
            self.author_id,
            self.url,
            self.text,
            self.negative,
            self.at,
            self.when,
        ]

    @classmethod
    def from_json(cls, row: list[Any]) -> _Seen:
        if not isinstance(row, list) or len(row) != 9:
            raise ValueError(f"bad evidence record {row!r}")
        return cls(*row)

    def evidence(self, role: str) -> EvidenceMention:
        return EvidenceMention(
            mention_id=self.mention_id,
            platform=Platform(self.platform),
            channel=self.channel,
            url=self.url,
            author_id=self.author_id,
            occurred_at=datetime.fromtimestamp(self.at, _UTC),
            text=self.text[:_SNIPPET],
            negative=min(1.0, max(0.0, self.negative)),
            role=role,
        )


@dataclass(slots=True)
class _Cluster:
    """Removed complaints that are the same text, and what came back of them."""

    key: str
    #: removed complaints in the LSH index now: mention_id -> (removal time, text), the text for
    #: the exact check of a candidate (bounded by the index capacity, 600 characters each)
    live: dict[str, tuple[float, str]] = field(default_factory=dict)
    #: the first removed complaints, for the evidence
    removed: list[_Seen] = field(default_factory=list)
    removed_count: int = 0
    #: the latest returns, for the evidence
    returns: list[_Seen] = field(default_factory=list)
    returns_count: int = 0
    #: returned mention ids and returning accounts (dedupe, escalation), bounded
    return_ids: dict[str, None] = field(default_factory=dict)
    accounts: dict[str, None] = field(default_factory=dict)
    #: returns the brand removed again
    removed_again: int = 0
    last_return: float | None = None
    best: float = 0.0
    episode: Episode | None = None

    def to_json(self, texts: dict[str, _Text]) -> list[Any]:
        # a watched complaint's text is usually the remembered one: stored once (None here)
        live = [[k, t, None if k in texts and texts[k].text == text else text] for k, (t, text) in self.live.items()]
        return [self.key, live, [s.to_json() for s in self.removed], self.removed_count,
                [s.to_json() for s in self.returns], self.returns_count, list(self.return_ids), list(self.accounts),
                self.removed_again, self.last_return, self.best,
                self.episode.to_json() if self.episode else None]  # fmt: skip

    @classmethod
    def from_json(cls, row: list[Any], texts: dict[str, _Text]) -> _Cluster:
        key, live, removed, removed_count, returns, returns_count, return_ids, accounts = row[:8]
        removed_again, last_return, best, episode = row[8:]
        return cls(
            key=str(key),
            live={str(k): (float(t), str(texts[k].text if text is None else text)) for k, t, text in live},
            removed=[_Seen.from_json(r) for r in removed],
            removed_count=int(removed_count),
            returns=[_Seen.from_json(r) for r in returns],
            returns_count=int(returns_count),
            return_ids=dict.fromkeys(map(str, return_ids)),
            accounts=dict.fromkeys(map(str, accounts)),
            removed_again=int(removed_again),
            last_return=float(last_return) if last_return is not None else None,
            best=float(best),
            episode=Episode.from_json(episode) if episode else None,
        )


@dataclass(slots=True)
class ReturningComplainantState:
    #: complaint texts by mention id, oldest first (memory_hours, max_texts)
    texts: OrderedDict[str, _Text] = field(default_factory=OrderedDict)
    #: removed complaints' signatures (horizon_days, max_removed)
    index: LshIndex = field(default_factory=lambda: LshIndex(_BANDS, _ROWS, 300))
    #: removed mention id -> its cluster's key (exactly the index's keys)
    members: dict[str, str] = field(default_factory=dict)
    #: clusters by key, oldest first; one leaves when none of its complaints is watched and its
    #: incident is not open (at most max_removed with watched complaints, plus max_incidents open)
    clusters: dict[str, _Cluster] = field(default_factory=dict)
    #: keys of the clusters whose incident is open, in the order they (re)opened (max_incidents)
    open: OrderedDict[str, None] = field(default_factory=OrderedDict)
    #: the brand's own posts and replies -> pass remembered after (memory_hours, max_brand_posts)
    brand_posts: OrderedDict[str, int] = field(default_factory=OrderedDict)
    #: removals of complaints not seen yet -> [removal time, pass remembered after, removed_by or None]
    #: (pending_hours, max_pending)
    pending: OrderedDict[str, list[Any]] = field(default_factory=OrderedDict)
    #: exact shingle sets of the watched removed complaints, for confirming a candidate (same keys
    #: as ``members``); derived, never dumped
    sets: dict[str, frozenset[int]] = field(default_factory=dict)
    #: the same shingles as plain substrings, for the quick exact pre-check of a new text (Python's
    #: own string hashing: nothing here is stored); derived, never dumped
    grams: dict[str, frozenset[str]] = field(default_factory=dict)
    #: brand watermark of the next housekeeping pass (a datetime: the hot path compares, never converts)
    next_sweep: datetime = _NEVER
    #: time of the last housekeeping pass, whole epoch seconds: what new entries are remembered at
    tick: int = 0
    #: the memory as restored, not decoded yet (see :meth:`ReturningComplainantDetector.materialise`)
    packed: str | None = None


def _grams(norm: str) -> frozenset[str]:
    """The distinct character shingles of a normalised text as substrings: the very n-grams that
    :func:`shingle_hashes` hashes (padded with a space each side), at a tenth of its cost."""
    if not norm:
        return frozenset()  # nothing comparable is left (shingle_hashes has nothing either)
    padded = " " + norm + " "
    n = min(SHINGLE, len(padded))
    return frozenset([padded[i : i + n] for i in range(len(padded) - n + 1)])


def _ago(seconds: float) -> str:
    minutes = max(0.0, seconds) / 60
    if minutes < 1:
        return "less than a minute"
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 36 * 60:
        return f"{minutes / 60:.0f} h"
    return f"{minutes / 1440:.0f} days"


class ReturningComplainantDetector:
    name: ClassVar[str] = "returning_complainant"
    kinds: ClassVar[tuple[AlertKind, ...]] = (_KIND,)
    Settings: ClassVar[type[DetectorSettings]] = ReturningComplainantSettings
    #: 3: waiting removals keep ``removed_by`` (a fourth pending column); 2 still loads (three)
    STATE_VERSION: ClassVar[int] = 3
    _READS: ClassVar[frozenset[int]] = frozenset({2, 3})

    def __init__(self, settings: ReturningComplainantSettings | None = None) -> None:
        s = settings if settings is not None else ReturningComplainantSettings()
        self.settings = s
        self._horizon = s.horizon_days * 86400.0
        self._memory = s.memory_hours * 3600.0
        self._pending_s = s.pending_hours * 3600.0
        self._quiet = s.quiet_hours * 3600.0
        # cooldown = horizon: while a removed complaint is watched, its returns stay one incident
        self._policy = EpisodePolicy(
            quiet=timedelta(hours=s.quiet_hours),
            cooldown=timedelta(days=s.horizon_days),
            escalate_factor=s.escalate_factor,
        )

    # --- state ---------------------------------------------------------------------------------------------

    def new_state(self) -> ReturningComplainantState:
        return ReturningComplainantState(index=LshIndex(_BANDS, _ROWS, self.settings.max_removed))

    def dump_state(self, state: ReturningComplainantState) -> dict[str, Any]:
        memory = state.packed  # restored and untouched since: dumped as it came
        if memory is None and (state.texts or state.clusters or state.brand_posts or state.pending):
            memory = pack(self._memory_doc(state))
        return {
            "v": self.STATE_VERSION,
            "memory": memory,
            "open": list(state.open),
            "next_sweep": state.next_sweep.timestamp() if state.next_sweep is not _NEVER else None,
            "tick": state.tick,
        }

    @staticmethod
    def _memory_doc(state: ReturningComplainantState) -> dict[str, Any]:
        chans: dict[tuple[str, str], int] = {}
        rows = []
        for t in state.texts.values():
            key = (t.platform, t.channel)
            ci = chans.get(key)
            if ci is None:
                ci = chans[key] = len(chans)
            rows.append([t.mention_id, ci, t.author_id, t.url, t.text, t.negative, enc_time(t.at, 1_000_000 * t.kept),
                         t.kept])  # fmt: skip
        texts = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(8)]
        texts[7] = deltas(texts[7])
        pending = list(state.pending.items())
        return {
            "channels": [list(k) for k in chans],
            "texts": texts,
            "clusters": [c.to_json(state.texts) for c in state.clusters.values()],
            # the order the watched complaints were indexed in: replayed on load, it rebuilds the same index
            "index": list(state.index.items),
            "brand_posts": [list(state.brand_posts), deltas(list(state.brand_posts.values()))],
            "pending": [
                [k for k, _ in pending],
                [v[0] for _, v in pending],
                deltas([v[1] for _, v in pending]),
                [v[2] for _, v in pending],
            ],
        }

    def load_state(self, data: dict[str, Any]) -> ReturningComplainantState:
        if not isinstance(data, dict) or data.get("v") not in self._READS:
            got = data.get("v") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"returning_complainant state version {got!r}; this build reads {sorted(self._READS)}")
        try:
            st = self.new_state()
            st.tick = int(data["tick"])
            if data["next_sweep"] is not None:
                st.next_sweep = utc(float(data["next_sweep"]))
            if data["memory"] is not None and not isinstance(data["memory"], str):
                raise ValueError("memory is not a packed string")
            st.open = OrderedDict.fromkeys(map(str, data["open"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"returning_complainant state does not load: {exc}") from None
        st.packed = data["memory"]
        if st.packed is None:
            self._settle_load(st)
        return st

    def materialise(self, state: ReturningComplainantState) -> ReturningComplainantState:
        """Decode a restored state's memory now (otherwise the first event or tick does).

        Restoring only parses the snapshot; texts, clusters and the rebuilt MinHash index (the
        costly part: a signature per watched complaint) come when the brand is next touched, so
        restoring many brands is quick and a brand that stays quiet never pays for it. Raises
        ValueError if the memory does not decode (not possible for a snapshot this build wrote).
        """
        packed = state.packed
        if packed is not None:
            state.packed = None
            try:
                self._load_memory(state, unpack(packed))
            except (KeyError, TypeError, ValueError, IndexError, zlib.error) as exc:
                raise ValueError(f"returning_complainant memory does not load: {exc}") from None
            self._settle_load(state)
        return state

    def _settle_load(self, st: ReturningComplainantState) -> None:
        st.open = OrderedDict.fromkeys(k for k in st.open if k in st.clusters)
        # A smaller max_removed since the snapshot evicts the oldest on load; their clusters follow.
        for mid in [k for k in st.members if k not in st.index]:
            self._unwatch(st, mid)
        for mid in [k for k in st.index.items if k not in st.members]:
            st.index.remove(mid)
        self._trim(st)

    def _load_memory(self, st: ReturningComplainantState, mem: dict[str, Any]) -> None:
        chans = [(str(p), str(c)) for p, c in mem["channels"]]
        cols = mem["texts"]
        if len(cols) != 8:
            raise ValueError("bad text columns")
        cols[7] = undeltas(cols[7])
        for mid, ci, author, url, text, neg, at, kept in zip(*cols, strict=True):
            platform, channel = chans[ci]
            st.texts[str(mid)] = _Text(
                str(mid), platform, channel, str(author), url, str(text), float(neg), dec_time(at, 1_000_000 * kept),
                kept,
            )  # fmt: skip
        for row in mem["clusters"]:
            c = _Cluster.from_json(row, st.texts)
            st.clusters[c.key] = c
            for mid in c.live:
                st.members[mid] = c.key
        for mid in mem["index"]:
            key = st.members.get(mid)
            if key is None:
                raise ValueError(f"indexed complaint {mid!r} belongs to no cluster")
            at, text = st.clusters[key].live[mid]
            hashed = self._signature(text)
            if hashed is None:
                raise ValueError(f"indexed complaint {mid!r} has no signature")
            sig, shingles, grams = hashed
            st.sets[mid] = shingles
            st.grams[mid] = grams
            for gone in st.index.add(mid, sig, at):
                st.sets.pop(gone, None)
                st.grams.pop(gone, None)
        ids, kept = mem["brand_posts"]
        st.brand_posts = OrderedDict(zip(map(str, ids), undeltas(kept), strict=True))
        cols = mem["pending"]
        # three columns: written by version 2 (or a version 2 snapshot dumped again untouched), no removed_by
        ids, ats, kept, by = cols if len(cols) == 4 else (*cols, [None] * len(cols[0]))
        st.pending = OrderedDict(
            (str(k), [float(a), b, r]) for k, a, b, r in zip(ids, ats, undeltas(kept), by, strict=True)
        )

    def _trim(self, state: ReturningComplainantState) -> None:
        s = self.settings
        stores: tuple[tuple[OrderedDict[str, Any], int], ...] = (
            (state.texts, s.max_texts),
            (state.brand_posts, s.max_brand_posts),
            (state.pending, s.max_pending),
        )
        for store, cap in stores:
            while len(store) > cap:
                store.popitem(last=False)

    def active(self, state: ReturningComplainantState) -> int:
        return len(state.open)

    # --- events --------------------------------------------------------------------------------------------

    def observe(self, state: ReturningComplainantState, obs: Observation, brand: BrandView) -> list[Alert]:
        if state.packed is not None:
            self.materialise(state)
        alerts: list[Alert] = []
        # a datetime comparison, not a clock conversion per event (see _sweep)
        if obs.watermark >= state.next_sweep:
            self._sweep(state, obs.watermark, brand, alerts)
        m = obs.event.mention
        et = m.event_type
        if m.author_is_brand:
            if (et is _CREATED or et is _EDITED) and self.settings.max_brand_posts:
                posts = state.brand_posts
                if m.mention_id not in posts:
                    posts[m.mention_id] = state.tick
                    while len(posts) > self.settings.max_brand_posts:
                        posts.popitem(last=False)
            return alerts
        if et is _CREATED or et is _EDITED:
            mid = m.mention_id
            if not obs.negative:
                if et is _EDITED and obs.event.sentiment is not None and mid not in state.members:
                    state.texts.pop(mid, None)  # no longer a complaint: removing it now is not censorship
                return alerts
            # a comeback first, then remembered: if its own removal already arrived (out of order),
            # it then joins the incident as "removed again" instead of hiding the comeback
            if state.members and mid not in state.members:
                self._check_return(state, obs, brand, alerts)
            if mid in state.texts or obs.owned or (m.parent_id is not None and m.parent_id in state.brand_posts):
                self._remember(state, obs, brand, alerts)
        elif et is _DELETED or et is _HIDDEN:
            actor = m.actor
            if actor is None and m.removed_by is not None:
                t = state.texts.get(m.mention_id)
                if t is not None:
                    actor = removal_actor(None, m.removed_by, t.author_id)
            if actor is _BRAND or (actor is None and obs.owned):
                by = m.removed_by if actor is None else None
                self._removal(state, m.mention_id, m.occurred_at.timestamp(), brand, alerts, by)
        elif et is _RESTORED:
            self._restored(state, m.mention_id)
        return alerts

    def advance(self, state: ReturningComplainantState, now: datetime, brand: BrandView) -> list[Alert]:
        if state.packed is not None:
            self.materialise(state)
        alerts: list[Alert] = []
        self._sweep(state, now, brand, alerts)
        return alerts

    def _remember(
        self, state: ReturningComplainantState, obs: Observation, brand: BrandView, alerts: list[Alert]
    ) -> None:
        m = obs.event.mention
        s = obs.event.sentiment
        p_neg = s.negative if s is not None else 1.0
        texts = state.texts
        t = texts.get(m.mention_id)
        if t is None:
            t = _Text(
                m.mention_id,
                m.platform.value,
                m.channel,
                m.author_id,
                m.url,
                m.text[:_TEXT_KEEP],
                p_neg,
                m.occurred_at.timestamp(),
                state.tick,
            )
            texts[m.mention_id] = t
            while len(texts) > self.settings.max_texts:
                texts.popitem(last=False)
        elif m.mention_id not in state.members:
            # edited before removal: the removed version is the latest one
            t.text, t.negative, t.url = m.text[:_TEXT_KEEP], p_neg, m.url or t.url
        waiting = state.pending.pop(m.mention_id, None)
        if waiting is not None and removal_actor(None, waiting[2], m.author_id) is not _AUTHOR:
            self._removal(state, m.mention_id, waiting[0], brand, alerts)

    def _signature(self, text: str) -> tuple[Signature, frozenset[int], frozenset[str]] | None:
        """The text's MinHash, its shingle hash set and its shingles as substrings, or None if too short."""
        norm = normalize(text[:_HASH_KEEP])
        grams = _grams(norm)
        if len(grams) < self.settings.min_shingles:
            return None
        hashes = shingle_hashes(norm)
        shingles = frozenset(hashes.tolist())
        sig = _HASHER.signature_of_hashes(hashes, len(shingles))
        assert sig is not None
        return sig, shingles, grams

    def _could_match(self, state: ReturningComplainantState, mine: frozenset[str]) -> bool:
        """Whether any watched removed complaint passes the exact thresholds against ``mine``.

        :meth:`_matches` only reports pairs that pass them (on the 64-bit shingle hashes, which
        are these substrings unless two of a text's 4-grams collide in 64 bits), so when none does
        its answer is empty; with a handful of watched complaints these few set comparisons cost
        a fraction of a signature and an index scan, and most comparisons end here.
        """
        s = self.settings
        for theirs in state.grams.values():
            j, c = exact_similarity(mine, theirs)
            if j >= s.similarity or (c >= s.containment and min(len(mine), len(theirs)) >= s.containment_min_shingles):
                return True
        return False

    def _worth_matching(self, state: ReturningComplainantState, mine: frozenset[str]) -> bool:
        # up to _EXACT_FIRST watched complaints, exact comparisons can rule a match out cheaply;
        # beyond, the MinHash index is the cheaper way to find the few candidates
        return len(state.sets) > _EXACT_FIRST or self._could_match(state, mine)

    def _matches(
        self, state: ReturningComplainantState, sig: Signature, mine: frozenset[int], at: float | None = None
    ) -> list[tuple[float, str, float]]:
        """Watched removed complaints that a text repeats: (similarity, mention id, removed at).

        ``sig`` and ``mine`` are the text's MinHash and shingle set (see :meth:`_signature`).

        The LSH index and the MinHash estimates pick candidates; the best candidate of each
        cluster (its members are near-duplicates of each other) is then compared exactly on
        its stored text, so the thresholds mean what they say. With ``at``, only removals a
        post at that time can be a comeback of count: before it, within the horizon.
        """
        s = self.settings
        near = state.index.near(
            sig,
            jaccard=max(0.0, s.similarity - _J_SLACK),
            containment=max(0.0, s.containment - _C_SLACK),
            containment_min_size=s.containment_min_shingles,
        )
        if not near:
            return []
        best: dict[str, tuple[float, str, float, str]] = {}
        for key, estimate in near:
            cluster_key = state.members[key]
            removed_at, removed_text = state.clusters[cluster_key].live[key]
            # a copy posted before the removal is a double post; past the horizon it is history
            if at is not None and not removed_at < at <= removed_at + self._horizon:
                continue
            if cluster_key not in best or estimate > best[cluster_key][0]:
                best[cluster_key] = (estimate, key, removed_at, removed_text)
        out = []
        for _, key, removed_at, removed_text in best.values():
            theirs = state.sets.get(key)
            if theirs is None:  # cannot happen while sets mirrors members; stay correct if it does
                theirs = state.sets[key] = shingle_set(removed_text)
            j, c = exact_similarity(mine, theirs)
            if j >= s.similarity:
                out.append((j, key, removed_at))
            elif c >= s.containment and min(len(mine), len(theirs)) >= s.containment_min_shingles:
                out.append((c, key, removed_at))
        return out

    def _removal(
        self,
        state: ReturningComplainantState,
        mid: str,
        at: float,
        brand: BrandView,
        alerts: list[Alert],
        removed_by: str | None = None,
    ) -> None:
        if mid in state.members:
            return  # redelivered, or hidden and then deleted: one removal
        t = state.texts.get(mid)
        if t is None:
            if self.settings.max_pending and mid not in state.pending:
                # who removed it is judged when the complaint (and so its author) arrives
                state.pending[mid] = [at, state.tick, removed_by]
                while len(state.pending) > self.settings.max_pending:
                    state.pending.popitem(last=False)
            return
        hashed = self._signature(t.text)
        if hashed is None:
            return
        sig, mine, grams = hashed
        # the same text removed before (a repost the brand removed too) joins that incident
        cluster = None
        found = self._matches(state, sig, mine) if self._worth_matching(state, grams) else []
        for _, key, _ in sorted(found, key=lambda x: -x[0]):
            cluster = state.clusters.get(state.members[key])
            if cluster is not None:
                break
        if cluster is None:
            cluster = state.clusters.get(mid) or _Cluster(mid)
            state.clusters[cluster.key] = cluster
        if mid in cluster.return_ids:
            cluster.removed_again += 1
        # watched before indexing, so a capacity eviction from this same cluster cannot drop it
        cluster.live[mid] = (at, t.text)
        state.members[mid] = cluster.key
        state.sets[mid] = mine
        state.grams[mid] = grams
        for gone in state.index.add(mid, sig, at):
            self._unwatch(state, gone)
        cluster.removed_count += 1
        if len(cluster.removed) < _EVIDENCE_KEEP:
            cluster.removed.append(
                _Seen(mid, t.platform, t.channel, t.author_id, t.url, t.text[:_SNIPPET], t.negative, t.at, at)
            )

    def _unwatch(self, state: ReturningComplainantState, mid: str) -> None:
        key = state.members.pop(mid, None)
        state.sets.pop(mid, None)
        state.grams.pop(mid, None)
        cluster = state.clusters.get(key) if key is not None else None
        if cluster is not None:
            cluster.live.pop(mid, None)
            if not cluster.live and (cluster.episode is None or not cluster.episode.is_open):
                del state.clusters[cluster.key]

    def _restored(self, state: ReturningComplainantState, mid: str) -> None:
        state.pending.pop(mid, None)
        if mid in state.members:
            # visible again: a copy posted from now on is not a comeback of a removed complaint
            state.index.remove(mid)
            self._unwatch(state, mid)

    def _check_return(
        self, state: ReturningComplainantState, obs: Observation, brand: BrandView, alerts: list[Alert]
    ) -> None:
        m = obs.event.mention
        norm = normalize(m.text[:_HASH_KEEP])
        grams = _grams(norm)
        if len(grams) < self.settings.min_shingles:
            return  # too short to compare: nothing hashed
        if not self._worth_matching(state, grams):
            return
        hashes = shingle_hashes(norm)
        mine = frozenset(hashes.tolist())
        sig = _HASHER.signature_of_hashes(hashes, len(mine))
        assert sig is not None
        at = m.occurred_at.timestamp()
        best: tuple[float, str, float] | None = None
        for match in self._matches(state, sig, mine, at):
            if best is None or match[0] > best[0]:
                best = match
        if best is None:
            return
        score, key, _ = best
        cluster = state.clusters[state.members[key]]
        if m.mention_id in cluster.return_ids:
            return  # redelivered, or edited again: one return
        if len(cluster.return_ids) < _ACCOUNTS_KEEP:
            cluster.return_ids[m.mention_id] = None
        if len(cluster.accounts) < _ACCOUNTS_KEEP:
            cluster.accounts[m.author_id] = None
        cluster.returns_count += 1
        cluster.last_return = at if cluster.last_return is None else max(cluster.last_return, at)
        cluster.best = max(cluster.best, score)
        s = obs.event.sentiment
        cluster.returns.append(
            _Seen(
                m.mention_id,
                m.platform.value,
                m.channel,
                m.author_id,
                m.url,
                m.text[:_SNIPPET],
                s.negative if s is not None else 1.0,
                at,
                score,
            )
        )
        if len(cluster.returns) > _EVIDENCE_KEEP:
            del cluster.returns[0]
        first = cluster.removed[0]
        episode, status = trigger(
            cluster.episode,
            now=utc(at),
            kind=_KIND,
            brand=brand.name,
            channel=first.channel,
            platform=Platform(first.platform),
            severity=Severity.CRITICAL,
            level=float(len(cluster.accounts)),
            policy=self._policy,
        )
        cluster.episode = episode
        if status is not None:
            alerts.append(self._alert(cluster, status, brand, self._message(cluster, brand)))
        state.open[cluster.key] = None
        while len(state.open) > self.settings.max_incidents:
            oldest = state.clusters[next(iter(state.open))]
            assert oldest.episode is not None
            status = resolve_now(oldest.episode, now=utc(at))
            msg = (
                f"{brand.name} has more than {self.settings.max_incidents} returning complaints open at once; "
                "RepWatch closes the oldest to stay bounded. Treat them as one campaign and answer it publicly."
            )
            alerts.append(self._alert(oldest, status, brand, msg))
            self._closed(state, oldest)

    # --- housekeeping --------------------------------------------------------------------------------------

    def _sweep(self, state: ReturningComplainantState, now_dt: datetime, brand: BrandView, alerts: list[Alert]) -> None:
        # dated from the brand's own watermark, so it shares its tzinfo and the per-event comparison
        # stays on datetime's fast path; entries remembered until the next pass carry this pass's time
        state.next_sweep = now_dt + _SWEEP
        now = now_dt.timestamp()
        state.tick = int(now)
        for store, horizon in ((state.texts, now - self._memory), (state.brand_posts, now - self._memory)):
            while store:
                k, v = next(iter(store.items()))
                if (v.kept if isinstance(v, _Text) else v) >= horizon:
                    break
                del store[k]
        pending_horizon = now - self._pending_s
        while state.pending:
            k, (_, kept, _) = next(iter(state.pending.items()))
            if kept >= pending_horizon:
                break
            del state.pending[k]
        for gone in state.index.expire(now - self._horizon):
            self._unwatch(state, gone)
        # only open incidents have a timer; the rest of the clusters wait for their complaints to expire
        for key in [k for k, _ in state.open.items() if now - (state.clusters[k].last_return or now) >= self._quiet]:
            cluster = state.clusters[key]
            ep = cluster.episode
            assert ep is not None and cluster.last_return is not None
            # calm since the last return, so the resolution time does not depend on sweep timing
            ep.calm_since = ep.calm_since or utc(cluster.last_return)
            status = calm(ep, now=utc(cluster.last_return + self._quiet), policy=self._policy)
            if status is None:  # cannot happen with calm_since set above; keep the page closable
                status = resolve_now(ep, now=utc(now))
            alerts.append(self._alert(cluster, status, brand, self._resolved_message(cluster)))
            self._closed(state, cluster)

    def _closed(self, state: ReturningComplainantState, cluster: _Cluster) -> None:
        """Its incident just resolved: no timer any more, and no reason to stay without watched complaints."""
        state.open.pop(cluster.key, None)
        if not cluster.live:
            del state.clusters[cluster.key]

    # --- alerts --------------------------------------------------------------------------------------------

    def _alert(self, cluster: _Cluster, status: AlertStatus, brand: BrandView, message: str) -> Alert:
        ep = cluster.episode
        assert ep is not None
        removed = cluster.removed[: _EVIDENCE_KEEP // 2]
        returns = cluster.returns[-(20 - len(removed)) :]
        channels: dict[str, int] = {}
        for r in cluster.returns:
            channels[r.channel] = channels.get(r.channel, 0) + 1
        top = dict(sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
        first = cluster.removed[0]
        last_at = cluster.last_return if cluster.last_return is not None else first.when
        evidence = AlertEvidence(
            mention_ids=[r.mention_id for r in removed] + [r.mention_id for r in reversed(returns)],
            counts={
                "removed": cluster.removed_count,
                "returned": cluster.returns_count,
                "accounts": len(cluster.accounts),
                "other_accounts": sum(1 for a in cluster.accounts if a not in {r.author_id for r in cluster.removed}),
                "removed_again": cluster.removed_again,
            },
            mentions=[r.evidence("removed") for r in removed] + [r.evidence("returned") for r in reversed(returns)],
            observed=float(cluster.returns_count),
            expected=0.0,
            score=round(cluster.best, 4),
            baseline="removed_complaint",
            top_channels=top,
        )
        alert = to_alert(
            ep,
            status,
            window_start=utc(min(first.when, last_at)),
            window_end=utc(max(first.when, last_at)),
            evidence=evidence,
            message=message,
        )
        # two clusters' first returns can share channel and time (one poll); the cluster key joins the id
        return alert.model_copy(
            update={"alert_id": alert_id(_KIND.value, ep.brand, f"{ep.channel}\x1f{cluster.key}", ep.started_at)}
        )

    def _message(self, cluster: _Cluster, brand: BrandView) -> str:
        first = cluster.removed[0]
        ret = cluster.returns[-1]
        who = "the same account" if ret.author_id == first.author_id else f"another account ({ret.author_id})"
        pct = math.floor(ret.when * 100)
        accounts = len(cluster.accounts)
        spread = f" It has now come back from {accounts} accounts." if accounts > 1 else ""
        return (
            f"A complaint {brand.name} removed from {first.channel} {_ago(ret.at - first.when)} ago is back on "
            f"{ret.channel} from {who}, {pct}% the same text.{spread} Reply to it publicly now and do not remove it "
            "again — this is how a public fuss starts."
        )

    def _resolved_message(self, cluster: _Cluster) -> str:
        first = cluster.removed[0]
        n, accounts = cluster.returns_count, len(cluster.accounts)
        return (
            f"No new return of the complaint removed from {first.channel} for {self.settings.quiet_hours:g} h "
            f"({n} return{'' if n == 1 else 's'} from {accounts} account{'' if accounts == 1 else 's'} in all); "
            "closing the incident. If it comes back again, reply publicly instead of removing it."
        )
