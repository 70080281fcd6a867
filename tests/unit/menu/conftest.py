"""Shared fixtures: the demo catalog, demo customers, and a way to walk a call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.catalog.model import Catalog
from ivr.check import load_checked_catalog, parse_checked_catalog
from ivr.directory.demo import DEMO_CUSTOMERS
from ivr.directory.model import Customer

REPO = Path(__file__).resolve().parents[3]
CATALOG_FILE = REPO / "callcenter.yaml"
PROMPTS_DIR = REPO / "prompts"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_checked_catalog(CATALOG_FILE)


@pytest.fixture(scope="session")
def demo_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def catalog_with(demo_data: dict[str, Any]) -> Callable[[Callable[[dict[str, Any]], None]], Catalog]:
    """The demo catalog after `edit(data)`, validated like the real file (menus included)."""

    def build(edit: Callable[[dict[str, Any]], None]) -> Catalog:
        data = yaml.safe_load(yaml.safe_dump(demo_data, allow_unicode=True))
        edit(data)
        return parse_checked_catalog(yaml.safe_dump(data, allow_unicode=True))

    return build


def customer(caller_id: str) -> Customer:
    return next(demo.customer for demo in DEMO_CUSTOMERS if demo.caller_id == caller_id)


VIP = customer("13900000001")  # Zhang Wei, vip, zh
PLATINUM_EN = customer("13900000002")  # Emily Carter, platinum, en
GROUP = customer("13900000003")
STANDARD = customer("13900000004")  # Wang Fang, card 4321 PIN 246810, card 9876 inactive
JAPANESE = customer("13900000005")  # Tanaka Yuki, standard, ja
