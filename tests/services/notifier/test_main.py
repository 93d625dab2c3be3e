"""Start-up: a bad routes file is a clear error and exit code 2, before Kafka is touched."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


def run_notifier(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPWATCH_")}
    # an address nothing listens on: the test fails fast if the worker ever got as far as Kafka
    env.update({"REPWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:1", "REPWATCH_METRICS_PORT": "0", **env_extra})
    return subprocess.run(
        [sys.executable, "-m", "services.notifier"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )


def test_bad_routes_file_exits_2_naming_the_key(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text("receivers:\n  tg: {type: telegram, chats: [1], token: 'pasted-token'}\n")
    done = run_notifier({"REPWATCH_ROUTES_FILE": str(path)})
    assert done.returncode == 2
    assert "receivers.tg.telegram.token: secrets are never written in the routes file" in done.stderr
    assert "pasted-token" not in done.stderr


def test_missing_secret_exits_2(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text("receivers:\n  s: {type: slack, webhook_url: {env: REPWATCH_TEST_SLACK_URL}}\n")
    done = run_notifier({"REPWATCH_ROUTES_FILE": str(path)})
    assert done.returncode == 2
    assert "receivers.s.webhook_url: environment variable REPWATCH_TEST_SLACK_URL is not set" in done.stderr


def test_every_notifier_setting_is_in_the_readme():
    from services.notifier.settings import NotifierSettings
    from shared.config import WorkerSettings

    readme = (REPO_ROOT / "README.md").read_text()
    for name in set(NotifierSettings.model_fields) - set(WorkerSettings.model_fields):
        assert f"`REPWATCH_{name.upper()}`" in readme, name


def test_notify_test_sends_to_each_receiver_of_the_route(tmp_path):
    from tests.services.notifier.servers import FakeServer

    hook = FakeServer(lambda s, n: (200, {}, b""))
    try:
        path = tmp_path / "routes.yaml"
        secret = "whsec_" + "A" * 32
        path.write_text(
            f'receivers:\n  h: {{type: webhook, url: "{hook.url}", secret: {{env: REPWATCH_TEST_HOOK}}}}\n'
            "routes:\n  - {name: all, receivers: [h]}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPWATCH_")}
        env.update({"REPWATCH_ROUTES_FILE": str(path), "REPWATCH_TEST_HOOK": secret})
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", "notify-test", "--route", "all"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "h: ok"
        assert len(hook.requests) == 1
        missing = subprocess.run(
            [sys.executable, "-m", "services.cli", "notify-test", "--route", "nope"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert missing.returncode == 2 and "no route 'nope'" in missing.stderr
    finally:
        hook.close()
