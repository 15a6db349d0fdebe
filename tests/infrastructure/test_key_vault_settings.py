"""Every documented setting of the deployment lives in Key Vault under its dash-separated name, and
each app reads it from there (Key Vault references, or Key Vault secrets for the container app).

The documented names are the issue's list; a setting the deployment does not have is named with
the reason, and the Function app's Redis connection is the managed-identity form only.
"""

from __future__ import annotations

import pytest
from hcl_stack import Stack, block

DOCUMENTED = [
    "REDIS_CONNECTION_STRING", "COSMOS_DB_ENDPOINT", "COSMOS_DB_DATABASE_NAME", "OPENAI_ENDPOINT",
    "OPENAI_API_KEY", "OPENAI_DEPLOYMENT_NAME", "FASTAPI_ENDPOINT", "APPLICATION_INSIGHTS_CONNECTION_STRING",
]  # fmt: skip

# setting -> (Key Vault secret name, apps that read it). None = the deployment has no such value.
MAPPING: dict[str, tuple[str, set[str]] | None] = {
    "REDIS_CONNECTION_STRING": ("redis-connection-string", {"analyzer", "dashboard"}),
    "COSMOS_DB_ENDPOINT": ("cosmos-db-endpoint", {"analyzer", "dashboard"}),
    "COSMOS_DB_DATABASE_NAME": ("cosmos-db-database-name", {"analyzer", "dashboard"}),
    "OPENAI_ENDPOINT": ("openai-endpoint", {"analyzer"}),
    "OPENAI_API_KEY": None,  # key auth is off on the OpenAI account (asserted below)
    "OPENAI_DEPLOYMENT_NAME": ("openai-deployment-name", {"analyzer"}),
    "FASTAPI_ENDPOINT": ("fastapi-endpoint", {"function", "dashboard"}),
    "APPLICATION_INSIGHTS_CONNECTION_STRING": ("application-insights-connection-string", {"analyzer", "dashboard"}),
}
SITES = {"dashboard": ("azurerm_linux_web_app", "dashboard"), "function": ("azurerm_linux_function_app", "main")}


def _dash(name: str) -> str:
    return name.lower().replace("_", "-")


def _reads(stack: Stack, app: str, setting: str) -> str | None:
    """How ``app`` gets ``setting``: the expression of its app setting / secret reference, or None."""
    if app == "analyzer":
        container = stack.resource("azurerm_container_app", "analyzer")
        env = {e["name"]: e for e in block(block(container, "template"), "container")["env"]}
        if setting in env:
            return env[setting].get("secret_name") or env[setting].get("value")
        if setting in stack.locals["analyzer_key_vault_settings"]:
            return "key-vault:" + setting
        return None
    rtype, name = SITES[app]
    return stack.resource(rtype, name)["app_settings"].get(setting)


def test_the_mapping_covers_every_documented_setting() -> None:
    assert set(MAPPING) == set(DOCUMENTED)
    for setting, entry in MAPPING.items():
        if entry is not None:
            assert entry[0] == _dash(setting), setting


def test_secret_names_are_the_dash_form_of_the_setting_names(stack: Stack) -> None:
    assert stack.locals["key_vault_secret_names"] == (
        '${{for name in keys(local.key_vault_settings) : name => lower(replace(name, "_", "-"))}}'
    )
    settings = stack.resource("azurerm_key_vault_secret", "settings")
    assert settings["for_each"] == "${local.key_vault_secret_names}" and settings["name"] == "${each.value}"
    assert "@Microsoft.KeyVault(SecretUri=${secret.versionless_id})" in stack.locals["key_vault_references"]
    assert "azurerm_key_vault_secret.settings" in stack.locals["key_vault_references"]


@pytest.mark.parametrize("setting", [s for s in DOCUMENTED if MAPPING[s] is not None])
def test_each_setting_has_its_secret_and_every_app_reads_it_from_key_vault(stack: Stack, setting: str) -> None:
    entry = MAPPING[setting]
    assert entry is not None
    secret_name, readers = entry
    if setting == "FASTAPI_ENDPOINT":
        # Its own resource: it exists once the analyzer does (the analyzer reads the others).
        secret = stack.resource("azurerm_key_vault_secret", "fastapi_endpoint")
        assert secret["name"] == secret_name and secret["value"] == "${local.analyzer_url}"
        assert secret["count"] == "${local.analyzer_enabled ? 1 : 0}"
        assert (
            "azurerm_key_vault_secret.fastapi_endpoint[0].versionless_id" in stack.locals["fastapi_endpoint_reference"]
        )
        reference = "${local.fastapi_endpoint_reference}"
    else:
        assert setting in stack.locals["key_vault_settings"]
        assert _dash(setting) == secret_name
        reference = f'${{local.key_vault_references["{setting}"]}}'
    for app in ("analyzer", "dashboard", "function"):
        how = _reads(stack, app, setting)
        if app not in readers:
            assert how is None, f"{app} should not read {setting}"
        elif app == "analyzer":
            assert how == "key-vault:" + setting, f"the analyzer must read {setting} from Key Vault"
        else:
            assert how == reference, f"{app} must read {setting} through its Key Vault reference, not {how!r}"


def test_the_container_app_resolves_its_settings_from_key_vault(stack: Stack) -> None:
    app = stack.resource("azurerm_container_app", "analyzer")
    secret = app["dynamic"][0]["secret"]
    assert secret["for_each"] == "${toset(local.analyzer_key_vault_settings)}"
    content = secret["content"][0]
    assert content["name"] == "${local.key_vault_secret_names[secret.value]}"
    assert content["key_vault_secret_id"] == "${azurerm_key_vault_secret.settings[secret.value].versionless_id}"
    assert content["identity"] == "${azurerm_user_assigned_identity.analyzer.id}"
    env = block(block(app, "template"), "container")["dynamic"][0]["env"]
    assert env["for_each"] == "${toset(local.analyzer_key_vault_settings)}"
    assert env["content"] == [{"name": "${env.value}", "secret_name": "${local.key_vault_secret_names[env.value]}"}]


def test_openai_key_is_absent_because_key_auth_is_off(stack: Stack) -> None:
    assert stack.resource("azurerm_cognitive_account", "openai")["local_auth_enabled"] is False
    assert "OPENAI_API_KEY" not in stack.locals["key_vault_settings"]


def test_the_function_gets_only_the_managed_identity_redis_form(stack: Stack) -> None:
    settings = stack.resource("azurerm_linux_function_app", "main")["app_settings"]
    assert "REDIS_CONNECTION_STRING" not in settings
    assert {"REDIS_CONNECTION_STRING__redisHostName", "REDIS_CONNECTION_STRING__principalId",
            "REDIS_CONNECTION_STRING__clientId"} <= set(settings)  # fmt: skip


def test_every_app_identity_may_read_the_secrets(stack: Stack) -> None:
    roles = stack.locals["role_assignments"]
    for app in ("function", "analyzer", "dashboard"):
        grant = roles[f"{app}_secrets"]
        assert grant["role"] == "Key Vault Secrets User" and grant["scope"] == "${azurerm_key_vault.main.id}"
