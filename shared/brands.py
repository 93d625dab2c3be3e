"""The brands file (``REPWATCH_BRANDS_FILE``): brands, their owned channels, settings.

It is the one place that says which channels a brand owns (its VK club, its
Telegram chat, ...), its time zone and language, and per-brand overrides of any
detector setting. Connectors use the same file to map platform page ids to
brands. Without a file everything runs with defaults; a channel where the brand
itself posts or replies (``author_is_brand``) counts as owned even when unlisted
(the alerting engine learns that from the stream).

```yaml
brands:
  acme:
    timezone: Europe/Moscow
    language: ru
    owned_channels: {vk: [club123], telegram: [acme_chat]}
    detectors: {unanswered_complaint: {sla_minutes: 30}}
```
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.schemas import Platform
from shared.yaml_model import parse_yaml_model


class BrandsFileError(ValueError):
    """The brands file is missing, not YAML, or does not validate. The message says where."""


class BrandConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: IANA zone; seasonal baselines and quiet hours use the brand's local time
    timezone: str = "UTC"
    #: language of messages to the team (en, ru)
    language: str = Field(default="en", min_length=2, max_length=8)
    #: platform -> channel ids the brand owns (its page, community, chat)
    owned_channels: dict[Platform, list[str]] = Field(default_factory=dict)
    #: detector name -> {setting: value}; validated by the alerting engine against
    #: each detector's own settings model
    detectors: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Europe/Moscow)") from None
        return v

    def owns(self, platform: Platform | str, channel: str) -> bool:
        return channel in self.owned_channels.get(Platform(platform), ())


class BrandsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    brands: dict[str, BrandConfig] = Field(default_factory=dict)
    #: settings for brands the file does not list
    default: BrandConfig = Field(default_factory=BrandConfig)

    def brand(self, name: str) -> BrandConfig:
        return self.brands.get(name, self.default)

    @cached_property
    def owned_index(self) -> dict[tuple[Platform, str], str]:
        """(platform, channel) -> brand, built once: a webhook receiver looks up every
        request. A channel two brands list goes to the first one in the file."""
        index: dict[tuple[Platform, str], str] = {}
        for name, cfg in self.brands.items():
            for platform, channels in cfg.owned_channels.items():
                for channel in channels:
                    index.setdefault((platform, channel), name)
        return index

    def owner_of(self, platform: Platform | str, channel: str) -> str | None:
        """The brand that owns ``channel`` on ``platform`` (connectors map page ids this way)."""
        return self.owned_index.get((Platform(platform), channel))

    def find_owned(self, platform: Platform | str, spellings: Iterable[str]) -> tuple[str, str] | None:
        """``(brand, channel)`` for the first of ``spellings`` some brand lists on ``platform``.

        A connector knows a page by its platform id and offers the ways a person may have
        written it in the file (``vk:club123`` or ``club123``); the channel comes back as
        the file spells it, so the alerting engine's owned-channel check matches it.
        """
        p = Platform(platform)
        index = self.owned_index
        for channel in spellings:
            brand = index.get((p, channel))
            if brand is not None:
                return brand, channel
        return None


def parse_brands(text: str, source: str = "<brands file>") -> BrandsFile:
    return parse_yaml_model(
        text, BrandsFile, source=source, expected="a mapping with a 'brands' key", error=BrandsFileError
    )


def load_brands(path: str | Path | None) -> BrandsFile:
    """The brands file at ``path``, or defaults when no path is configured."""
    if not path:
        return BrandsFile()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise BrandsFileError(f"cannot read brands file {p}: {exc.strerror or exc}") from None
    return parse_brands(text, str(p))
