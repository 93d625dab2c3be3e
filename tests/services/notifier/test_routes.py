from __future__ import annotations

import pytest

from services.notifier.routes import RoutesFileError, load_routes, parse_routes, resolve_secrets
from tests.services.notifier.alerts import alert

GOOD = """
receivers:
  ops: {type: alertmanager, url: "http://am:9093"}
  tg: {type: telegram, chats: [-1001, 42], token: {env: TG_TOKEN}}
  slack: {type: slack, webhook_url: {file: SLACK_FILE}}
  mail: {type: email, host: smtp.local, sender: r@x.org, to: [pr@x.org], username: r, password: {env: SMTP_PW}}
  hook: {type: webhook, url: "https://h.example/x", secret: {env: HOOK_SECRET}}
routes:
  - name: critical
    match: {min_severity: critical}
    receivers: [ops, tg]
  - name: acme-removals
    match: {brand: "acme*", kind: [deleted_complaint], channel: ["vk:*"]}
    receivers: [slack, tg]
default: [mail]
"""


def test_matching_routes_union_in_file_order_and_default():
    routes = parse_routes(GOOD)
    assert routes.receivers_for(alert(severity="critical")) == ["ops", "tg"]
    removal = alert(kind="deleted_complaint", severity="critical", brand="acme-eu")
    assert routes.receivers_for(removal) == ["ops", "tg", "slack"]
    assert routes.receivers_for(alert(kind="deleted_complaint", channel="telegram:chat")) == ["mail"]
    assert routes.receivers_for(alert(severity="info")) == ["mail"]
    assert parse_routes(GOOD.replace("default: [mail]", "")).receivers_for(alert()) == [
        "ops",
        "tg",
        "slack",
        "mail",
        "hook",
    ]
    assert parse_routes(GOOD).receivers["tg"].chats == ["-1001", "42"]


def test_secrets_come_from_env_and_files_and_never_show(tmp_path):
    secret_file = tmp_path / "slack"
    secret_file.write_text("https://hooks.slack.com/services/T/B/XYZ\n")
    text = GOOD.replace("SLACK_FILE", str(secret_file))
    env = {"TG_TOKEN": "123:abc", "SMTP_PW": "pw", "HOOK_SECRET": "whsec_" + "A" * 32}
    resolved = resolve_secrets(parse_routes(text), env)
    assert resolved.secrets["slack"]["webhook_url"].reveal() == "https://hooks.slack.com/services/T/B/XYZ"
    assert resolved.secrets["tg"]["token"].reveal() == "123:abc"
    shown = repr(resolved.secrets) + str(resolved.secrets["tg"]["token"])
    assert "123:abc" not in shown and "XYZ" not in shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("{env: TG_TOKEN}", '"123:abc"'), "receivers.tg.telegram.token: secrets are never written"),
        (GOOD.replace("receivers: [ops, tg]", "receivers: [ops, pager]"), "unknown receiver 'pager'"),
        (GOOD.replace("min_severity: critical", "min_severty: critical"), "routes.0.match.min_severty"),
        (GOOD.replace("default: [mail]", "default: [fax]"), "default: unknown receiver 'fax'"),
        (GOOD.replace("type: slack", "type: pager"), "receivers.slack"),
        (GOOD.replace('url: "http://am:9093"', 'url: "am:9093"'), "receivers.ops.alertmanager.url"),
        (GOOD.replace("{env: SMTP_PW}", "{env: SMTP_PW, file: /x}"), "exactly one of env or file"),
        ("receivers: [1, 2]", "receivers: Input should be a valid dictionary"),
        ("routes: {", "not valid YAML"),
    ],
)
def test_bad_files_name_the_key(text, expected):
    with pytest.raises(RoutesFileError) as err:
        parse_routes(text, "routes.yaml")
    assert expected in str(err.value)
    assert str(err.value).startswith("routes.yaml")


def test_missing_secret_is_named(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text(GOOD.replace("SLACK_FILE", str(tmp_path / "absent")))
    with pytest.raises(RoutesFileError, match=r"receivers.tg.token: environment variable TG_TOKEN is not set"):
        load_routes(path, {})
    with pytest.raises(RoutesFileError, match=r"receivers.slack.webhook_url: cannot read secret file"):
        load_routes(path, {"TG_TOKEN": "t", "SMTP_PW": "p", "HOOK_SECRET": "h"})


def test_no_file_means_no_receivers():
    assert load_routes("").receivers_for(alert()) == []
