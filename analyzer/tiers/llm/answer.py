"""The structured answer: :class:`~schemas.llm.ContextAnswer` as a strict JSON schema for
structured outputs, and the validation of what comes back.

Strict structured outputs accept a subset of JSON Schema: every property required,
``additionalProperties: false`` on every object, no ``anyOf`` at the root, and no length or
count keywords (``minLength``, ``maxLength``, ``minItems``, ``maxItems``, ``pattern``, ``format``,
``minimum``, ``maximum``): Azure OpenAI refuses a schema that carries them. So the schema sent
is the model's schema with those keywords removed (the bounds stay in the field descriptions),
and :func:`parse_answer` enforces them: an answer beyond a bound is invalid, like one that is not
JSON or misses a field.
"""

from __future__ import annotations

from typing import Any

from openai.types.shared_params import ResponseFormatJSONSchema
from pydantic import ValidationError

from schemas.llm import ContextAnswer

__all__ = ["RESPONSE_FORMAT_NAME", "ContextAnswer", "InvalidAnswer", "parse_answer", "response_format", "strict_schema"]

RESPONSE_FORMAT_NAME = "alarm_context"

#: Keywords strict structured outputs do not support; the bounds they carry are checked on receipt.
UNSUPPORTED_KEYWORDS = frozenset(
    {
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "default",
        "title",
    }
)


class InvalidAnswer(ValueError):
    """The model's answer is empty, not JSON, or does not satisfy :class:`ContextAnswer`."""


def _strict(node: Any) -> Any:
    """One schema node in the strict subset (``properties`` and ``$defs`` map names to nodes)."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in UNSUPPORTED_KEYWORDS:
            continue
        if key in {"properties", "$defs"}:
            out[key] = {name: _strict(child) for name, child in value.items()}
        else:
            out[key] = _strict(value)
    if out.get("type") == "object":
        out["required"] = list(out.get("properties", {}))
        out["additionalProperties"] = False
    return out


def strict_schema() -> dict[str, Any]:
    """The JSON schema of :class:`ContextAnswer` in the strict structured-outputs subset.

    >>> schema = strict_schema()
    >>> schema["additionalProperties"], sorted(schema["required"]) == sorted(schema["properties"])
    (False, True)
    >>> schema["properties"]["confidence"]["enum"]
    ['low', 'medium', 'high']
    """
    return _strict(ContextAnswer.model_json_schema(mode="validation"))  # type: ignore[no-any-return]


def response_format() -> ResponseFormatJSONSchema:
    """The ``response_format`` argument of a chat completion: the strict schema, named."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": RESPONSE_FORMAT_NAME,
            "description": "Context for a control-room operator about one process alarm.",
            "strict": True,
            "schema": strict_schema(),
        },
    }


def parse_answer(content: str | None) -> ContextAnswer:
    """Validate the model's message content; :class:`InvalidAnswer` says what is wrong.

    >>> parse_answer('{"summary": "x"}')
    Traceback (most recent call last):
    ...
    analyzer.tiers.llm.answer.InvalidAnswer: answer does not match the schema: likely_causes: Field required; ...
    """
    if content is None or not content.strip():
        raise InvalidAnswer("the answer is empty")
    try:
        return ContextAnswer.model_validate_json(content)
    except ValidationError as error:
        if any(e["type"] == "json_invalid" for e in error.errors()):
            raise InvalidAnswer(f"the answer is not valid JSON: {error.errors()[0]['msg']}") from None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in error.errors()[:6]
        )
        raise InvalidAnswer(f"answer does not match the schema: {problems}") from None
