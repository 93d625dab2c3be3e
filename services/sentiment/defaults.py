"""Where the default model lives once built (``make model``)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL_NAME = "repwatch-sentiment-e5-small"


def model_cache_root() -> Path:
    return Path(os.environ.get("REPWATCH_MODEL_CACHE", "~/.cache/repwatch/models")).expanduser()


def default_model_path() -> Path:
    return model_cache_root() / DEFAULT_MODEL_NAME
