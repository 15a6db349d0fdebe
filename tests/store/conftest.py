"""Fixtures of the store tests: a ``store`` parametrised over SQLite and Cosmos DB.

The Cosmos run talks through the real ``azure-cosmos`` SDK to ``@vercel/cosmosdb-server``
(installed by ``npm ci`` at the repository root), started here on 127.0.0.1 on a free port.
When the server cannot start the Cosmos tests are skipped, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cosmos_local import LOCAL_KEY, CosmosServer

from analyzer.store.protocol import Store

REPO = Path(__file__).resolve().parents[2]
SERVER_PACKAGE = REPO / "node_modules" / "@vercel" / "cosmosdb-server" / "lib" / "cli.js"
#: The package's command line with one fix (a point read of a missing document answers 404): see the file.
SERVER_CLI = Path(__file__).parent / "cosmos_server.js"
_READY = re.compile(r"Ready to accept HTTPS connections at ([\d.]+):(\d+)")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Cosmos-protocol server unavailable under CI=true: {reason}")
    pytest.skip(f"Cosmos-protocol server unavailable: {reason} (run `npm ci` at the repo root)")


@pytest.fixture(scope="session")
def cosmos_server() -> Iterator[CosmosServer]:
    """``@vercel/cosmosdb-server`` on 127.0.0.1, a free port, HTTPS with its self-signed certificate."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not SERVER_PACKAGE.exists():
        _unavailable(f"{SERVER_PACKAGE.relative_to(REPO)} is missing")
    process = subprocess.Popen(
        [str(node), str(SERVER_CLI), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    assert process.stdout is not None
    found: list[str] = []
    ready = threading.Event()

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # keep draining so the server never blocks on a full pipe
            if not ready.is_set():
                found.append(line)
                if _READY.search(line):
                    ready.set()

    threading.Thread(target=read_output, daemon=True).start()
    deadline = time.monotonic() + 20
    while not ready.wait(0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _unavailable(f"server did not start: {''.join(found)[-500:]!r}")
    match = _READY.search(found[-1])
    assert match is not None
    server = CosmosServer(endpoint=f"https://{match.group(1)}:{match.group(2)}/", process=process)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(params=["sqlite", "cosmos"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "cosmos":
        request.node.add_marker(pytest.mark.cosmos)
    return str(request.param)


async def _open_cosmos(server: CosmosServer, database: str) -> Store:
    from analyzer.store.cosmos import CosmosStore

    return await CosmosStore.open(
        endpoint=server.endpoint,
        database=database,
        key=LOCAL_KEY,
        verify_tls=False,
        create_if_missing=True,
    )


@pytest.fixture
async def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A fresh, empty store of each backend."""
    if backend == "sqlite":
        from analyzer.store.sqlite import SqliteStore

        opened: Store = await SqliteStore.open(tmp_path / "state" / "analyzer.db")
    else:
        server: CosmosServer = request.getfixturevalue("cosmos_server")
        opened = await _open_cosmos(server, f"test-{uuid.uuid4().hex[:12]}")
    try:
        yield opened
    finally:
        await opened.close()
