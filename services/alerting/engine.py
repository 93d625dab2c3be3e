"""The alerting engine: brands, their clocks and their state; detectors do the judging.

The engine owns everything detectors must not decide for themselves:

* **Time.** One event-time watermark per brand (the newest ``occurred_at`` seen
  for it). A brand's events are in order on its partition, so lateness is only
  ever judged against that brand's own clock: a partition that runs hours ahead
  of another (a backlog, a replayed export) cannot expire a lagging brand's
  windows. An event dated more than ``future_tolerance`` after its own
  ``ingested_at`` is refused with :class:`FutureEvent` before any state is
  touched, so one bad record cannot blind a brand for years.
* **Judgements shared by all detectors.** What counts as a complaint (the
  negative rule) and which channels the brand owns: listed in the brands file,
  or learned from the stream where the brand itself posts or replies. Who removed a
  mention is the event's ``actor``, or, where the source named only the remover
  (``removed_by``), :func:`~services.alerting.types.removal_actor` against the author a
  detector remembers (the engine keeps no per-mention memory of its own).
* **Configuration.** Detector settings resolved as defaults <- ``AlertingSettings``
  <- the brands file's per-brand ``detectors:`` <- ``--set`` overrides; brands
  with identical settings share one detector object.
* **State.** Per brand: the engine's own part plus one state object per
  detector, snapshotted to one JSON document and restored from it.

The only wall time in alerting enters through :class:`IdlePolicy`, and even
there it is passed in by the caller. Nothing here reads a clock, logs on the
hot path or talks to Kafka.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from services.alerting.types import BrandView, Detector, DetectorSettings, Observation
from shared.brands import BrandConfig, BrandsFile
from shared.schemas import Alert, AlertKind, EventType, InvalidRecord, ScoredMention, SentimentLabel

#: version of the engine's snapshot document; restore refuses any other
ENGINE_STATE_VERSION = 1

#: learned owned channels kept per brand. A brand posts in a handful of channels;
#: 200 is far above any real brand and keeps a snapshot small. Least recently
#: posted-in goes first. No time-based expiry on purpose: a channel the brand has
#: stopped posting in is exactly what the silent-community detector watches.
MAX_ACTIVE_CHANNELS = 200

#: config objects remembered by identity in DetectorFactory (brands files list a few hundred brands at most;
#: past this, lookups fall back to the settings key, which is only slower)
_MAX_CONFIG_OBJECTS = 10_000

#: events that show the brand posting or replying (so the channel is its own)
_POSTING = frozenset({EventType.CREATED, EventType.EDITED})

_NEGATIVE = SentimentLabel.NEGATIVE


def _observation_maker() -> Callable[[ScoredMention, bool, bool, datetime], Observation]:
    # A frozen dataclass's __init__ goes through object.__setattr__ once per field, which is
    # about half of the engine's own cost per event. Writing the slots directly builds the very
    # same object in half the time. Only while Observation has exactly these fields: if it
    # grows one, the ordinary constructor is used and nothing can be left unset.
    names = tuple(f.name for f in fields(Observation))
    if names != ("event", "negative", "owned", "watermark") or not hasattr(Observation, "__slots__"):
        return Observation
    new = object.__new__
    set_event, set_negative = Observation.event.__set__, Observation.negative.__set__  # type: ignore[attr-defined]
    set_owned, set_watermark = Observation.owned.__set__, Observation.watermark.__set__  # type: ignore[attr-defined]

    def make(event: ScoredMention, negative: bool, owned: bool, watermark: datetime) -> Observation:
        obs = new(Observation)
        set_event(obs, event)
        set_negative(obs, negative)
        set_owned(obs, owned)
        set_watermark(obs, watermark)
        return obs

    return make


_observation = _observation_maker()


class FutureEvent(InvalidRecord):
    """An event dated further after its own ingestion than the tolerance allows.

    The worker dead-letters it (reason ``future_event``); it moves no clock.
    """

    def __init__(self, event_id: str, occurred_at: datetime, ingested_at: datetime, tolerance: timedelta) -> None:
        super().__init__(
            "future_event",
            f"event {event_id} occurred_at {occurred_at.isoformat()} is {occurred_at - ingested_at} after its "
            f"ingested_at {ingested_at.isoformat()} (tolerance {tolerance}); a clock that far ahead would make "
            "every later event of the brand look late, so it is dropped without moving any clock",
        )
        self.event_id = event_id


# ---------------------------------------------------------------------------------------------------------------
# configuration


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``["negativity_spike.p_value=1e-5", ...]`` (``--set KEY=VALUE``) -> ``{"negativity_spike.p_value": "1e-5"}``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad override {item!r}: use detector.setting=value, e.g. negativity_spike.p_value=1e-5")
        out[key.strip()] = value.strip()
    return out


def _problems(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"] for e in err.errors()[:5]
    )


def _settings_key(name: str, settings: DetectorSettings) -> str:
    return name + "\x1f" + json.dumps(settings.model_dump(mode="json"), sort_keys=True)


class DetectorFactory:
    """Builds each brand's detectors from layered settings, sharing identical instances.

    Layers, later wins: the detector's own defaults, ``base`` (from
    ``AlertingSettings``), the brand's ``detectors:`` map in the brands file,
    then ``overrides``. Each layer is validated by the detector's ``Settings``
    model as it is added, so an error names the layer that caused it.
    """

    def __init__(
        self,
        classes: Sequence[type[Detector]],
        base: Mapping[str, Mapping[str, Any]] | None = None,
        overrides: Mapping[str, str] | Iterable[str] | None = None,
    ) -> None:
        self._classes = {cls.name: cls for cls in classes}
        if len(self._classes) != len(classes):
            raise ValueError("two detector classes share a name")
        base = dict(base or {})
        self._check_names(base, "AlertingSettings.detectors")
        self._base = {name: dict(values) for name, values in base.items()}
        if overrides is not None and not isinstance(overrides, Mapping):
            overrides = parse_overrides(overrides)
        self._overrides = self._parse_overrides(overrides or {})
        # one instance per distinct (detector, settings); one tuple per distinct brand map
        self._instances: dict[str, Detector] = {}
        self._per_config: dict[str, tuple[Detector, ...]] = {}
        # the same answer by config object (a brands file hands out one object per brand, and one default),
        # so a restore of thousands of brands does not serialise their settings each time. The config is
        # kept with it so that its id cannot be reused by another object
        self._by_object: dict[int, tuple[BrandConfig, tuple[Detector, ...]]] = {}
        self.for_config(BrandConfig(), "<default>")  # fail at start on bad base settings or overrides

    def _check_names(self, layer: Mapping[str, Any], source: str) -> None:
        for name in layer:
            if name not in self._classes:
                raise ValueError(f"{source}: unknown detector {name!r} (known: {', '.join(self._classes)})")
            if not isinstance(layer[name], Mapping):
                raise ValueError(f"{source}: settings of detector {name!r} must be a mapping of setting -> value")

    def _parse_overrides(self, overrides: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        parsed: dict[str, dict[str, Any]] = {}
        for key, raw in overrides.items():
            name, dot, setting = key.partition(".")
            if not dot or not setting:
                raise ValueError(f"override {key!r}: use detector.setting=value, e.g. negativity_spike.p_value=1e-5")
            cls = self._classes.get(name)
            if cls is None:
                raise ValueError(f"override {key!r}: unknown detector {name!r} (known: {', '.join(self._classes)})")
            fields = cls.Settings.model_fields
            if setting not in fields:
                raise ValueError(
                    f"override {key!r}: detector {name!r} has no setting {setting!r} (known: {', '.join(fields)})"
                )
            parsed.setdefault(name, {})[setting] = self._parse_value(key, cls.Settings, setting, raw)
        return parsed

    @staticmethod
    def _parse_value(key: str, model: type[DetectorSettings], setting: str, raw: str) -> Any:
        # The value is typed by the setting's own annotation and constraints: "30" is an int for an int
        # setting and a str for a str one. JSON is the fallback for lists, mappings and null.
        info = model.model_fields[setting]
        typ: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        adapter = TypeAdapter(typ)
        try:
            return adapter.validate_strings(raw)
        except ValidationError as exc:
            first = exc
        try:
            return adapter.validate_json(raw)
        except ValidationError:
            pass
        raise ValueError(f"override {key}={raw!r}: {_problems(first)}") from None

    def for_config(self, config: BrandConfig, brand: str) -> tuple[Detector, ...]:
        """The enabled detectors of a brand with this config, in registry order."""
        known = self._by_object.get(id(config))
        if known is not None and known[0] is config:
            return known[1]
        cache_key = json.dumps(config.detectors, sort_keys=True, default=str)
        cached = self._per_config.get(cache_key)
        if cached is not None:
            if len(self._by_object) < _MAX_CONFIG_OBJECTS:
                self._by_object[id(config)] = (config, cached)
            return cached
        self._check_names(config.detectors, f"brands file, brand {brand!r}")
        out = []
        for name, cls in self._classes.items():
            settings = self._settings(cls, name, config.detectors.get(name, {}), brand)
            if not settings.enabled:
                continue
            key = _settings_key(name, settings)
            det = self._instances.get(key)
            if det is None:
                det = self._instances[key] = cls(settings)
            out.append(det)
        result = self._per_config[cache_key] = tuple(out)
        if len(self._by_object) < _MAX_CONFIG_OBJECTS:
            self._by_object[id(config)] = (config, result)
        return result

    def _settings(self, cls: type[Detector], name: str, brand_layer: Mapping[str, Any], brand: str) -> DetectorSettings:
        merged: dict[str, Any] = {}
        layers = (
            ("AlertingSettings.detectors", self._base.get(name, {})),
            (f"brands file, brand {brand!r}", brand_layer),
            ("--set overrides", self._overrides.get(name, {})),
        )
        settings = cls.Settings()
        for source, layer in layers:
            if not layer:
                continue
            merged.update(layer)
            try:
                settings = cls.Settings.model_validate(merged)
            except ValidationError as exc:
                raise ValueError(f"{source}: detector {name!r}: {_problems(exc)}") from None
        return settings

    @property
    def instances(self) -> int:
        """Distinct detector objects built so far (brands with the same settings share them)."""
        return len(self._instances)


# ---------------------------------------------------------------------------------------------------------------
# per-brand state


@dataclass(slots=True, eq=False)
class _Brand:
    name: str
    config: BrandConfig
    detectors: tuple[Detector, ...]
    #: one state per detector, aligned with ``detectors``
    states: list[Any]
    #: (platform, channel) owned per the brands file: one set lookup per event instead of a list scan
    listed: frozenset[tuple[str, str]]
    #: learned owned channels, least recently posted-in first (a dict is an ordered set with O(1) move)
    channels: dict[tuple[str, str], None] = field(default_factory=dict)
    #: listed | learned: the one set lookup per event that says whether its channel is owned
    owned: set[tuple[str, str]] = field(default_factory=set)
    watermark: datetime | None = None
    view: BrandView | None = None
    #: touched since active_counts() / take_measurements() last looked
    dirty_active: bool = False
    dirty_measure: bool = False
    #: this brand's last contribution to the engine's active totals
    active: dict[AlertKind, int] = field(default_factory=dict)
    gone: bool = False
    #: (bound observe, state) per detector: the hot loop does no attribute lookups. Detectors mutate
    #: their state in place, so these stay valid until the states list itself is replaced.
    observers: tuple[tuple[Callable[..., list[Alert]], Any], ...] = ()
    advancers: tuple[tuple[Callable[..., list[Alert]], Any], ...] = ()

    def bind(self) -> None:
        self.observers = tuple((d.observe, s) for d, s in zip(self.detectors, self.states, strict=True))
        self.advancers = tuple((d.advance, s) for d, s in zip(self.detectors, self.states, strict=True))


def _listed(config: BrandConfig) -> frozenset[tuple[str, str]]:
    return frozenset((p.value, ch) for p, chans in config.owned_channels.items() for ch in chans)


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def _aware(ts: datetime, what: str) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {ts.isoformat()}")
    return ts


class AlertEngine:
    """Feeds every scored event of a brand to that brand's detectors, in partition order."""

    def __init__(
        self,
        detectors_for: Callable[[str], Sequence[Detector]] | Sequence[Detector],
        brands: BrandsFile = BrandsFile(),  # noqa: B008 - frozen model, safe to share
        *,
        future_tolerance: timedelta = timedelta(minutes=10),
        negative_threshold: float | None = None,
    ) -> None:
        if callable(detectors_for):
            self._detectors_for: Callable[[str], Sequence[Detector]] = detectors_for
        else:
            fixed = tuple(detectors_for)
            self._detectors_for = lambda _brand: fixed
        if future_tolerance < timedelta(0):
            raise ValueError(f"future_tolerance must not be negative, got {future_tolerance}")
        if negative_threshold is not None and not 0.0 < negative_threshold <= 1.0:
            raise ValueError(f"negative_threshold must be in (0, 1], got {negative_threshold}")
        self._brands_file = brands
        self._tolerance = future_tolerance
        self._threshold = negative_threshold
        self._brands: dict[str, _Brand] = {}
        self._dirty_active: list[_Brand] = []
        self._dirty_measure: list[_Brand] = []
        self._active_totals: dict[AlertKind, int] = dict.fromkeys(AlertKind, 0)
        #: set by build(): how the detectors were made (e.g. ``factory.instances`` for a metric)
        self.factory: DetectorFactory | None = None

    @classmethod
    def build(
        cls,
        settings: Any,
        brands: BrandsFile = BrandsFile(),  # noqa: B008 - frozen model, safe to share
        overrides: Mapping[str, str] | Iterable[str] | None = None,
    ) -> AlertEngine:
        """The engine the worker and the backtest both run: every registered detector, settings layered.

        ``settings`` is an ``AlertingSettings``; fields it lacks take their defaults here
        (``detectors``, ``future_tolerance_s``, ``negative_threshold``). A bad detector
        name, setting or value anywhere raises ValueError naming it.
        """
        from services.alerting.detectors import detector_classes

        factory = DetectorFactory(detector_classes(), getattr(settings, "detectors", None), overrides)
        for name, config in brands.brands.items():  # every brand's settings checked at start, not at its first event
            factory.for_config(config, name)
        factory.for_config(brands.default, "<default>")

        def detectors_for(brand: str) -> tuple[Detector, ...]:
            return factory.for_config(brands.brand(brand), brand)

        engine = cls(
            detectors_for,
            brands,
            future_tolerance=timedelta(seconds=float(getattr(settings, "future_tolerance_s", 600.0))),
            negative_threshold=getattr(settings, "negative_threshold", None),
        )
        engine.factory = factory
        return engine

    # --- brands ------------------------------------------------------------------------------------------------

    def _detectors_of(self, name: str) -> tuple[BrandConfig, tuple[Detector, ...]]:
        config = self._brands_file.brand(name)
        detectors = tuple(self._detectors_for(name))
        names = [d.name for d in detectors]
        if len(set(names)) != len(names):
            raise ValueError(f"brand {name!r}: two detectors share a name ({names})")
        return config, detectors

    def _new_brand(self, name: str) -> _Brand:
        config, detectors = self._detectors_of(name)
        listed = _listed(config)
        st = _Brand(name, config, detectors, [d.new_state() for d in detectors], listed, owned=set(listed))
        st.view = BrandView(name, config)
        st.bind()
        return st

    def _brand(self, name: str) -> _Brand:
        st = self._brands.get(name)
        if st is None:
            st = self._brands[name] = self._new_brand(name)
        return st

    def _touch(self, st: _Brand) -> None:
        if not st.dirty_active:
            st.dirty_active = True
            self._dirty_active.append(st)
        if not st.dirty_measure:
            st.dirty_measure = True
            self._dirty_measure.append(st)

    def _learn_channel(self, st: _Brand, key: tuple[str, str]) -> None:
        chans = st.channels
        if key in chans:
            # most recently posted-in moves to the back, so eviction takes the longest unused
            del chans[key]
            chans[key] = None
            return
        chans[key] = None
        st.owned.add(key)
        if len(chans) > MAX_ACTIVE_CHANNELS:
            gone = next(iter(chans))
            del chans[gone]
            if gone not in st.listed:
                st.owned.discard(gone)
        st.view = BrandView(st.name, st.config, frozenset(chans))

    def known_brands(self) -> list[str]:
        return list(self._brands)

    def watermark(self, brand: str) -> datetime | None:
        st = self._brands.get(brand)
        return st.watermark if st is not None else None

    def detectors(self, brand: str) -> tuple[Detector, ...]:
        """The detectors that run for ``brand`` (the same shared objects for brands with the same settings)."""
        st = self._brands.get(brand)
        return st.detectors if st is not None else tuple(self._detectors_for(brand))

    # --- the hot path ------------------------------------------------------------------------------------------

    def process(self, event: ScoredMention) -> list[Alert]:
        """One event of a brand, in that brand's partition order. Raises FutureEvent (state untouched)."""
        m = event.mention
        at = m.occurred_at
        if at - m.ingested_at > self._tolerance:
            raise FutureEvent(m.event_id, at, m.ingested_at, self._tolerance)
        st = self._brands.get(m.brand)
        if st is None:
            st = self._brands[m.brand] = self._new_brand(m.brand)
        by_brand = m.author_is_brand
        if by_brand and m.event_type in _POSTING:
            # str() of the StrEnum is its value, without the Python-level descriptor behind .value
            self._learn_channel(st, (str(m.platform), m.channel))
        wm = st.watermark
        if wm is None or at > wm:
            st.watermark = wm = at
        negative = self.is_complaint(event)
        # Platform is a StrEnum: the member hashes and compares as its value, so it looks up
        # ("vk", channel) keys as they are
        obs = _observation(event, negative, (m.platform, m.channel) in st.owned, wm)
        if not (st.dirty_active and st.dirty_measure):
            self._touch(st)
        view = st.view
        alerts: list[Alert] = []
        for observe, state in st.observers:
            out = observe(state, obs, view)
            if out:
                alerts.extend(out)
        return alerts

    def is_complaint(self, event: ScoredMention) -> bool:
        """The complaint rule every detector sees (and the evaluation's tap applies): labelled negative, or
        P(negative) at least the threshold when one is set. The brand's own posts are never complaints (an
        apology reads as negative to a sentiment model)."""
        if event.mention.author_is_brand:
            return False
        s = event.sentiment
        return s is not None and (
            s.label is _NEGATIVE or (self._threshold is not None and s.negative >= self._threshold)
        )

    # --- time without events -----------------------------------------------------------------------------------

    def _advance(self, st: _Brand, now: datetime) -> list[Alert]:
        if st.watermark is not None and now <= st.watermark:
            return []
        st.watermark = now
        self._touch(st)
        view = st.view
        alerts: list[Alert] = []
        for advance, state in st.advancers:
            out = advance(state, now, view)
            if out:
                alerts.extend(out)
        return alerts

    def advance(self, brand: str, now: datetime) -> list[Alert]:
        """Move one brand's clock forward to ``now`` (no-op if it is not ahead of the watermark, or unknown)."""
        st = self._brands.get(brand)
        if st is None:
            return []
        return self._advance(st, _aware(now, "now"))

    def advance_all(self, now: datetime, *, skip: Container[str] = ()) -> list[Alert]:
        """Move every known brand's clock forward to ``now`` (brands already past it, and those in
        ``skip``, are left alone)."""
        _aware(now, "now")
        alerts: list[Alert] = []
        for st in self._brands.values():
            wm = st.watermark
            if (wm is None or now > wm) and st.name not in skip:
                alerts.extend(self._advance(st, now))
        return alerts

    # --- state -------------------------------------------------------------------------------------------------

    def snapshot(self, brand: str) -> dict[str, Any]:
        """JSON-safe: the brand's clock, learned channels and every detector's dumped state."""
        st = self._brands.get(brand)
        if st is None:
            raise KeyError(f"no state for brand {brand!r}")
        return {
            "v": ENGINE_STATE_VERSION,
            "brand": st.name,
            "watermark": _iso(st.watermark),
            "channels": [[p, ch] for p, ch in st.channels],
            "detectors": {det.name: det.dump_state(state) for det, state in zip(st.detectors, st.states, strict=True)},
        }

    def restore(self, brand: str, data: Mapping[str, Any]) -> None:
        """Replace the brand's state with a snapshot. ValueError (nothing changed) for a bad or unknown one.

        A detector the snapshot lacks (added since) starts fresh; a dumped detector no
        longer configured for the brand is ignored.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"snapshot of brand {brand!r} is a {type(data).__name__}, not a mapping")
        version = data.get("v")
        if version != ENGINE_STATE_VERSION:
            raise ValueError(
                f"snapshot of brand {brand!r} has engine state version {version!r}; "
                f"this build reads version {ENGINE_STATE_VERSION}"
            )
        if data.get("brand") != brand:
            raise ValueError(f"snapshot is of brand {data.get('brand')!r}, not {brand!r}")
        # (built here rather than by _new_brand: a restore of thousands of brands should not make each
        # detector's fresh state only to replace it)
        config, detectors = self._detectors_of(brand)
        listed = _listed(config)
        st = _Brand(brand, config, detectors, [], listed, owned=set(listed))
        raw_wm = data.get("watermark")
        if raw_wm is not None:
            try:
                st.watermark = _aware(datetime.fromisoformat(raw_wm), "watermark")
            except (TypeError, ValueError) as exc:
                raise ValueError(f"snapshot of brand {brand!r}: bad watermark {raw_wm!r}: {exc}") from None
        channels = data.get("channels", [])
        if not isinstance(channels, list) or not all(
            isinstance(c, list | tuple) and len(c) == 2 and all(isinstance(x, str) for x in c) for c in channels
        ):
            raise ValueError(f"snapshot of brand {brand!r}: channels must be a list of [platform, channel] pairs")
        for p, ch in channels[-MAX_ACTIVE_CHANNELS:]:
            st.channels[(p, ch)] = None
        st.owned.update(st.channels)
        st.view = BrandView(brand, st.config, frozenset(st.channels))
        dumps = data.get("detectors", {})
        if not isinstance(dumps, Mapping):
            raise ValueError(f"snapshot of brand {brand!r}: detectors must be a mapping of name -> state")
        for det in st.detectors:
            dump = dumps.get(det.name)
            if dump is None:
                st.states.append(det.new_state())  # a detector added since the snapshot starts fresh
                continue
            try:
                st.states.append(det.load_state(dump))
            except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
                raise ValueError(f"snapshot of brand {brand!r}: detector {det.name!r}: {exc}") from None
        st.bind()
        self._drop(brand)
        self._brands[brand] = st
        self._touch(st)

    def _drop(self, brand: str) -> None:
        old = self._brands.pop(brand, None)
        if old is None:
            return
        old.gone = True
        for kind, n in old.active.items():
            self._active_totals[kind] -= n
        old.active = {}

    def forget(self, brand: str) -> None:
        """Drop the brand's state (its partition was revoked; another worker restores it)."""
        self._drop(brand)

    # --- metrics -----------------------------------------------------------------------------------------------

    def active_counts(self) -> dict[AlertKind, int]:
        """Open incidents per kind over all brands (every kind listed, zeros included, for the gauge).

        Only brands touched since the last call are recounted, so a batch costs what it touched.
        """
        totals = self._active_totals
        for st in self._dirty_active:
            st.dirty_active = False
            if st.gone:
                continue
            fresh: dict[AlertKind, int] = {}
            for det, state in zip(st.detectors, st.states, strict=True):
                by_kind = getattr(det, "active_by_kind", None)
                if by_kind is not None:
                    for kind, n in by_kind(state).items():
                        if n:
                            fresh[AlertKind(kind)] = fresh.get(AlertKind(kind), 0) + n
                else:
                    # a detector with several kinds that cannot split its count books it under its first kind
                    n = det.active(state)
                    if n:
                        fresh[det.kinds[0]] = fresh.get(det.kinds[0], 0) + n
            for kind, n in st.active.items():
                totals[kind] -= n
            for kind, n in fresh.items():
                totals[kind] = totals.get(kind, 0) + n
            st.active = fresh
        self._dirty_active = []
        return dict(totals)

    def take_measurements(self) -> list[tuple[str, float]]:
        """Drain the measurements detectors collected (e.g. ``("reply_seconds", 840.0)``) since the last call."""
        return [(name, value) for _, name, value in self.take_measurements_by_brand()]

    def take_measurements_by_brand(self) -> list[tuple[str, str, float]]:
        """As :meth:`take_measurements`, each with its brand (``("acme", "reply_seconds", 840.0)``)."""
        out: list[tuple[str, str, float]] = []
        for st in self._dirty_measure:
            st.dirty_measure = False
            if st.gone:
                continue
            for det, state in zip(st.detectors, st.states, strict=True):
                take = getattr(det, "take_measurements", None)
                if take is not None:
                    got = take(state)
                    if got:
                        out.extend((st.name, name, value) for name, value in got)
        self._dirty_measure = []
        return out

    @property
    def listed_brands(self) -> frozenset[str]:
        """The brands the brands file names (what bounds a ``brand`` metric label)."""
        return frozenset(self._brands_file.brands)


