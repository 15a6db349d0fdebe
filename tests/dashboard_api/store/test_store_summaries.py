"""Result summaries, against SQLite (built in SQL) and Cosmos DB (built from the documents): the
same as summarising the full analysis, and paged like ``query_results``."""

from __future__ import annotations

from store_factories import at, entry_id, make_result

from analyzer.store.protocol import CorrectionRequest, ResultQuery, Store
from analyzer.store.summaries import summarize
from schemas.results import (
    AnalysisResult,
    MLBlock,
    MLResult,
    Severity,
    StatisticalBlock,
    StatisticalSensorResult,
)


def with_tiers(n: int, *, ml_anomaly: bool) -> AnalysisResult:
    base = make_result(n, anomalous=["TI-101"], severity=Severity.HIGH)
    statistical = StatisticalBlock(
        timestamp=base.timestamp,
        processing_time_ms=0.5,
        results={
            "TI-101": StatisticalSensorResult(value=350.0, mean=340.0, std=2.0, z_score=5.0, status="Anomaly"),
            "PI-201": StatisticalSensorResult(value=4.2, mean=4.2, std=0.1, z_score=0.0, status="Normal"),
        },
    )
    ml = MLBlock(
        timestamp=base.timestamp,
        processing_time_ms=1.0,
        results=MLResult(
            values={"TI-101": 0.4, "PI-201": 0.1, "FI-101": 0.4, "LI-101": 0.05},
            score=0.97 if ml_anomaly else 0.2,
            raw_score=-0.2,
            threshold=0.95,
            status="Anomaly" if ml_anomaly else "Normal",
        ),
    )
    return base.model_copy(update={"statistical": statistical, "ml": ml})


async def test_summaries_equal_the_summarised_analyses(store: Store) -> None:
    results = [with_tiers(0, ml_anomaly=True), with_tiers(1, ml_anomaly=False), make_result(2), make_result(3)]
    await store.put_results(results)
    await store.correct_value(CorrectionRequest("c-1", entry_id(1), "TI-101", 1.0, "fault", "alice", at(900)))

    page = await store.query_result_summaries(ResultQuery())
    expected = [summarize(stored) for stored in [await store.get_result(r.id) for r in reversed(results)] if stored]
    assert page.items == expected
    top = page.items[-1]
    assert list(top.heuristic_flagged) == ["TI-101"] and list(top.statistical_flagged) == ["TI-101"]
    assert top.ml is not None and top.ml.top == {"FI-101": 0.4, "TI-101": 0.4, "PI-201": 0.1}
    assert page.items[2].corrections["TI-101"].value == 1.0
    assert page.items[0].ml is None and page.items[0].heuristic_flagged == {}
    assert page.items[-2].ml is not None and page.items[-2].ml.top == {}, "drivers only when ML flagged it"


async def test_summaries_page_and_filter_like_results(store: Store) -> None:
    await store.put_results([make_result(n, anomalous=["TI-101"] if n % 2 else None) for n in range(7)])
    query = ResultQuery(sensor="TI-101", limit=2)
    seen: list[str] = []
    while True:
        page = await store.query_result_summaries(query)
        seen += [summary.id for summary in page.items]
        if page.continuation is None:
            break
        query = query.model_copy(update={"continuation": page.continuation})
    assert seen == [entry_id(n) for n in (5, 3, 1)]
