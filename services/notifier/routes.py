"""The routes file (``REPWATCH_ROUTES_FILE``): which receivers get which alerts.

```yaml
receivers:
  ops:      {type: alertmanager, url: "http://alertmanager:9093"}
  team-tg:  {type: telegram, chats: ["-1001234567890"], token: {env: REPWATCH_TELEGRAM_TOKEN}}
  team-slack: {type: slack, webhook_url: {file: /run/secrets/slack_webhook}}
  managers: {type: email, host: smtp.example.com, port: 587, security: starttls, sender: repwatch@example.com,
             to: [pr@example.com], username: repwatch, password: {env: REPWATCH_SMTP_PASSWORD}}
  partner:  {type: webhook, url: "https://hooks.example.com/repwatch", secret: {env: REPWATCH_WEBHOOK_SECRET}}
routes:
  - name: critical
    match: {severity: [critical]}
    receivers: [ops, team-tg]
  - name: acme-deletions
    match: {brand: [acme], kind: [deleted_complaint, returning_complainant]}
    receivers: [team-slack, managers]
default: [team-slack]      # alerts no route matches; left out: every receiver
```

An alert goes to the union of the receivers of every route it matches, or to
``default`` when none matches. Secrets (bot tokens, Slack webhook URLs, SMTP
passwords, webhook signing secrets) are never written in the file: a secret
field names an environment variable or a mounted file, read once at start-up,
and is held in a :class:`Secret` whose ``repr`` never shows the value, so it
cannot reach a log line by accident.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.schemas import Alert, AlertKind, Severity
from shared.yaml_model import parse_yaml_model

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class RoutesFileError(ValueError):
    """The routes file is missing, not YAML, does not validate, or names a secret that is not there."""


class Secret:
    """A resolved secret. Its repr and str hide the value; ``reveal()`` is the one way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class SecretRef(BaseModel):
    """Where a secret lives: ``{env: NAME}`` or ``{file: PATH}`` (a Kubernetes secret mount)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = Field(default=None, min_length=1)
    file: str | None = Field(default=None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _no_literal(cls, data: Any) -> Any:
        if isinstance(data, str):
            # The one mistake this file must refuse: a token pasted in where it would
            # end up in git, in a ConfigMap and in every `kubectl describe`.
            raise ValueError("secrets are never written in the routes file: use {env: VARIABLE} or {file: PATH}")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    def resolve(self, environ: Mapping[str, str], where: str) -> Secret:
        if self.env is not None:
            value = environ.get(self.env, "")
            if not value:
                raise RoutesFileError(f"{where}: environment variable {self.env} is not set or empty")
            return Secret(value)
        assert self.file is not None
        try:
            value = Path(self.file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise RoutesFileError(f"{where}: cannot read secret file {self.file}: {exc.strerror or exc}") from None
        if not value:
            raise RoutesFileError(f"{where}: secret file {self.file} is empty")
        return Secret(value)


class _Receiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: messages in this language instead of the brand's (en, ru)
    language: str | None = Field(default=None, min_length=2, max_length=8)
    #: seconds one attempt may take (connect + send + answer) before it counts as failed
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    #: attempts before the delivery is given up and dead-lettered
    max_tries: int = Field(default=8, ge=1, le=100)
    #: parallel requests to this receiver (order per incident is kept whatever this is)
    concurrency: int = Field(default=1, ge=1, le=64)

    def secret_fields(self) -> dict[str, SecretRef]:
        return {k: v for k, v in self if isinstance(v, SecretRef)}


class AlertmanagerReceiver(_Receiver):
    type: Literal["alertmanager"]
    #: base URL of Alertmanager; alerts go to {url}/api/v2/alerts
    url: str = Field(pattern=r"^https?://")
    #: optional bearer token (an Alertmanager behind an authenticating proxy)
    bearer_token: SecretRef | None = None
    #: firing incidents are re-sent this often, as Alertmanager's client docs require;
    #: each carries endsAt = now + 4 x this, so a notifier that stops does not leave
    #: incidents open forever
    resend_every_s: float = Field(default=60.0, ge=5, le=3600)
    concurrency: int = Field(default=2, ge=1, le=64)


class TelegramReceiver(_Receiver):
    type: Literal["telegram"]
    #: chat ids (groups and channels are negative, -100...) or @channel usernames;
    #: each chat is its own delivery with its own queue and rate limit
    chats: list[str] = Field(min_length=1)
    token: SecretRef
    #: the Bot API base URL (a local Bot API server, or a test server)
    api_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://")

    @field_validator("chats", mode="before")
    @classmethod
    def _ids_as_text(cls, v: Any) -> Any:
        # YAML reads -1001234 as an int; a chat id is an opaque string to us
        return [str(c) for c in v] if isinstance(v, list) else v


class SlackReceiver(_Receiver):
    type: Literal["slack"]
    #: the incoming-webhook URL is itself the credential, so it is a secret
    webhook_url: SecretRef


class EmailReceiver(_Receiver):
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    #: starttls (port 587), tls (implicit TLS, port 465), or none (a local relay only)
    security: Literal["starttls", "tls", "none"] = "starttls"
    sender: str = Field(min_length=3)
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password: SecretRef | None = None
    #: PEM file of the CA that signed the server's certificate (an internal relay); default: the system's
    ca_file: str | None = None

    @model_validator(mode="after")
    def _login_pair(self) -> EmailReceiver:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class WebhookReceiver(_Receiver):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    #: Standard Webhooks signing secret (whsec_<base64>)
    secret: SecretRef
    #: an older secret still accepted during a rotation: messages carry both signatures
    previous_secret: SecretRef | None = None
    concurrency: int = Field(default=4, ge=1, le=64)


ReceiverConfig = Annotated[
    AlertmanagerReceiver | TelegramReceiver | SlackReceiver | EmailReceiver | WebhookReceiver,
    Field(discriminator="type"),
]


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


class Match(BaseModel):
    """Every field given must match; a field's list matches any of its entries.
    ``brand`` and ``channel`` take shell-style patterns (``acme*``, ``vk:club_*``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    brand: list[str] | None = None
    kind: list[AlertKind] | None = None
    severity: list[Severity] | None = None
    #: this severity or higher
    min_severity: Severity | None = None
    channel: list[str] | None = None

    _lists = field_validator("brand", "kind", "severity", "channel", mode="before")(_as_list)

    def matches(self, alert: Alert) -> bool:
        if self.brand is not None and not any(fnmatch.fnmatchcase(alert.brand, p) for p in self.brand):
            return False
        if self.kind is not None and alert.kind not in self.kind:
            return False
        if self.severity is not None and alert.severity not in self.severity:
            return False
        if self.min_severity is not None and SEVERITY_RANK[alert.severity] < SEVERITY_RANK[self.min_severity]:
            return False
        if self.channel is not None and not any(fnmatch.fnmatchcase(alert.channel or "", p) for p in self.channel):
            return False
        return True


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    match: Match = Field(default_factory=Match)
    receivers: list[str] = Field(min_length=1)


class RoutesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receivers: dict[str, ReceiverConfig] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    #: receivers of alerts no route matches; None: every receiver
    default: list[str] | None = None

    @field_validator("receivers")
    @classmethod
    def _names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name in v:
            # receiver names become metric labels, ledger keys and log words
            if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
                raise ValueError(f"receiver name {name!r}: use letters, digits, - _ . (at most 64)")
        return v

    @model_validator(mode="after")
    def _known_receivers(self) -> RoutesFile:
        seen: set[str] = set()
        for i, route in enumerate(self.routes):
            if route.name in seen:
                raise ValueError(f"routes.{i}.name: route {route.name!r} is defined twice")
            seen.add(route.name)
            for r in route.receivers:
                if r not in self.receivers:
                    raise ValueError(f"routes.{i}.receivers: unknown receiver {r!r} (known: {sorted(self.receivers)})")
        for r in self.default or []:
            if r not in self.receivers:
                raise ValueError(f"default: unknown receiver {r!r} (known: {sorted(self.receivers)})")
        return self

    def receivers_for(self, alert: Alert) -> list[str]:
        """Receiver names for ``alert``, in file order, each once."""
        names: dict[str, None] = {}
        for route in self.routes:
            if route.match.matches(alert):
                names.update(dict.fromkeys(route.receivers))
        if not names:
            names = dict.fromkeys(self.default if self.default is not None else self.receivers)
        return list(names)

    def route(self, name: str) -> Route | None:
        return next((r for r in self.routes if r.name == name), None)


class ResolvedRoutes:
    """The routes file plus every receiver's secrets, read from the environment or files."""

    def __init__(self, file: RoutesFile, secrets: dict[str, dict[str, Secret]]) -> None:
        self.file = file
        self.secrets = secrets

    def receivers_for(self, alert: Alert) -> list[str]:
        return self.file.receivers_for(alert)


def parse_routes(text: str, source: str = "<routes file>") -> RoutesFile:
    return parse_yaml_model(
        text, RoutesFile, source=source, expected="a mapping with 'receivers' and 'routes'", error=RoutesFileError
    )


def resolve_secrets(routes: RoutesFile, environ: Mapping[str, str] | None = None) -> ResolvedRoutes:
    env = os.environ if environ is None else environ
    secrets: dict[str, dict[str, Secret]] = {}
    for name, cfg in routes.receivers.items():
        secrets[name] = {
            field: ref.resolve(env, f"receivers.{name}.{field}") for field, ref in cfg.secret_fields().items()
        }
    return ResolvedRoutes(routes, secrets)


def load_routes(path: str | Path | None, environ: Mapping[str, str] | None = None) -> ResolvedRoutes:
    """The routes file at ``path`` with its secrets resolved. No path: no receivers (the
    worker then delivers nothing and says so at start-up)."""
    if not path:
        return ResolvedRoutes(RoutesFile(), {})
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutesFileError(f"cannot read routes file {p}: {exc.strerror or exc}") from None
    return resolve_secrets(parse_routes(text, str(p)), environ)
