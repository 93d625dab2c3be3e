"""YAML configuration files (brands, routes, poll sources) read into pydantic models.

One reading for all of them, so every file gives the same kind of error: the file name,
then each problem as ``dotted.location: message`` (at most ten), never a traceback.
"""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def parse_yaml_model(text: str, model: type[M], *, source: str, expected: str, error: type[ValueError]) -> M:
    """``text`` as ``model``; ``expected`` says what the top level should be (for the error);
    every problem raises ``error`` with a message naming ``source``. An empty file is ``{}``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise error(f"{source}: expected {expected}, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{source}: " + "; ".join(_problem(e) for e in exc.errors()[:10])) from None


def _problem(e: Any) -> str:
    loc = ".".join(str(p) for p in e["loc"]) or "<file>"
    return f"{loc}: {str(e['msg']).removeprefix('Value error, ')}"
