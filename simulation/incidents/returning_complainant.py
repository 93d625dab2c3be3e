"""A removed complaint comes back: the same story again, usually from another account.

The original is a long complaint in an owned channel; the brand removes it
(that removal is a ``deleted_complaint`` label of its own). After ``gap`` the
author posts it again, lightly reworded (``style``):

* ``comeback`` — "Deleted my comment, huh? Posting it again: <original with a slip or two>"
  (the corpus' comeback phrases, in the author's language);
* ``retold`` — the story retyped: slips, the threat at the end swapped for a
  new closer, emoji dropped;
* ``repost`` — the same account pasting it again with a note that it was deleted.

``other_channel`` moves the comeback to another social channel of the brand
(a fan community, another platform). The label names both mentions and notes
the character-shingle similarity of the two texts, so a miss can be read
against how different the texts really were.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from shared.schemas import Actor, AlertKind, EventType
from simulation import corpus as C
from simulation.incidents import (
    Incident,
    Label,
    Plan,
    clear_negative,
    complaint_text,
    edit_a_little,
    owned_social,
    pick_lang,
    shingle_similarity,
)
from simulation.world import Happening, World, render

STYLES = ("comeback", "retold", "repost")

_REPOST_NOTE = {
    "ru": "(пишу повторно, мой комментарий удалили)",
    "en": "(posting this again since my comment was deleted)",
}


@dataclass(frozen=True)
class ReturningComplainant(Incident):
    kind = AlertKind.RETURNING_COMPLAINANT

    lang: str | None = None
    channel: str | None = None
    style: str = "comeback"
    #: from the removal to the comeback
    gap: timedelta = timedelta(hours=2)
    #: the comeback is posted in another social channel of the brand
    other_channel: bool = False
    #: the comeback comes from the original account (``repost`` implies it)
    same_account: bool = False
    visible: timedelta = timedelta(minutes=8)
    how: EventType = EventType.DELETED

    def footprint(self) -> timedelta:
        return self.visible + self.gap + timedelta(hours=2)

    def plan(self, world: World, rng: random.Random, name: str) -> Plan:
        if self.style not in STYLES:
            raise ValueError(f"{name}: unknown style {self.style!r}; known: {', '.join(STYLES)}")
        plan = Plan()
        ch = owned_social(world, self.brand, self.channel, rng, lang=self.lang)
        lang = pick_lang(rng, ch, self.lang)
        pack = C.LANGUAGES[lang]
        author = world.pick_author(rng, self.brand, lang)
        text, topic = complaint_text(rng, world, ch, lang, author)
        original = world.new_post(rng, ch, lang, "negative", author, text, topic=topic, probs=clear_negative(rng))
        t0 = world.t_of(self.at)
        t_gone = t0 + world.t_of(self.visible)
        t_back = t_gone + world.t_of(self.gap)
        plan.add(Happening(t0, EventType.CREATED, original))
        removal = plan.add(Happening(t_gone, self.how, original, Actor.BRAND))

        same = self.same_account or self.style == "repost"
        again_author = author if same else world.fresh_author(rng, self.brand, lang, like=author)
        if self.style == "comeback":
            body = edit_a_little(rng, text, typos=rng.randint(0, 2))
            again = render(rng, pack, ch.brand, [rng.choice(pack.comebacks)], original=body)
        elif self.style == "retold":
            sentences = text.rsplit(". ", 1)
            core = sentences[0] if len(sentences) == 2 and len(sentences[0]) > 0.6 * len(text) else text
            closer = render(rng, pack, ch.brand, [rng.choice(pack.negative.closers)])
            again = f"{edit_a_little(rng, core, typos=2)}. {closer}"
        else:
            again = f"{edit_a_little(rng, text, typos=1)} {_REPOST_NOTE.get(lang, _REPOST_NOTE['en'])}"
        where = ch
        if self.other_channel:
            others = [c for c in world.channels(self.brand, social=True) if c is not ch and lang in c.langs]
            if others:
                where = rng.choices(others, weights=[c.weight for c in others])[0]
        comeback = world.new_post(
            rng, where, lang, "negative", again_author, again, topic=topic, probs=clear_negative(rng)
        )
        arrival = plan.add(Happening(t_back, EventType.CREATED, comeback, auto=True))
        # people noticing the censorship, under the comeback
        for k in range(rng.randint(0, 2)):
            other = world.pick_author(rng, self.brand, lang)
            note, _ = world.compose(rng, where, lang, "negative", other, body=rng.choice(pack.censorship))
            reply = world.new_post(rng, where, lang, "negative", other, note, topic="censorship", parent=comeback)
            plan.add(
                Happening(t_back + (k + 1) * int(rng.uniform(1.0, 6.0) * 60e6), EventType.CREATED, reply, auto=True)
            )

        plan.labels.append(
            Label(
                kind=AlertKind.DELETED_COMPLAINT,
                brand=self.brand,
                channel=ch.key,
                start=world.at(t0),
                detectable_from=world.at(t_gone),
                end=world.at(t_gone),
                incident=name,
                mention_ids=(original.mention_id,),
                detect_event_id=world.event_id(removal),
                note=f"{self.how.value} by the brand after {self.visible}; it comes back after {self.gap}",
            )
        )
        sim = shingle_similarity(text, again)
        plan.labels.append(
            Label(
                kind=self.kind,
                brand=self.brand,
                channel=None,  # the comeback may land anywhere the brand is discussed
                start=world.at(t_back),
                detectable_from=world.at(t_back),
                end=world.at(t_back),
                incident=name,
                mention_ids=(comeback.mention_id, original.mention_id),
                detect_event_id=world.event_id(arrival),
                note=(
                    f"{lang} {self.style}, {'same' if same else 'other'} account, "
                    f"{'other' if where is not ch else 'same'} channel, gap {self.gap}, 4-shingle Jaccard {sim:.2f}"
                ),
            )
        )
        return plan
