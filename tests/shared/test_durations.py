from datetime import timedelta

import pytest

from shared.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", 90), ("2m", 120), ("1h30m", 5400), ("1.5", 1.5), ("500ms", 0.5), ("1d", 86400)],
)
def test_parse(text, expected):
    assert parse_duration(text) == timedelta(seconds=expected)


@pytest.mark.parametrize("text", ["", "abc", "5x", "m5", "1h 30"])
def test_bad(text):
    with pytest.raises(ValueError):
        parse_duration(text)
