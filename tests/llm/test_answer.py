"""The answer's strict schema follows the structured-outputs rules; answers are validated; the
tier 3 settings validate themselves."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from analyzer.settings import Settings
from analyzer.tiers.llm.answer import UNSUPPORTED_KEYWORDS, InvalidAnswer, parse_answer, strict_schema
from schemas.llm import ContextAnswer, LLMContext
from tests.llm.model_server import VALID_ANSWER


def nodes(schema: Any, depth: int = 0) -> list[tuple[dict[str, Any], int]]:
    found = []
    if isinstance(schema, dict):
        found.append((schema, depth))
        for key, value in schema.items():
            if key in {"properties", "$defs"}:
                for child in value.values():
                    found += nodes(child, depth + 1)
            elif isinstance(value, dict | list):
                found += nodes(value, depth)
    elif isinstance(schema, list):
        for item in schema:
            found += nodes(item, depth)
    return found


def test_the_schema_follows_the_strict_structured_outputs_rules() -> None:
    schema = strict_schema()
    assert schema["type"] == "object" and "anyOf" not in schema
    objects = [node for node, _ in nodes(schema) if node.get("type") == "object"]
    assert objects
    for node in objects:
        assert node["additionalProperties"] is False
        assert sorted(node["required"]) == sorted(node["properties"])
    every_key = {key for node, _ in nodes(schema) for key in node}
    assert not every_key & UNSUPPORTED_KEYWORDS
    assert sum(len(node.get("properties", {})) for node, _ in nodes(schema)) <= 100
    assert max(depth for _, depth in nodes(schema)) <= 5
    # the bounds the schema cannot carry are stated to the model in words
    assert "at most 800 characters" in schema["properties"]["summary"]["description"]


def test_a_valid_answer_parses_and_bounds_are_enforced() -> None:
    answer = parse_answer(json.dumps({**VALID_ANSWER, "summary": "  padded  "}))
    assert answer.summary == "padded"
    for bad in ({**VALID_ANSWER, "summary": " "}, {**VALID_ANSWER, "recommended_checks": []}):
        with pytest.raises(InvalidAnswer, match="does not match the schema"):
            parse_answer(json.dumps(bad))
    with pytest.raises(InvalidAnswer, match="empty"):
        parse_answer(None)
    with pytest.raises(InvalidAnswer, match="not valid JSON"):
        parse_answer("Sure! Here is the JSON: {")


def test_the_stored_context_is_the_answer_plus_who_wrote_it() -> None:
    fields = set(LLMContext.model_fields)
    assert set(ContextAnswer.model_fields) <= fields
    assert {"provider", "model", "status", "failure", "for_priority", "for_event", "generated_at"} <= fields
    assert {"prompt_tokens", "completion_tokens", "latency_ms", "offline", "retry_after_s"} <= fields
    with pytest.raises(ValidationError):
        LLMContext.model_validate({**VALID_ANSWER, "provider": "offline", "model": "m", "status": "maybe"})


def test_tier3_settings_accept_the_old_provider_names_and_refuse_incomplete_ones() -> None:
    def settings(**values: Any) -> Settings:
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    assert settings().llm_provider == "offline"
    assert settings(llm_provider="azure_openai", openai_endpoint="https://x.openai.azure.com/").llm_provider == (
        "azure-openai"
    )
    assert settings(llm_provider="openai", llm_base_url="http://h/v1", llm_model="m").llm_provider == (
        "openai-compatible"
    )
    with pytest.raises(ValidationError, match="needs OPENAI_ENDPOINT"):
        settings(llm_provider="azure-openai")
    with pytest.raises(ValidationError, match="needs LLM_BASE_URL and LLM_MODEL"):
        settings(llm_provider="openai-compatible", llm_base_url="http://h/v1")
    with pytest.raises(ValidationError):
        settings(llm_provider="gpt")
