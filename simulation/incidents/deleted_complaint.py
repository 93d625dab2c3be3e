"""A complaint that disappears from the brand's own channel — and the removals that must not alert.

:class:`DeletedComplaint`: someone posts a long, specific complaint in an owned
channel; after ``visible`` the brand hides or deletes it (``actor`` brand, or
unknown: on an owned channel that is the brand too). Variants: the brand
answered before it vanished, the author has a large audience, the brand
restores it later. With ``by_author`` the author removes their own complaint
instead: at most an info alert is acceptable. Detection is possible at the
removal event itself, so the label's ``detectable_from`` is that event's time
and ``detect_event_id`` its id.

:class:`AuthorDeletesOwnPost`: someone deletes their own praise or question.
Nothing should alert (a label with ``expect`` none).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import timedelta

from shared.schemas import Actor, AlertKind, EventType, Severity
from simulation.incidents import Expect, Incident, Label, Plan, clear_negative, complaint_text, owned_social, pick_lang
from simulation.world import MINUTE, Happening, World


@dataclass(frozen=True)
class DeletedComplaint(Incident):
    kind = AlertKind.DELETED_COMPLAINT

    channel: str | None = None
    lang: str | None = None
    how: EventType = EventType.HIDDEN
    #: who the platform says removed it; None: the source does not say (owned channel: the brand)
    actor: Actor | None = Actor.BRAND
    #: how long it was visible before it vanished
    visible: timedelta = timedelta(minutes=6)
    #: the brand answered publicly before removing it
    replied_first: bool = False
    #: the author has a large audience
    influencer: bool = False
    #: the brand restores it this long after removing it (and then answers it)
    restore_after: timedelta | None = None
    #: the author removes their own complaint (at most info)
    by_author: bool = False

    def plan(self, world: World, rng: random.Random, name: str) -> Plan:
        plan = Plan()
        ch = owned_social(world, self.brand, self.channel, rng, lang=self.lang)
        lang = pick_lang(rng, ch, self.lang)
        author = world.pick_author(rng, self.brand, lang)
        if self.influencer:
            author = replace(author, followers=rng.randint(60_000, 900_000))
        text, topic = complaint_text(rng, world, ch, lang, author)
        post = world.new_post(rng, ch, lang, "negative", author, text, topic=topic, probs=clear_negative(rng))
        if self.influencer:
            post.engagement = post.engagement.model_copy(
                update={
                    "likes": rng.randint(200, 4_000),
                    "replies": rng.randint(20, 300),
                    "shares": rng.randint(10, 500),
                }
            )
        t0 = world.t_of(self.at)
        t_gone = t0 + max(1, world.t_of(self.visible))
        plan.add(Happening(t0, EventType.CREATED, post))
        if self.replied_first:
            t_reply = t0 + (t_gone - t0) // 2
            plan.add(Happening(t_reply, EventType.CREATED, world.brand_reply(rng, post)))
        actor = Actor.AUTHOR if self.by_author else self.actor
        removal = plan.add(Happening(t_gone, self.how, post, actor))
        end = t_gone
        if self.restore_after is not None:
            t_back = t_gone + world.t_of(self.restore_after)
            plan.add(Happening(t_back, EventType.RESTORED, post, Actor.BRAND))
            if not self.replied_first:
                # visible again: the support team now owes it an answer, within the SLA
                plan.add(Happening(t_back + 4 * MINUTE, EventType.CREATED, world.brand_reply(rng, post)))
            end = t_back
        who = "its author" if self.by_author else f"actor {actor.value if actor else 'unknown'}"
        plan.labels.append(
            Label(
                kind=self.kind,
                brand=self.brand,
                channel=ch.key,
                start=world.at(t0),
                detectable_from=world.at(t_gone),
                end=world.at(end),
                incident=name,
                expect=Expect.TOLERATE if self.by_author else Expect.ALERT,
                mention_ids=(post.mention_id,),
                detect_event_id=world.event_id(removal),
                max_severity=Severity.INFO if self.by_author else None,
                note=(
                    f"{self.how.value} by {who} after {self.visible}"
                    + (", answered first" if self.replied_first else "")
                    + (f", {author.followers} followers" if self.influencer else "")
                    + (f", restored after {self.restore_after}" if self.restore_after else "")
                ),
            )
        )
        return plan


@dataclass(frozen=True)
class AuthorDeletesOwnPost(Incident):
    """Someone deletes their own non-negative post in an owned channel: no alert of any removal kind."""

    kind = AlertKind.DELETED_COMPLAINT

    channel: str | None = None
    lang: str | None = None
    intent: str = "positive"
    visible: timedelta = timedelta(minutes=20)
    #: the platform says who deleted it (VK does); None: it only says the post vanished
    actor: Actor | None = Actor.AUTHOR

    def plan(self, world: World, rng: random.Random, name: str) -> Plan:
        if self.intent == "negative":
            raise ValueError(f"{name}: an author's own post here must be non-negative")
        plan = Plan()
        ch = owned_social(world, self.brand, self.channel, rng, lang=self.lang)
        lang = pick_lang(rng, ch, self.lang)
        author = world.pick_author(rng, self.brand, lang)
        while True:  # praise that the model reads as praise (no '?' either: nobody owes it an answer)
            text, topic = world.compose(rng, ch, lang, self.intent, author)
            if "?" not in text:
                break
        pos = rng.uniform(0.8, 0.96) if self.intent == "positive" else rng.uniform(0.05, 0.2)
        neg = (1.0 - pos) * rng.uniform(0.05, 0.3)
        probs = (neg, max(0.0, 1.0 - pos - neg), pos)
        post = world.new_post(rng, ch, lang, self.intent, author, text, topic=topic, probs=probs)
        t0 = world.t_of(self.at)
        t_gone = t0 + max(1, world.t_of(self.visible))
        plan.add(Happening(t0, EventType.CREATED, post))
        removal = plan.add(Happening(t_gone, EventType.DELETED, post, self.actor))
        plan.labels.append(
            Label(
                kind=self.kind,
                brand=self.brand,
                channel=ch.key,
                start=world.at(t0),
                detectable_from=world.at(t_gone),
                end=world.at(t_gone),
                incident=name,
                expect=Expect.NONE,
                mention_ids=(post.mention_id,),
                detect_event_id=world.event_id(removal),
                note=f"author deletes own {self.intent} post (actor {self.actor.value if self.actor else 'unknown'})",
            )
        )
        return plan
