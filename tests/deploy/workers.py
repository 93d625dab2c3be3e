"""What the deploy tests know about the workers, taken from the code rather than restated.

Each long-running ``repwatch`` subcommand maps to its settings class; the settings give the
environment variables a worker reads and its default ports; the drain bound is how long a
worker may take to stop after SIGTERM, added up from the timeouts in the code.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from pydantic_settings import BaseSettings

from services.alerting.settings import AlertingSettings
from services.ingest.poll_main import PollSettings
from services.ingest.settings import IngestSettings, ReceiverSettings
from services.notifier.settings import NotifierSettings
from services.sentiment.settings import SentimentSettings
from shared.kafka.transport import Producer

ROOT = Path(__file__).resolve().parents[2]

#: subcommand -> settings class, for every worker a manifest may run
SETTINGS: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "receive": ReceiverSettings,
    "poll": PollSettings,
    "sentiment": SentimentSettings,
    "alerting": AlertingSettings,
    "notifier": NotifierSettings,
}
#: subcommand -> the worker name it reports (metrics' ``worker`` label, Prometheus job repwatch-<name>)
WORKER_NAME = {"ingest": "ingest", "receive": "receiver", "poll": "poll", "sentiment": "sentiment",
               "alerting": "alerting", "notifier": "notifier"}  # fmt: skip
#: the long-running workers the manifests must deploy (ingest reads a file and exits)
DEPLOYED = ("receive", "poll", "sentiment", "alerting", "notifier")


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables ``cls`` reads: prefix + field name, as pydantic-settings maps them."""
    prefix = cls.model_config.get("env_prefix", "")
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias or field.alias
        names.add((alias if isinstance(alias, str) else prefix + name).upper())
    return names


def environ_reads() -> set[str]:
    """``REPWATCH_*`` names the code reads straight from ``os.environ`` (not settings fields),
    e.g. REPWATCH_MODEL_CACHE: found as string literals next to an environ lookup or as the
    value of a module constant passed to one."""
    found: set[str] = set()
    for path in [*ROOT.glob("services/**/*.py"), *ROOT.glob("shared/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        found.update(re.findall(r"environ(?:\.get)?\(\s*\"(REPWATCH_[A-Z0-9_]+)\"", text))
        found.update(re.findall(r"environ\[\"(REPWATCH_[A-Z0-9_]+)\"\]", text))
        for const, value in re.findall(r"^([A-Z_]+)\s*=\s*\"(REPWATCH_[A-Z0-9_]+)\"", text, re.M):
            if re.search(rf"environ(?:\.get)?\(\s*{const}\b", text):
                found.add(value)
    return found


def unknown_variables(subcommand: str, names: set[str]) -> set[str]:
    """The ``REPWATCH_`` names in ``names`` that the worker never reads (a typo or a setting
    of another worker: pydantic-settings ignores them silently, so only a test notices)."""
    known = env_names(SETTINGS[subcommand]) | environ_reads()
    return {n for n in names if n.startswith("REPWATCH_") and n not in known}


def default(subcommand: str, field: str):
    return SETTINGS[subcommand].model_fields[field].default


def _default_arg(fn, name: str) -> float:
    return float(inspect.signature(fn).parameters[name].default)


def drain_bound_s(subcommand: str, env: dict[str, str]) -> float:
    """Seconds a worker may take to stop after SIGTERM when nothing hangs, from the code:

    - consuming workers finish the batch in flight, send its outputs (``Producer.send_all``'s
      timeout) and close the producer (``Producer.close``'s timeout); the notifier first gives
      deliveries in flight ``notifier_stop_timeout_s``;
    - the receiver drains requests for ``receiver_drain_timeout_s``, then closes the producer;
    - the poller finishes the request in flight (``poll_http_timeout_s``), sends the round, closes.
    The batch's own processing time is not in it (sub-second to a few seconds): the grace
    periods leave a margin for it.
    """
    settings = SETTINGS[subcommand](**_settings_kwargs(subcommand, env))
    send = _default_arg(Producer.send_all, "timeout_s")
    close = _default_arg(Producer.close, "timeout_s")
    if subcommand == "receive":
        return settings.receiver_drain_timeout_s + close
    if subcommand == "poll":
        return settings.poll_http_timeout_s + send + close
    if subcommand == "notifier":
        return settings.notifier_stop_timeout_s + send + close
    return send + close


def _settings_kwargs(subcommand: str, env: dict[str, str]) -> dict[str, str]:
    """The manifest's values of the drain-related settings, as constructor arguments."""
    fields = SETTINGS[subcommand].model_fields
    out = {}
    for name in ("receiver_drain_timeout_s", "poll_http_timeout_s", "notifier_stop_timeout_s"):
        var = f"REPWATCH_{name.upper()}"
        if name in fields and var in env:
            out[name] = env[var]
    return out


def metrics_port(subcommand: str, env: dict[str, str]) -> int:
    """The port a worker serves /metrics, /healthz and /readyz on, given its environment."""
    value = env.get("REPWATCH_METRICS_PORT")
    return int(value) if value is not None else int(default(subcommand, "metrics_port"))
