"""Scenarios: every incident kind staged, labelled where it really is, deterministically."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from datetime import timedelta

import pytest

from shared.schemas import Actor, AlertKind, EventType
from simulation.incidents import Expect, shingle_similarity
from simulation.incidents.deletion_bias import DeletionBias
from simulation.scenarios import build_scenario
from simulation.world import MINUTE


@pytest.fixture(scope="module")
def default_labels():
    return build_scenario("default", seed=0).labels()


@pytest.fixture(scope="module")
def smoke():
    sc = build_scenario("smoke", seed=0)
    run = sc.run()
    return sc, run, list(run.stream())


def _required(labels, kind):
    return [lab for lab in labels if lab.kind is kind and lab.expect is Expect.ALERT]


def test_default_has_four_brands_from_quiet_to_loud():
    sc = build_scenario("default")
    rates = sorted(b.negatives_per_min for b in sc.brands)
    assert len(rates) == 4 and rates[0] <= 0.03 and rates[-1] >= 7.5
    assert len({b.timezone for b in sc.brands}) == 4
    assert sc.weeks == 3 and sc.brand_weeks == 12
    # total volume stays where a one-core evaluation finishes in minutes
    world = sc.world()
    people = sum(world.mentions_per_min(b.name) for b in sc.brands) * sc.duration / timedelta(minutes=1)
    assert people * 1.6 < 3_000_000


def test_default_stages_every_kind_several_times(default_labels):
    counts = Counter(lab.kind for lab in default_labels if lab.expect is Expect.ALERT)
    assert set(counts) == set(AlertKind)
    for kind in (
        AlertKind.NEGATIVITY_SPIKE,
        AlertKind.DELETED_COMPLAINT,
        AlertKind.RETURNING_COMPLAINANT,
        AlertKind.UNANSWERED_COMPLAINT,
    ):
        assert counts[kind] >= 5, kind
    assert counts[AlertKind.VOLUME_SURGE] >= 2 and counts[AlertKind.DELETION_BIAS] >= 2


def test_default_spikes_span_sizes_and_brand_volumes(default_labels):
    spikes = _required(default_labels, AlertKind.NEGATIVITY_SPIKE)
    assert min(s.size for s in spikes) == 3.0 and max(s.size for s in spikes) == 10.0
    big = [s for s in spikes if s.baseline_per_min >= 5 and s.channel is None]
    small = [s for s in spikes if s.baseline_per_min < 0.1]
    assert {3.0, 10.0} <= {s.size for s in big}
    assert {3.0, 10.0} <= {s.size for s in small}
    assert any(s.channel for s in spikes)  # a wave local to one owned channel
    for s in spikes:
        assert s.detectable_from == s.start < s.end
        assert s.floor_at is None or s.start <= s.floor_at <= s.end + timedelta(minutes=1)


def test_default_returning_complaints_are_paraphrased_from_other_accounts_in_both_languages(default_labels):
    returning = _required(default_labels, AlertKind.RETURNING_COMPLAINANT)
    notes = " | ".join(r.note for r in returning)
    assert "en " in notes and "ru " in notes
    assert sum("other account" in r.note for r in returning) >= 4
    assert {"comeback", "retold", "repost"} <= {w for r in returning for w in r.note.replace(",", " ").split()}
    for r in returning:
        assert len(r.mention_ids) == 2 and r.detect_event_id


def test_default_has_removals_that_must_and_must_not_alert_and_an_eight_day_silence(default_labels):
    removals = _required(default_labels, AlertKind.DELETED_COMPLAINT)
    assert len(removals) >= 10 and all(r.detect_event_id and len(r.mention_ids) == 1 for r in removals)
    assert all(r.start < r.detectable_from <= r.end for r in removals)
    nones = [lab for lab in default_labels if lab.expect is Expect.NONE]
    assert len(nones) >= 2 and all("own" in n.note for n in nones)
    silences = _required(default_labels, AlertKind.SILENT_COMMUNITY)
    assert any(s.size == 8 and s.detectable_from - s.start == timedelta(days=7) for s in silences)
    sla = _required(default_labels, AlertKind.UNANSWERED_COMPLAINT)
    assert all(s.detectable_from - s.start == timedelta(minutes=60) for s in sla)


def test_a_short_run_still_stages_every_kind():
    labels = build_scenario("default", weeks=1).labels()
    assert {lab.kind for lab in labels if lab.expect is Expect.ALERT} == set(AlertKind)
    assert any(lab.expect is Expect.NONE for lab in labels)


def test_incidents_of_one_brand_are_laid_out_after_the_warmup_in_order():
    sc = build_scenario("default")
    by_brand = defaultdict(list)
    for inc in sc.incidents:
        assert timedelta(0) < inc.at < sc.duration
        by_brand[inc.brand].append(inc.at)
    for brand, starts in by_brand.items():
        staged = [a for a in starts if a >= timedelta(days=1)]
        assert len(staged) >= 5, brand


def test_labels_are_deterministic_per_seed(default_labels):
    again = build_scenario("default", seed=0).labels()
    assert [lab.to_json() for lab in again] == [lab.to_json() for lab in default_labels]
    other = build_scenario("default", seed=1).labels()
    assert [lab.to_json() for lab in other] != [lab.to_json() for lab in default_labels]
    json.dumps([lab.to_json() for lab in default_labels])


def test_smoke_stream_is_byte_identical_across_runs(smoke):
    sc, _, events = smoke
    a = hashlib.sha256(b"".join(ev.to_bytes() for ev in events)).hexdigest()
    b = hashlib.sha256(b"".join(ev.to_bytes() for ev in build_scenario("smoke", seed=0).stream())).hexdigest()
    assert a == b


def test_every_label_points_at_an_event_that_is_in_the_stream_when_it_says(smoke):
    _, run, events = smoke
    by_id = {ev.mention.event_id: ev for ev in events}
    pinned = [lab for lab in run.labels if lab.detect_event_id]
    assert len(pinned) >= 5
    for lab in pinned:
        ev = by_id[lab.detect_event_id]
        assert ev.mention.occurred_at == lab.detectable_from
        assert ev.mention.mention_id in lab.mention_ids
        if lab.kind is AlertKind.DELETED_COMPLAINT:
            assert ev.mention.event_type in (EventType.DELETED, EventType.HIDDEN)
            if lab.expect is Expect.ALERT:
                assert ev.mention.actor in (Actor.BRAND, None)
            else:
                assert ev.mention.actor is Actor.AUTHOR


def test_a_returning_complaint_is_a_near_duplicate_from_another_account(smoke):
    _, run, events = smoke
    created = {ev.mention.mention_id: ev for ev in events if ev.mention.event_type is EventType.CREATED}
    (ret,) = [lab for lab in run.labels if lab.kind is AlertKind.RETURNING_COMPLAINANT]
    comeback, original = (created[m].mention for m in ret.mention_ids)
    assert comeback.author_id != original.author_id
    assert shingle_similarity(comeback.text, original.text) > 0.5
    removal = next(
        ev.mention
        for ev in events
        if ev.mention.mention_id == original.mention_id and ev.mention.event_type is not EventType.CREATED
    )
    assert removal.actor is Actor.BRAND and removal.occurred_at < comeback.occurred_at


def _people_negatives(events, brand, t0, t1):
    return [
        ev
        for ev in events
        if ev.mention.brand == brand
        and ev.mention.event_type is EventType.CREATED
        and not ev.mention.author_is_brand
        and t0 <= ev.mention.occurred_at < t1
        and ev.sentiment.label.value == "negative"
    ]


def test_a_spike_is_its_multiplier_times_the_baseline_in_distinct_people(smoke):
    _, run, events = smoke
    (spike,) = [lab for lab in run.labels if lab.kind is AlertKind.NEGATIVITY_SPIKE]
    w = run.world
    t0, t1 = w.t_of(spike.start) + MINUTE, w.t_of(spike.end) - MINUTE
    seen = _people_negatives(events, spike.brand, w.at(t0), w.at(t1))
    expected = w.expected_negatives(spike.brand, t0, t1)
    assert len(seen) / expected == pytest.approx(spike.size, rel=0.3)
    authors = {ev.mention.author_id for ev in seen}
    assert len(authors) / expected == pytest.approx(spike.size, rel=0.3)


def test_a_volume_surge_keeps_the_negative_share(smoke):
    _, run, events = smoke
    (surge,) = [lab for lab in run.labels if lab.kind is AlertKind.VOLUME_SURGE]

    def share(t0, t1):
        people = [
            ev
            for ev in events
            if ev.mention.brand == surge.brand
            and ev.mention.event_type is EventType.CREATED
            and not ev.mention.author_is_brand
            and t0 <= ev.mention.occurred_at < t1
        ]
        neg = sum(ev.sentiment.label.value == "negative" for ev in people)
        return len(people), neg / len(people)

    n_in, s_in = share(surge.start, surge.end)
    n_out, s_out = share(surge.end + timedelta(hours=1), surge.end + timedelta(hours=5))
    assert n_in / (surge.end - surge.start).total_seconds() > 2 * n_out / (4 * 3600)
    assert s_in == pytest.approx(s_out, abs=0.06)


def test_an_sla_breach_is_answered_only_after_its_deadline(smoke):
    _, run, events = smoke
    (sla,) = [lab for lab in run.labels if lab.kind is AlertKind.UNANSWERED_COMPLAINT and lab.expect is Expect.ALERT]
    replies = defaultdict(list)
    for ev in events:
        if ev.mention.author_is_brand and ev.mention.parent_id:
            replies[ev.mention.parent_id].append(ev.mention.occurred_at)
    created = {ev.mention.mention_id: ev.mention for ev in events if ev.mention.event_type is EventType.CREATED}
    for mid in sla.mention_ids:
        assert min(replies[mid]) > created[mid].occurred_at + timedelta(minutes=60)
    assert max(min(replies[m]) for m in sla.mention_ids) == sla.end


def test_a_silent_channel_hears_nothing_from_the_brand(smoke):
    _, run, events = smoke
    (silent,) = [lab for lab in run.labels if lab.kind is AlertKind.SILENT_COMMUNITY]
    brand_there = [
        ev.mention.occurred_at
        for ev in events
        if ev.mention.channel == silent.channel and ev.mention.brand == silent.brand and ev.mention.author_is_brand
    ]
    assert brand_there and max(brand_there) == silent.start


def test_removed_complaints_do_not_resemble_each_other(smoke):
    _, run, events = smoke
    created = {ev.mention.mention_id: ev.mention.text for ev in events if ev.mention.event_type is EventType.CREATED}
    removed = [created[lab.mention_ids[0]] for lab in run.labels if lab.kind is AlertKind.DELETED_COMPLAINT]
    assert len(removed) >= 5
    for i, a in enumerate(removed):
        for b in removed[i + 1 :]:
            assert shingle_similarity(a, b) <= 0.3


def test_unknown_scenario_and_bad_weeks_are_refused():
    with pytest.raises(ValueError, match="unknown scenario"):
        build_scenario("nope")
    with pytest.raises(ValueError):
        build_scenario("default", weeks=0)


def test_a_removal_pattern_too_weak_for_the_ratio_rule_is_only_tolerated():
    world = build_scenario("smoke").world()
    weak = DeletionBias("acme", timedelta(hours=3), channel="facebook:acmeofficial", complaints=6, removed_share=1.0)
    plan = weak.plan(world, random.Random(0), "deletion_bias#0")
    (bias,) = [lab for lab in plan.labels if lab.kind is AlertKind.DELETION_BIAS]
    assert bias.expect is Expect.TOLERATE and "too weak" in bias.note
    strong = DeletionBias("tinyshop", timedelta(hours=3), channel="vk:club_tinyshop", complaints=8, removed_share=1.0)
    (bias,) = [lab for lab in strong.plan(world, random.Random(0), "x").labels if lab.kind is AlertKind.DELETION_BIAS]
    assert bias.expect is Expect.ALERT and bias.start < bias.detectable_from <= bias.end
