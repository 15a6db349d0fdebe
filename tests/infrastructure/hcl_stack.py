"""The parsed HCL of ``infrastructure/``, normalised, for the offline structural checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infrastructure"


def _unquote(value: Any) -> Any:
    """python-hcl2 8 keeps string quotes and adds ``__comments__`` markers: strip both."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1]
        return value
    if isinstance(value, list):
        return [_unquote(item) for item in value]
    if isinstance(value, dict):
        return {
            _unquote(key): _unquote(item)
            for key, item in value.items()
            if not (isinstance(key, str) and key.startswith("__") and key.endswith("__"))
        }
    return value


def load_hcl(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return _unquote(hcl2.load(handle))


@dataclass
class Stack:
    """Every ``.tf`` file of the root module, merged."""

    files: dict[str, dict[str, Any]]
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    resource_files: dict[tuple[str, str], str] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        assert (rtype, name) in self.resources, f"missing resource {rtype}.{name}"
        return self.resources[(rtype, name)]

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {name: body for (kind, name), body in self.resources.items() if kind == rtype}


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block ``name`` of a resource body."""
    value = body.get(name)
    assert isinstance(value, list) and len(value) == 1, f"expected one {name!r} block, got {value!r}"
    return value[0]


def load_stack() -> Stack:
    files = {path.name: load_hcl(path) for path in sorted(INFRA_DIR.glob("*.tf"))}
    result = Stack(files=files)
    for file_name, parsed in files.items():
        for entry in parsed.get("resource", []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    assert (rtype, name) not in result.resources, f"duplicate {rtype}.{name}"
                    result.resources[(rtype, name)] = body
                    result.resource_files[(rtype, name)] = file_name
        for entry in parsed.get("variable", []):
            result.variables.update(entry)
        for entry in parsed.get("locals", []):
            result.locals.update(entry)
        for entry in parsed.get("output", []):
            result.outputs.update(entry)
    return result
