"""The catalog's scheduling section: patterns, contracts, calendar."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ivr.catalog.errors import CatalogError
from ivr.check import load_checked_catalog

ROOT = Path(__file__).resolve().parents[2]


class _NoAliases(yaml.SafeDumper):
    # The loader refuses anchors; values shared between objects are written out.
    def ignore_aliases(self, data: object) -> bool:
        return True


def _with(tmp_path: Path, change) -> Path:
    data = yaml.safe_load((ROOT / "callcenter.yaml").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.dump(data, Dumper=_NoAliases, allow_unicode=True), encoding="utf-8")
    return path


def test_demo_catalog_declares_patterns_and_contracts():
    catalog = load_checked_catalog(ROOT / "callcenter.yaml")
    assert {p.id for p in catalog.scheduling.patterns} >= {"early", "day", "late", "night", "part_time"}
    part_timer = next(s for s in catalog.seats if s.id == "1006")
    assert catalog.contract(part_timer).patterns == ("part_time",)
    assert catalog.contract(catalog.seats[0]).hours_per_week == 40
    assert catalog.scheduling.shrinkage_total == pytest.approx(0.10)


def test_contract_naming_an_unknown_pattern_is_refused(tmp_path: Path):
    def change(d):
        d["seats"][0]["contract"] = {"patterns": ["dawn"]}

    with pytest.raises(CatalogError, match=r"seats\[0\]\.contract\.patterns\[0\].*unknown shift pattern 'dawn'"):
        load_checked_catalog(_with(tmp_path, change))


def test_contract_hours_that_no_pattern_can_fill_are_refused(tmp_path: Path):
    def change(d):
        d["seats"][0]["contract"] = {"hours_per_week": 30, "days_per_week": 5, "patterns": ["part_time"]}

    with pytest.raises(CatalogError, match=r"30 h a week cannot be worked in 5 shifts"):
        load_checked_catalog(_with(tmp_path, change))


def test_days_off_leaving_too_few_working_days_are_refused(tmp_path: Path):
    def change(d):
        d["seats"][0]["contract"] = {"days_per_week": 5, "days_off": ["sat", "sun", "mon"]}

    with pytest.raises(CatalogError, match="5 working days do not fit"):
        load_checked_catalog(_with(tmp_path, change))


def test_break_outside_its_shift_is_refused(tmp_path: Path):
    def change(d):
        d["scheduling"]["patterns"][4]["breaks"] = [{"minutes": 30, "earliest": 210, "latest": 225}]

    with pytest.raises(CatalogError, match="does not fit the shift"):
        load_checked_catalog(_with(tmp_path, change))


def test_unknown_center_calendar_and_duplicate_pattern_are_refused(tmp_path: Path):
    def change(d):
        d["scheduling"]["calendar"] = "nope"
        d["scheduling"]["patterns"].append(dict(d["scheduling"]["patterns"][0]))

    with pytest.raises(CatalogError) as err:
        load_checked_catalog(_with(tmp_path, change))
    text = str(err.value)
    assert "unknown calendar 'nope'" in text and "duplicate 'early'" in text
