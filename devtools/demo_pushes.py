"""The webhooks ``make run`` posts to ``repwatch receive``: real-shaped VK and Meta requests.

The demo plays the platforms' part. Its requests are shaped as VK's Callback API and
Meta's Page webhooks send them (the same shapes as ``tests/fixtures/connectors/vk`` and
``facebook``) and authenticated as they are: VK's ``secret`` inside the body, Meta's
``X-Hub-Signature-256`` HMAC of the raw body with the app secret. They first do the
platforms' handshakes (VK's ``confirmation``, Meta's ``hub.challenge`` GET), then tell a
short story on acme's VK community and Facebook Page (:data:`DEMO_PUSH_CHANNELS`) at a
few points of the timetable: a post, a customer's question and the brand's answer, a
Facebook comment, its answer and an edit, the customer deleting their own VK question
(a ``deleted`` event with ``actor: author``, told apart by the receiver's memory of who
wrote it), and VK retrying that deletion as it does when an answer is late (the same
``event_id``: a harmless duplicate). The texts are plain questions that are answered at
once, so the demo's staged incidents stay the only ones.

Pure: bodies and headers from the credentials and the live start; the demo's poster
thread sends them. Dates are the live start plus each push's offset, so the requests are
deterministic (a test builds them and runs them through the real connectors).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulation.scenarios import DEMO_PUSH_GROUP_ID, DEMO_PUSH_PAGE_ID

#: VK API version the payloads are written for (the README's Callback API set-up)
VK_API_VERSION = "5.199"
#: the customers and posts of the story (ids as the platforms number them)
VK_CUSTOMER = 700300
VK_POST = 4522
FB_CUSTOMER = "6000000001"
FB_POST = f"{DEMO_PUSH_PAGE_ID}_998877"


@dataclass(frozen=True)
class Credentials:
    """What a team would configure on the platforms and in the receiver, generated per run."""

    vk_secret: str
    vk_confirmation: str
    meta_app_secret: str
    meta_verify_token: str

    @classmethod
    def generate(cls) -> Credentials:
        return cls(
            vk_secret=secrets.token_urlsafe(24),
            # VK shows an 8-character code like this one in the group's Callback API settings
            vk_confirmation=secrets.token_hex(4),
            meta_app_secret=secrets.token_hex(16),
            meta_verify_token=secrets.token_urlsafe(16),
        )

    def receiver_env(self) -> dict[str, str]:
        return {
            "REPWATCH_RECEIVER_VK_SECRETS": f"{DEMO_PUSH_GROUP_ID}={self.vk_secret}",
            "REPWATCH_RECEIVER_VK_CONFIRMATIONS": f"{DEMO_PUSH_GROUP_ID}={self.vk_confirmation}",
            "REPWATCH_RECEIVER_META_APP_SECRETS": self.meta_app_secret,
            "REPWATCH_RECEIVER_META_VERIFY_TOKEN": self.meta_verify_token,
        }


@dataclass(frozen=True)
class PushRequest:
    """One HTTP request as the platform would make it."""

    #: seconds after the live start at which it is sent (handshakes: 0, sent first)
    at: float
    #: what the view says about it
    label: str
    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    query: str = ""
    #: the answer body the platform insists on (VK: "ok"; handshakes: the code / challenge)
    expect: bytes | None = None


def _vk(creds: Credentials, at: float, label: str, event_type: str, delivery: str, obj: dict[str, Any]) -> PushRequest:
    body = {
        "group_id": DEMO_PUSH_GROUP_ID,
        "type": event_type,
        # VK's event ids are 40 hex digits, one per event and the same on its retries
        "event_id": hashlib.sha1(f"repwatch-demo/{delivery}".encode()).hexdigest(),  # noqa: S324 - an id, not security
        "v": VK_API_VERSION,
        "object": obj,
        "secret": creds.vk_secret,
    }
    return PushRequest(
        at, label, "POST", "/hooks/vk", _json(body), (("content-type", "application/json"),), expect=b"ok"
    )


def _meta(creds: Credentials, at: float, label: str, when: int, value: dict[str, Any]) -> PushRequest:
    body = _json(
        {
            "entry": [{"id": DEMO_PUSH_PAGE_ID, "time": when, "changes": [{"value": value, "field": "feed"}]}],
            "object": "page",
        }
    )
    signature = "sha256=" + hmac.new(creds.meta_app_secret.encode(), body, hashlib.sha256).hexdigest()
    headers = (("content-type", "application/json"), ("x-hub-signature-256", signature))
    return PushRequest(at, label, "POST", "/hooks/meta", body, headers, expect=b"EVENT_RECEIVED")


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def handshakes(creds: Credentials) -> list[PushRequest]:
    """What VK and Meta do when a team enters the callback URL: both want their code back."""
    challenge = "1158201444"
    query = f"hub.mode=subscribe&hub.challenge={challenge}&hub.verify_token={creds.meta_verify_token}"
    return [
        PushRequest(
            0,
            "vk confirmation (server address handshake)",
            "POST",
            "/hooks/vk",
            _json({"type": "confirmation", "group_id": DEMO_PUSH_GROUP_ID}),
            (("content-type", "application/json"),),
            expect=creds.vk_confirmation.encode(),
        ),
        PushRequest(
            0, "meta hub.challenge (subscription GET)", "GET", "/hooks/meta", query=query, expect=challenge.encode()
        ),
    ]


def story(creds: Credentials, live_start: datetime) -> list[PushRequest]:
    """The pushes of the demo, in the order they are sent."""

    def ts(at: float) -> int:
        return int((live_start + timedelta(seconds=at)).timestamp())

    owner = -DEMO_PUSH_GROUP_ID
    question, answer = 4530, 4531
    fb_comment, fb_answer = "998877_55501", "998877_55502"
    delete = {"owner_id": owner, "id": question, "deleter_id": VK_CUSTOMER, "post_id": VK_POST}
    return [
        _vk(creds, 20, "vk wall_post_new (acme posts)", "wall_post_new", "post", {
            "id": VK_POST, "from_id": owner, "owner_id": owner, "created_by": 900001, "date": ts(20),
            "post_type": "post", "text": "Autumn collection is in the shops from today.",
            "comments": {"count": 0}, "likes": {"count": 0}, "reposts": {"count": 0}, "views": {"count": 1},
        }),
        _vk(creds, 30, "vk wall_reply_new (a customer asks)", "wall_reply_new", "question", {
            "id": question, "from_id": VK_CUSTOMER, "post_id": VK_POST, "owner_id": owner, "parents_stack": [],
            "date": ts(30), "thread": {"count": 0}, "text": "Will the new jackets be in the Kazan store too?",
            "post_owner_id": owner,
        }),
        _vk(creds, 40, "vk wall_reply_new (acme answers)", "wall_reply_new", "answer", {
            "id": answer, "from_id": owner, "post_id": VK_POST, "owner_id": owner, "parents_stack": [question],
            "reply_to_comment": question, "reply_to_user": VK_CUSTOMER, "date": ts(40), "thread": {"count": 0},
            "text": "Yes, from Friday. Thank you for asking!", "post_owner_id": owner,
        }),
        _meta(creds, 50, "facebook comment add (a customer asks)", ts(50), {
            "from": {"id": FB_CUSTOMER, "name": "Jane Doe"},
            "post": {"id": FB_POST, "permalink_url": "https://www.facebook.com/acme/posts/pfbid02demo"},
            "message": "Is the Main Street store open on Sunday?", "post_id": FB_POST, "comment_id": fb_comment,
            "created_time": ts(50) - 1, "item": "comment", "parent_id": FB_POST, "verb": "add",
        }),
        _meta(creds, 60, "facebook comment add (the page answers)", ts(60), {
            "from": {"id": DEMO_PUSH_PAGE_ID, "name": "Acme"},
            "post": {"id": FB_POST, "permalink_url": "https://www.facebook.com/acme/posts/pfbid02demo"},
            "message": "Hi Jane, yes: 10 to 6 on Sundays.", "post_id": FB_POST, "comment_id": fb_answer,
            "created_time": ts(60) - 1, "item": "comment", "parent_id": fb_comment, "verb": "add",
        }),
        _meta(creds, 70, "facebook comment edited (the customer)", ts(70), {
            "from": {"id": FB_CUSTOMER, "name": "Jane Doe"},
            "post": {"id": FB_POST, "permalink_url": "https://www.facebook.com/acme/posts/pfbid02demo"},
            "message": "Is the Main Street store open on Sunday? And on public holidays?", "post_id": FB_POST,
            "comment_id": fb_comment, "created_time": ts(50) - 1, "item": "comment", "parent_id": FB_POST,
            "verb": "edited",
        }),
        _vk(creds, 80, "vk wall_reply_delete (the customer deletes the question)", "wall_reply_delete",
            "delete", delete),
        # VK retries an event whose "ok" came late; the retry carries the same event_id
        _vk(creds, 85, "vk wall_reply_delete again (VK's retry: same event_id)", "wall_reply_delete",
            "delete", delete),
    ]  # fmt: skip
