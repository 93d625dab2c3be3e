"""The demo's webhooks are what the real connectors accept: authentic, mapped to acme's
owned channels, with the deletion attributed to its author and VK's retry a duplicate."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

import pytest

from devtools.demo_pushes import Credentials, handshakes, story
from services.ingest.connectors import Push
from services.ingest.receiver import RecentAuthors
from services.ingest.receiver_main import build_routes
from services.ingest.settings import ReceiverSettings
from shared.schemas import Actor, EventType
from simulation.scenarios import DEMO_PUSH_CHANNELS, build_scenario

LIVE = datetime(2026, 5, 4, 11, 0, tzinfo=timezone.utc)


@pytest.fixture
def routes(monkeypatch):
    creds = Credentials.generate()
    for k, v in creds.receiver_env().items():
        monkeypatch.setenv(k, v)
    authors = RecentAuthors(100)
    # the brands file the demo writes, and the receiver's settings from the demo's environment
    routes = build_routes(ReceiverSettings(), build_scenario("demo", start=LIVE).brands_file(), authors)
    return creds, routes, authors


def _send(routes, req, received_at):
    push = Push(req.method, req.body, received_at, dict(req.headers), dict(parse_qsl(req.query)))
    return routes[req.path.removeprefix("/hooks/")].connector.handle(push)


def test_the_handshakes_get_their_codes_back(routes):
    creds, routes, _ = routes
    for req in handshakes(creds):
        assert _send(routes, req, LIVE).reply == req.expect


def test_the_story_becomes_acme_events_with_one_deletion_by_its_author(routes):
    creds, routes, authors = routes
    events = []
    for req in story(creds, LIVE):
        delivery = _send(routes, req, LIVE + timedelta(seconds=req.at))
        assert not delivery.rejected and delivery.reply is None, req.label
        assert len(delivery.events) == 1, req.label
        authors.remember(delivery.events)  # what the receiver does once Kafka acknowledged them
        events.extend(delivery.events)
    owned = {c for chs in DEMO_PUSH_CHANNELS["acme"].values() for c in chs}
    assert {e.brand for e in events} == {"acme"} and {e.channel for e in events} == owned
    types = [e.event_type for e in events]
    assert types.count(EventType.CREATED) == 5 and types.count(EventType.EDITED) == 1
    deletions = [e for e in events if e.event_type is EventType.DELETED]
    assert len(deletions) == 2 and deletions[0].event_id == deletions[1].event_id  # VK's retry: a duplicate
    (question,) = [e for e in events if e.event_type is EventType.CREATED and e.text.startswith("Will the new")]
    assert deletions[0].mention_id == question.mention_id
    assert deletions[0].actor is Actor.AUTHOR and deletions[0].author_id == question.author_id
    # every customer question is answered by the brand at once (the demo's staged incidents stay the only ones)
    answers = {e.parent_id for e in events if e.author_is_brand and e.parent_id}
    questions = {e.mention_id for e in events if e.event_type is EventType.CREATED and not e.author_is_brand}
    assert questions <= answers
