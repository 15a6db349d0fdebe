"""The four collections of the store: names, Cosmos DB partition keys and retention.

This module is the single source of truth for these names. The Terraform in
``infrastructure/cosmos-db.tf`` declares the same containers, and
``tests/infrastructure`` compares the two so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class ContainerSpec:
    """One collection: its name, its Cosmos DB partition key path and its default TTL."""

    name: str
    partition_key: str
    #: Cosmos ``default_ttl`` in seconds; ``None`` keeps items forever.
    default_ttl_s: int | None = None


#: Every analysis, partitioned by the UTC day of the reading ("2026-11-23") so the
#: dashboard's time-range queries touch one partition per day; kept 90 days.
ANOMALY_RESULTS: Final = ContainerSpec("anomaly_results", "/day", default_ttl_s=90 * 24 * 3600)
#: Open anomaly episodes, partitioned by their current severity.
UNRESOLVED_ANOMALIES: Final = ContainerSpec("unresolved_anomalies", "/severity_level")
#: Episodes an operator resolved, partitioned by who resolved them.
RESOLVED_ANOMALIES: Final = ContainerSpec("resolved_anomalies", "/resolved_by")
#: Audit trail of manual value changes, partitioned by who changed the value.
MODIFIED_VALUES: Final = ContainerSpec("modified_values", "/modified_by")

ALL_CONTAINERS: Final = (ANOMALY_RESULTS, UNRESOLVED_ANOMALIES, RESOLVED_ANOMALIES, MODIFIED_VALUES)

#: The field every Cosmos DB query sorts on (the document's time in microseconds), newest first.
SORT_FIELD: Final = "t_us"
#: The composite index that ``ORDER BY c.t_us DESC, c.id DESC`` needs on every container; the
#: Terraform's ``composite_index`` blocks must equal it (compared by ``tests/infrastructure``).
COMPOSITE_INDEX: Final = ((f"/{SORT_FIELD}", "descending"), ("/id", "descending"))
