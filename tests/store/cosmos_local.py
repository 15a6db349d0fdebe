"""The local Cosmos-protocol server the store tests start: its handle and the key it accepts."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

#: Any key works with the local server; the SDK only needs a base64 string to sign requests.
LOCAL_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="


@dataclass(frozen=True)
class CosmosServer:
    endpoint: str
    process: subprocess.Popen[str]
