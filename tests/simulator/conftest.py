"""Shared simulated days: generating one takes a fraction of a second, so build each once."""

from __future__ import annotations

import pytest

from analyzer.catalog import load_catalog
from analyzer.devtools.simulator import SimulatedPlant, simulate_plant
from schemas.catalog import SensorCatalog
from tests.simulator.simulated_days import DAY, START


@pytest.fixture(scope="session")
def catalog() -> SensorCatalog:
    return load_catalog()


@pytest.fixture(scope="session")
def day(catalog: SensorCatalog) -> SimulatedPlant:
    """A day at the default anomaly rate."""
    return simulate_plant(catalog, START, DAY, seed=11)


@pytest.fixture(scope="session")
def busy_day(catalog: SensorCatalog) -> SimulatedPlant:
    """A day with many anomalies of every kind."""
    return simulate_plant(catalog, START, DAY, seed=5, anomaly_rate=0.3)


@pytest.fixture(scope="session")
def clean_twin(catalog: SensorCatalog) -> SimulatedPlant:
    """``busy_day`` without anomalies: the same readings wherever nothing was injected."""
    return simulate_plant(catalog, START, DAY, seed=5, anomaly_rate=0.0)
