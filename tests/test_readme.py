"""The README is the newcomer's entry point: keep it true."""

from services.alerting.settings import AlertingSettings
from services.ingest.settings import IngestSettings, ReceiverSettings
from services.notifier.settings import NotifierSettings
from services.sentiment.settings import SentimentSettings
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_first_lines_are_the_two_commands():
    head = README.splitlines()[:6]
    assert any(line.startswith("make run") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_every_setting_is_documented():
    for cls in (IngestSettings, ReceiverSettings, SentimentSettings, AlertingSettings, NotifierSettings):
        for name in cls.model_fields:
            assert f"`REPWATCH_{name.upper()}`" in README, f"REPWATCH_{name.upper()} missing from README"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
