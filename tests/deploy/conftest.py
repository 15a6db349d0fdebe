"""Stub ``terraform``, ``az``, ``docker`` and ``curl`` commands that record their arguments."""

from __future__ import annotations

import os
import pty
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"

# Each stub appends one line per call: the command name, then its arguments separated by tabs.
STUB = r"""#!/usr/bin/env bash
set -euo pipefail
name="$(basename "$0")"
(IFS=$'\t'; printf '%s\t%s\n' "$name" "$*") >> "$STUB_LOG"
args=" $* "
# Outputs exist once the environment was applied: before this run (STUB_STATE_EXISTS=1) or by it.
exists() { [[ "${STUB_STATE_EXISTS:-0}" == 1 || -f "$STUB_LOG.applied" ]]; }
case "$name" in
  terraform)
    case "$args" in
      *" version "*) echo "Terraform v1.11.4" ;;
      *" output -raw container_registry_login_server "*) exists || exit 1; echo "crsensan.azurecr.io" ;;
      *" output -raw container_registry_name "*) exists || exit 1; echo "crsensan" ;;
      *" output -raw analyzer_image_repository "*) exists || exit 1; echo "crsensan.azurecr.io/analyzer" ;;
      *" output -raw resource_group_name "*) exists || exit 1; echo "rg-sensan-dev" ;;
      *" output -raw key_vault_name "*) exists || exit 1; echo "kvsensandev" ;;
      *" output -raw function_app_name "*) exists || exit 1; echo "func-sensan-dev" ;;
      *" output -raw dashboard_app_name "*) exists || exit 1; echo "app-sensan-dev" ;;
      *" output -json deployer_ip_ranges "*) exists || exit 1; echo "${STUB_PERMANENT_RANGES:-[]}" ;;
      *" state list "*) printf '%s\n' ${STUB_STATE_LIST:-} ;;
      *" workspace select "*) [[ "${STUB_MISSING_WORKSPACE:-0}" == 0 || "$args" == *"-or-create"* ]] || exit 1 ;;
      *" show "*) echo "Plan: 3 to add, 1 to change, 0 to destroy." ;;
      *" apply "*) [[ "${STUB_APPLY_FAIL:-0}" == 0 ]] || { echo "Error: apply failed (stub)" >&2; exit 1; }
        touch "$STUB_LOG.applied" ;;
    esac ;;
  az)
    [[ -z "${STUB_AZ_FAIL:-}" || "$args" != *" ${STUB_AZ_FAIL} "* ]] || { echo "az failed (stub)" >&2; exit 1; }
    case "$args" in
      *" account show "*) [[ "${STUB_LOGGED_IN:-1}" == 1 ]] || exit 1; echo "${STUB_SUBSCRIPTION}" ;;
      *" monitor action-group show "*) [[ "${STUB_SMART_DETECTION:-0}" == 1 ]] || exit 3 ;;
      *" show "*) [[ "${STUB_GONE:-0}" == 0 ]] || exit 3 ;;
    esac ;;
  curl)
    [[ "${STUB_CURL_FAIL:-0}" == 0 ]] || exit 6
    echo "${STUB_IP:-203.0.113.7}" ;;
esac
"""


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[list[str]]

    def called(self, tool: str, *words: str) -> list[list[str]]:
        """Calls of ``tool`` whose arguments contain every word, in any order."""
        return [call[1:] for call in self.calls if call[0] == tool and all(word in call[1:] for word in words)]

    def index(self, tool: str, *words: str) -> int:
        """Position of the first such call in the order of calls (-1 if none)."""
        for position, call in enumerate(self.calls):
            if call[0] == tool and all(word in call[1:] for word in words):
                return position
        return -1


@pytest.fixture
def run_script(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("terraform", "az", "docker", "curl"):
        path = bin_dir / tool
        path.write_text(STUB)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    log = tmp_path / "calls.log"
    var_file = tmp_path / "tenant.tfvars"
    var_file.write_text(f'subscription_id = "{SUBSCRIPTION}"\ndashboard_auth_client_id = "{SUBSCRIPTION}"\n')

    def run(script: str, *args: str, stdin: str | None = "", tty_input: str | None = None, **env: str) -> Run:
        """Run the script; ``stdin`` is piped (None = closed), ``tty_input`` is typed on a terminal."""
        log.write_text("")
        Path(f"{log}.applied").unlink(missing_ok=True)
        environment = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "STUB_LOG": str(log),
            "STUB_SUBSCRIPTION": SUBSCRIPTION,
            "TF_STATE_RESOURCE_GROUP": "rg-tfstate",
            "TF_STATE_STORAGE_ACCOUNT": "sttfstate",
            **env,
        }
        command = [str(REPO_ROOT / script), *args]
        if tty_input is not None:
            controller, terminal = pty.openpty()
            os.write(controller, tty_input.encode())
            try:
                result = subprocess.run(
                    command, stdin=terminal, capture_output=True, text=True, env=environment, timeout=60, check=False
                )
            finally:
                os.close(terminal)
                os.close(controller)
        elif stdin is None:
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=environment, timeout=60,
                check=False,
            )  # fmt: skip
        else:
            result = subprocess.run(
                command, input=stdin, capture_output=True, text=True, env=environment, timeout=60, check=False
            )
        calls = [line.split("\t") for line in log.read_text().splitlines() if line]
        calls = [[call[0], *[word for word in call[1:] if word]] for call in calls]
        return Run(result.returncode, result.stdout, result.stderr, calls)

    run.var_file = str(var_file)  # type: ignore[attr-defined]
    return run