class IdlePolicy:
    """How far a quiet brand's clock may be moved by wall time.

    The only place wall time enters alerting, and the caller passes it in (the
    worker its clock, the backtest the input's newest event time). ``delay`` is
    the slack granted to events still in flight: a brand that has been quiet
    longer than that is assumed to have nothing more to say about that time, so
    its SLA and silence timers can fire and quiet incidents can resolve.

    A brand's clock moves no faster than wall time passes after the brand was
    last heard from: to ``heard_mark + quiet_for - delay``, where ``heard_mark``
    is its clock when its last event arrived. For a live brand that is wall time
    minus the delay (its last event was about as old as the pipeline's latency).
    For a brand whose events were arriving from a backlog (hours behind, scored
    faster than real time) it is a few seconds past its last event, so a pause
    upstream (the sentiment worker restarting, a poller retrying) does not jump
    it ahead of the rest of its backlog, which would then arrive as late events
    and read as a wave. A brand quiet for ``jump_after`` or longer is taken to
    have no backlog left (a replayed export that ended) and moves straight to
    ``wall_now - delay``; a zero ``jump_after`` always does.
    """

    def __init__(self, delay: timedelta = timedelta(minutes=2), jump_after: timedelta = timedelta(minutes=10)) -> None:
        if delay < timedelta(0):
            raise ValueError(f"idle delay must not be negative, got {delay}")
        if jump_after < timedelta(0):
            raise ValueError(f"idle jump_after must not be negative, got {jump_after}")
        self.delay = delay
        self.jump_after = jump_after

    @classmethod
    def from_settings(cls, settings: Any) -> IdlePolicy:
        return cls(
            timedelta(seconds=float(getattr(settings, "idle_delay_s", 120.0))),
            timedelta(seconds=float(getattr(settings, "idle_jump_after_s", 600.0))),
        )

    def target(
        self, wall_now: datetime, heard_mark: datetime | None = None, quiet_for: timedelta | None = None
    ) -> datetime:
        """Where a quiet brand's clock may go: ``wall_now - delay``, paced from ``heard_mark``
        (its clock when its last event arrived, ``quiet_for`` ago) unless it was quiet for
        ``jump_after``. Without ``heard_mark`` (the backtest, whose wall time is event time) the
        full move."""
        full = _aware(wall_now, "wall_now") - self.delay
        if heard_mark is None or quiet_for is None or quiet_for >= self.jump_after:
            return full
        return min(full, _aware(heard_mark, "heard_mark") + quiet_for - self.delay)


def __getattr__(name: str) -> Any:
    # The engine API names run_backtest beside the engine; it lives in backtest.py, which imports
    # this module, so it is looked up only when asked for (no import cycle at load time).
    if name in ("run_backtest", "DeadLetterNote"):
        from services.alerting import backtest

        return getattr(backtest, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
