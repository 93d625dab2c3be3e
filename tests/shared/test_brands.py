"""The brands file's channel lookups that connectors use."""

from __future__ import annotations

from shared.brands import BrandsFile, parse_brands
from shared.schemas import Platform

BRANDS = parse_brands(
    """
brands:
  acme:
    owned_channels: {vk: ["vk:club123", club9], telegram: ["@acme_news"]}
  globex:
    owned_channels: {vk: [club456, club9]}
"""
)


def test_find_owned_returns_the_spelling_the_file_uses():
    assert BRANDS.find_owned(Platform.VK, ["vk:club123", "club123"]) == ("acme", "vk:club123")
    assert BRANDS.find_owned("vk", ["vk:club456", "club456"]) == ("globex", "club456")
    assert BRANDS.find_owned(Platform.TELEGRAM, ["telegram:-100", "@acme_news"]) == ("acme", "@acme_news")


def test_find_owned_misses():
    assert BRANDS.find_owned(Platform.VK, ["vk:club1", "club1"]) is None
    assert BRANDS.find_owned(Platform.FACEBOOK, ["vk:club123"]) is None
    assert BRANDS.find_owned(Platform.VK, []) is None
    assert BrandsFile().find_owned(Platform.VK, ["club123"]) is None


def test_a_channel_two_brands_list_goes_to_the_first_as_owner_of_always_did():
    assert BRANDS.owner_of("vk", "club9") == "acme"
    assert BRANDS.find_owned(Platform.VK, ["club9"]) == ("acme", "club9")


def test_owner_of_unchanged():
    assert BRANDS.owner_of(Platform.VK, "vk:club123") == "acme"
    assert BRANDS.owner_of(Platform.VK, "club123") is None
    assert BRANDS.model_dump()["brands"]["acme"]["owned_channels"]  # the index is not part of the data
