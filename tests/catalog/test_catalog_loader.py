"""The shipped sensor catalogue and the loader's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer.catalog import CatalogError, load_catalog
from analyzer.settings import DEFAULT_CATALOG
from schemas.catalog import LIMIT_ORDER, SensorCatalog

SHIPPED = DEFAULT_CATALOG


def _sensor(name: str, **extra: object) -> dict[str, object]:
    return {"name": name, "unit": "degC", "description": f"test sensor {name}", **extra}


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def shipped() -> SensorCatalog:
    return load_catalog(SHIPPED)


def test_shipped_catalogue_has_about_100_sensors_and_8_core(shipped: SensorCatalog) -> None:
    assert 90 <= len(shipped.sensors) <= 110
    assert len(shipped.core_names) == 8
    core = [s for s in shipped.sensors if s.core]
    assert all(s.update_interval_s == 10 for s in core)


def test_shipped_catalogue_mixes_10_s_and_hourly_sensors(shipped: SensorCatalog) -> None:
    hourly = [s for s in shipped.sensors if s.update_interval_s == 3600]
    assert 10 <= len(hourly) <= 20
    assert not any(s.core for s in hourly)


def test_shipped_limits_are_ordered_and_varied(shipped: SensorCatalog) -> None:
    patterns = set()
    for spec in shipped.sensors:
        present = [getattr(spec, name) for name in LIMIT_ORDER if getattr(spec, name) is not None]
        assert present == sorted(present) and len(set(present)) == len(present), spec.name
        patterns.add(tuple(getattr(spec, name) is not None for name in LIMIT_ORDER))
    assert (False, False, False, False) in patterns  # some sensors have no limits
    assert (True, True, True, True) in patterns
    assert len(patterns) >= 5  # and many have only some of them


def test_shipped_names_look_like_isa_tags(shipped: SensorCatalog) -> None:
    prefixes = {spec.name.split("-")[0] for spec in shipped.sensors}
    assert {"TI", "PI", "FI", "LI", "AI", "VI"} <= prefixes
    assert all(spec.unit is not None and spec.description for spec in shipped.sensors)


def test_none_reads_the_settings_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, {"plant": "small", "sensors": [_sensor("TI-1", core=True)]})
    monkeypatch.setenv("SENSOR_CATALOG", str(path))
    assert load_catalog().plant == "small"
    monkeypatch.delenv("SENSOR_CATALOG")
    assert len(load_catalog().sensors) == len(load_catalog(SHIPPED).sensors)  # nothing cached


def test_out_of_order_limits_name_the_sensor_and_the_limits(tmp_path: Path) -> None:
    path = _write(tmp_path, {"plant": "p", "sensors": [_sensor("TI-1"), _sensor("PI-7", low=5.0, high=3.0)]})
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    message = str(raised.value)
    assert str(path) in message
    assert "PI-7" in message and "low=5" in message and "high=3" in message
    assert "TI-1" not in message


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "plant.json"
    with pytest.raises(CatalogError, match="not found") as raised:
        load_catalog(path)
    assert str(path) in str(raised.value)


def test_bad_json_names_the_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "plant": "p",\n  "sensors": [\n    {"name": "TI-1",}\n  ]\n}\n', encoding="utf-8")
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    message = str(raised.value)
    assert str(path) in message and "line 4" in message


def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, {"plant": "p", "sensors": [_sensor("TI-1"), _sensor("TI-2"), _sensor("TI-1")]})
    with pytest.raises(CatalogError, match="duplicate sensor names in catalogue: TI-1"):
        load_catalog(path)


def test_field_errors_name_the_sensor(tmp_path: Path) -> None:
    path = _write(tmp_path, {"plant": "p", "sensors": [_sensor("TI-1"), _sensor("FI-2", update_interval_s=60)]})
    with pytest.raises(CatalogError, match=r"sensors\[1\] \(FI-2\)\.update_interval_s"):
        load_catalog(path)


def test_catalog_error_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_catalog(tmp_path / "missing.json")
