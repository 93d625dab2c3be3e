"""Settings of the ingest worker (env prefix ``REPWATCH_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from shared.config import WorkerSettings


class IngestSettings(WorkerSettings):
    metrics_port: int = Field(default=9101, ge=0, le=65535)
    #: records sent to Kafka in one go at most (they are sent sooner when the source pauses)
    ingest_send_batch: int = Field(default=500, ge=1)


#: the credentials the receiver reads; each may instead come from ``<name>_file`` (a mounted secret)
RECEIVER_CREDENTIALS = (
    "receiver_vk_secrets",
    "receiver_vk_confirmations",
    "receiver_meta_app_secrets",
    "receiver_meta_verify_token",
    "receiver_telegram_secret_tokens",
    "receiver_x_consumer_secret",
    "receiver_generic_secrets",
)


class CredentialError(ValueError):
    """A credential is given twice, or its file cannot be read. The message names the setting, never the value."""


class ReceiverSettings(WorkerSettings):
    """``repwatch receive``: one HTTP server for every push connector.

    A platform is served (``/hooks/<platform>``) only when its credentials are set: an
    unsigned route would accept anyone's events. Every credential is an environment
    variable or, with the ``_FILE`` suffix, a file holding it (a Kubernetes or Docker
    secret mount); values are kept as ``SecretStr`` so no repr or log shows them.
    """

    metrics_port: int = Field(default=9105, ge=0, le=65535)
    #: address and port of the webhook server (not the metrics port: only this one faces the internet)
    receiver_host: str = "0.0.0.0"
    receiver_port: int = Field(default=8080, ge=0, le=65535)
    #: larger bodies are answered 413 before they are read (each platform's own limit may be lower)
    receiver_max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    #: how long a request waits for Kafka's acknowledgement before it is answered 503
    #: (the platform retries); platforms give up on an answer after 5-10 s
    receiver_ack_timeout_s: float = Field(default=5.0, gt=0, le=60)
    #: while Kafka is down, one request per this interval still tries it; the others get 503 at once
    receiver_probe_interval_s: float = Field(default=1.0, gt=0)
    #: on SIGTERM, how long requests in flight may take to finish
    receiver_drain_timeout_s: float = Field(default=15.0, ge=0)
    #: connections and requests at once; beyond this new requests get 503
    receiver_max_concurrency: int = Field(default=2000, ge=1)
    #: VK: authors of recently seen comments kept in memory, so a deletion names its actor
    receiver_vk_author_memory: int = Field(default=200_000, ge=0)

    #: VK Callback API secret: one for every group, or ``GROUP_ID=SECRET,...``
    receiver_vk_secrets: SecretStr | None = None
    receiver_vk_secrets_file: str = ""
    #: VK confirmation codes: ``GROUP_ID=CODE,...`` (shown in the group's Callback API settings)
    receiver_vk_confirmations: SecretStr | None = None
    receiver_vk_confirmations_file: str = ""
    #: Meta app secret(s), comma-separated (several while rotating)
    receiver_meta_app_secrets: SecretStr | None = None
    receiver_meta_app_secrets_file: str = ""
    #: the verify token typed into the App Dashboard's webhook setup
    receiver_meta_verify_token: SecretStr | None = None
    receiver_meta_verify_token_file: str = ""
    #: Telegram ``secret_token`` value(s) given to setWebhook, comma-separated (one per bot)
    receiver_telegram_secret_tokens: SecretStr | None = None
    receiver_telegram_secret_tokens_file: str = ""
    #: X app's consumer secret (API key secret): signs every Account Activity POST, answers the CRC
    receiver_x_consumer_secret: SecretStr | None = None
    receiver_x_consumer_secret_file: str = ""
    #: Standard Webhooks ``whsec_`` secret(s) of generic senders, comma-separated
    receiver_generic_secrets: SecretStr | None = None
    receiver_generic_secrets_file: str = ""

    def credential(self, name: str) -> str | None:
        """The credential ``name`` from its variable or its file; None when neither is set."""
        if name not in RECEIVER_CREDENTIALS:
            raise KeyError(name)
        value: SecretStr | None = getattr(self, name)
        path: str = getattr(self, f"{name}_file")
        env = f"REPWATCH_{name.upper()}"
        if value is not None and path:
            raise CredentialError(f"{env} and {env}_FILE are both set: keep one")
        if path:
            try:
                text = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise CredentialError(f"{env}_FILE: cannot read {path}: {exc.strerror or exc}") from None
            except UnicodeDecodeError:
                raise CredentialError(f"{env}_FILE: {path} is not UTF-8 text") from None
            if not text:
                raise CredentialError(f"{env}_FILE: {path} is empty")
            return text
        if value is None:
            return None
        text = value.get_secret_value().strip()
        return text or None
