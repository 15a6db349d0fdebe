"""Structural checks of the Terraform in ``infrastructure/``, resource by resource.

``terraform validate`` needs the azurerm provider, which cannot be downloaded offline, so this
test parses the HCL and asserts the security and contract properties the design depends on.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, get_args

import pytest
from hcl_stack import INFRA_DIR, REPO_ROOT, Stack, block, load_hcl

from analyzer.settings import Settings
from analyzer.store.containers import ALL_CONTAINERS, COMPOSITE_INDEX

CONCERN_FILES = {
    "main.tf", "variables.tf", "outputs.tf", "resource-group.tf", "networking.tf", "private-dns.tf",
    "redis.tf", "cosmos-db.tf", "storage.tf", "container-registry.tf", "functions.tf",
    "container-apps.tf", "app-service.tf", "openai.tf", "key-vault.tf", "monitoring.tf", "security.tf",
    "deployment-runner.tf",
}  # fmt: skip


def test_one_file_per_concern(stack: Stack) -> None:
    assert set(stack.files) == CONCERN_FILES
    # Each concern's main resource lives in its own file.
    expected = {
        ("azurerm_managed_redis", "main"): "redis.tf",
        ("azurerm_cosmosdb_account", "main"): "cosmos-db.tf",
        ("azurerm_linux_function_app", "main"): "functions.tf",
        ("azurerm_container_app", "analyzer"): "container-apps.tf",
        ("azurerm_linux_web_app", "dashboard"): "app-service.tf",
        ("azurerm_cognitive_account", "openai"): "openai.tf",
        ("azurerm_key_vault", "main"): "key-vault.tf",
        ("azurerm_application_insights", "main"): "monitoring.tf",
        ("azurerm_user_assigned_identity", "analyzer"): "security.tf",
        ("azurerm_virtual_network", "main"): "networking.tf",
    }
    for address, file_name in expected.items():
        assert stack.resource_files[address] == file_name


def test_provider_and_backend(stack: Stack) -> None:
    terraform = stack.files["main.tf"]["terraform"][0]
    azurerm = terraform["required_providers"][0]["azurerm"]
    assert azurerm["source"] == "hashicorp/azurerm"
    assert "< 5.0.0" in azurerm["version"]  # the lower bound: test_provider_versions.py
    # Backend settings come from `terraform init -backend-config`, never from the code.
    assert terraform["backend"] == [{"azurerm": {}}]
    provider = stack.files["main.tf"]["provider"][0]["azurerm"]
    assert provider["storage_use_azuread"] is True


def test_every_variable_is_typed_described_and_validated(stack: Stack) -> None:
    assert len(stack.variables) >= 30
    for name, spec in stack.variables.items():
        assert spec.get("type"), f"variable {name} has no type"
        assert len(spec.get("description", "")) > 20, f"variable {name} has no real description"
        if spec["type"] != "bool":
            assert spec.get("validation"), f"variable {name} has no validation"
    environment = stack.variables["environment"]
    assert "default" not in environment
    condition = environment["validation"][0]["condition"]
    for env in ("dev", "staging", "prod"):
        assert f'"{env}"' in condition


def test_cosmos_containers_equal_the_code(stack: Stack) -> None:
    declared = stack.locals["cosmos_containers"]
    assert set(declared) == {spec.name for spec in ALL_CONTAINERS}
    for spec in ALL_CONTAINERS:
        assert declared[spec.name]["partition_key"] == spec.partition_key, spec.name
        assert declared[spec.name]["default_ttl"] == spec.default_ttl_s, spec.name
    container = stack.resource("azurerm_cosmosdb_sql_container", "main")
    assert container["for_each"] == "${local.cosmos_containers}"
    assert container["partition_key_paths"] == ["${each.value.partition_key}"]
    assert container["default_ttl"] == "${each.value.default_ttl}"
    composite = block(block(container, "indexing_policy"), "composite_index")
    declared_index = tuple((i["path"], i["order"].lower()) for i in composite["index"])
    assert declared_index == COMPOSITE_INDEX
    assert (
        stack.variables["cosmos_database_name"]["default"] == Settings.model_fields["cosmos_db_database_name"].default
    )


def test_cosmos_account_is_serverless_private_and_keyless(stack: Stack) -> None:
    account = stack.resource("azurerm_cosmosdb_account", "main")
    assert account["public_network_access_enabled"] is False
    assert account["local_authentication_enabled"] is False
    assert account["access_key_metadata_writes_enabled"] is False
    assert account["minimal_tls_version"] == "Tls12"
    assert block(account, "capabilities")["name"] == "EnableServerless"
    assert block(account, "backup")["type"] == "Continuous"
    role = stack.resource("azurerm_cosmosdb_sql_role_assignment", "clients")
    assert role["for_each"] == "${local.cosmos_clients}"
    assert stack.locals["cosmos_data_contributor_role"] == "00000000-0000-0000-0000-000000000002"
    assert set(stack.locals["cosmos_clients"]) == {"analyzer", "dashboard"}


PRIVATE_SERVICES = {
    # private endpoint resource name -> (target reference, sub-resource(s), DNS zone key)
    "cosmos": ("azurerm_cosmosdb_account.main.id", ["Sql"], "cosmos"),
    "redis": ("local.redis_id", None, "redis"),
    "key_vault": ("azurerm_key_vault.main.id", ["vault"], "key_vault"),
    "openai": ("azurerm_cognitive_account.openai.id", ["account"], "openai"),
    "registry": ("azurerm_container_registry.main.id", ["registry"], "registry"),
}


@pytest.mark.parametrize("endpoint", sorted(PRIVATE_SERVICES))
def test_every_data_service_has_a_private_endpoint(stack: Stack, endpoint: str) -> None:
    target, subresources, zone_key = PRIVATE_SERVICES[endpoint]
    pe = stack.resource("azurerm_private_endpoint", endpoint)
    assert pe["subnet_id"] == "${azurerm_subnet.private_endpoints.id}"
    connection = block(pe, "private_service_connection")
    assert connection["private_connection_resource_id"] == "${" + target + "}"
    assert connection["is_manual_connection"] is False
    if subresources is not None:
        assert connection["subresource_names"] == subresources
    zone_group = block(pe, "private_dns_zone_group")
    assert zone_group["private_dns_zone_ids"] == [f'${{azurerm_private_dns_zone.main["{zone_key}"].id}}']


def test_redis_private_endpoint_matches_the_flavour(stack: Stack) -> None:
    connection = block(stack.resource("azurerm_private_endpoint", "redis"), "private_service_connection")
    assert connection["subresource_names"] == ['${local.use_managed_redis ? "redisEnterprise" : "redisCache"}']
    zone = stack.locals["redis_private_dns_zone"]
    assert '"privatelink.redis.azure.net"' in zone and '"privatelink.redis.cache.windows.net"' in zone


def test_storage_has_private_endpoints_for_every_host_service(stack: Stack) -> None:
    pe = stack.resource("azurerm_private_endpoint", "storage")
    assert pe["for_each"] == "${local.storage_endpoints}"
    assert set(stack.locals["storage_endpoints"]) == {"blob", "queue", "table"}
    assert block(pe, "private_service_connection")["subresource_names"] == ["${each.key}"]


def test_private_dns_zones_are_the_documented_names(stack: Stack) -> None:
    zones = stack.locals["private_dns_zones"]
    assert zones["cosmos"] == "privatelink.documents.azure.com"
    assert zones["key_vault"] == "privatelink.vaultcore.azure.net"
    assert zones["openai"] == "privatelink.openai.azure.com"
    assert zones["registry"] == "privatelink.azurecr.io"
    link = stack.resource("azurerm_private_dns_zone_virtual_network_link", "main")
    assert link["for_each"] == "${local.private_dns_zones}"
    assert link["virtual_network_id"] == "${azurerm_virtual_network.main.id}"


def test_public_access_is_off(stack: Stack) -> None:
    assert stack.resource("azurerm_managed_redis", "main")["public_network_access"] == "Disabled"
    assert stack.resource("azurerm_redis_cache", "main")["public_network_access_enabled"] is False
    assert stack.resource("azurerm_cosmosdb_account", "main")["public_network_access_enabled"] is False
    assert stack.resource("azurerm_cognitive_account", "openai")["public_network_access_enabled"] is False
    storage = stack.resource("azurerm_storage_account", "functions")
    assert storage["public_network_access_enabled"] is False
    assert storage["shared_access_key_enabled"] is False
    # Key Vault and registry: only the deployer's ranges, behind a default-deny firewall.
    vault = stack.resource("azurerm_key_vault", "main")
    assert vault["public_network_access_enabled"] == "${local.deployer_public_access}"
    assert block(vault, "network_acls")["default_action"] == "Deny"
    registry = stack.resource("azurerm_container_registry", "main")
    assert registry["public_network_access_enabled"] == "${local.deployer_public_access}"
    assert registry["admin_enabled"] is False
    assert block(registry, "network_rule_set")["default_action"] == "Deny"
    assert stack.resource("azurerm_container_app_environment", "main")["internal_load_balancer_enabled"] is True


def test_redis_is_tls_only_with_entra_access(stack: Stack) -> None:
    managed = stack.resource("azurerm_managed_redis", "main")
    database = block(managed, "default_database")
    assert database["client_protocol"] == "Encrypted"
    assert database["eviction_policy"] == "NoEviction"
    assert database["clustering_policy"] == "${var.managed_redis_clustering_policy}"
    cache = stack.resource("azurerm_redis_cache", "main")
    assert cache["sku_name"] == "Premium"
    assert cache["non_ssl_port_enabled"] is False
    assert cache["minimum_tls_version"] == "1.2"
    assert block(cache, "redis_configuration")["active_directory_authentication_enabled"] is True
    assert set(stack.locals["redis_clients"]) == {"function", "analyzer", "dashboard"}
    assert stack.resource("azurerm_managed_redis_access_policy_assignment", "clients")["object_id"] == ("${each.value}")
    assert stack.resource("azurerm_redis_cache_access_policy_assignment", "clients")["access_policy_name"] == (
        "Data Contributor"
    )
    assert stack.locals["redis_port"] == "${local.use_managed_redis ? 10000 : 6380}"


def test_key_vault_is_rbac_with_purge_protection(stack: Stack) -> None:
    vault = stack.resource("azurerm_key_vault", "main")
    assert vault["rbac_authorization_enabled"] is True
    assert vault["purge_protection_enabled"] is True
    assert vault["soft_delete_retention_days"] == 90
    secrets = stack.of_type("azurerm_key_vault_secret")
    assert set(secrets) == {"analyzer_api_key", "settings", "fastapi_endpoint", "redis_access_key_connection_string"}
    assert secrets["settings"]["for_each"] == "${local.key_vault_secret_names}"
    assert secrets["settings"]["name"] == "${each.value}"
    assert secrets["settings"]["value"] == "${local.key_vault_settings[each.key]}"
    # The key-based Redis connection string only while access keys are on; no app reads it.
    assert secrets["redis_access_key_connection_string"]["count"] == "${var.redis_access_keys_enabled ? 1 : 0}"


@pytest.mark.parametrize(
    ("rtype", "name", "identity"),
    [
        ("azurerm_linux_function_app", "main", "function"),
        ("azurerm_linux_web_app", "dashboard", "dashboard"),
    ],
)
def test_app_service_sites_are_hardened(stack: Stack, rtype: str, name: str, identity: str) -> None:
    site = stack.resource(rtype, name)
    assert site["https_only"] is True
    assert site["ftp_publish_basic_authentication_enabled"] is False
    assert site["webdeploy_publish_basic_authentication_enabled"] is False
    assert site["virtual_network_subnet_id"].startswith("${azurerm_subnet.")
    assert site["key_vault_reference_identity_id"] == f"${{azurerm_user_assigned_identity.{identity}.id}}"
    assert block(site, "identity") == {
        "type": "UserAssigned",
        "identity_ids": [f"${{azurerm_user_assigned_identity.{identity}.id}}"],
    }
    config = block(site, "site_config")
    assert config["minimum_tls_version"] == "1.2"
    assert config["scm_minimum_tls_version"] == "1.2"
    assert config["ftps_state"] == "Disabled"
    assert config["vnet_route_all_enabled"] is True
    assert config["always_on"] is True
    assert config["scm_ip_restriction_default_action"] == "Deny"
    assert block(config, "application_stack")["python_version"] == "3.11"
    assert site["app_settings"]["ANALYZER_API_KEY"] == "${local.analyzer_api_key_reference}"
    assert stack.locals["analyzer_api_key_reference"].startswith("@Microsoft.KeyVault(SecretUri=")


def test_function_app_runs_where_redis_triggers_run(stack: Stack) -> None:
    plan_sku = stack.variables["function_plan_sku"]
    allowed = re.findall(r'"([A-Za-z0-9]+)"', plan_sku["validation"][0]["condition"])
    assert allowed and not [sku for sku in allowed if sku.startswith(("Y", "FC", "EP"))]
    assert plan_sku["default"] in allowed
    app = stack.resource("azurerm_linux_function_app", "main")
    assert app["storage_uses_managed_identity"] is True
    assert block(app, "site_config")["ip_restriction_default_action"] == "Deny"
    settings = app["app_settings"]
    assert settings["STREAM_KEY"] == "${var.stream_key}"
    assert settings["FASTAPI_ENDPOINT"] == "${local.fastapi_endpoint_reference}"


def test_trigger_connection_is_the_complete_user_assigned_identity_form(stack: Stack) -> None:
    """Defect 1: the Redis extension (RedisUtilities.ResolveConfigurationOptionsAsync) throws
    ArgumentNullException("<connection>__principalId") when __principalId is empty, so the listener
    never starts; it throws too when both the connection string and __redisHostName are set. A
    user-assigned identity is picked by __clientId; __principalId is its OBJECT id (the Redis user)."""
    app = stack.resource("azurerm_linux_function_app", "main")
    identity = block(app, "identity")
    assert identity["type"] == "UserAssigned"
    assert identity["identity_ids"] == ["${azurerm_user_assigned_identity.function.id}"]
    settings = app["app_settings"]
    connection = "REDIS_CONNECTION_STRING"  # function.json "connection"
    assert settings[f"{connection}__redisHostName"] == "${local.redis_host}:${local.redis_port}"
    assert settings[f"{connection}__principalId"] == "${azurerm_user_assigned_identity.function.principal_id}"
    assert settings[f"{connection}__clientId"] == "${azurerm_user_assigned_identity.function.client_id}"
    assert settings[f"{connection}__credential"] == "managedidentity"
    assert connection not in settings  # one form only, never both
    # The same identity has Redis data access (its object id in an access policy assignment).
    assert stack.locals["redis_clients"]["function"] == "${azurerm_user_assigned_identity.function.principal_id}"


def test_no_setting_a_remote_build_deploy_removes(stack: Stack) -> None:
    """`config-zip --build-remote true` deletes ENABLE_ORYX_BUILD: Terraform must not own it."""
    for rtype, name in (("azurerm_linux_function_app", "main"), ("azurerm_linux_web_app", "dashboard")):
        settings = stack.resource(rtype, name)["app_settings"]
        assert "ENABLE_ORYX_BUILD" not in settings, rtype
        assert settings["SCM_DO_BUILD_DURING_DEPLOYMENT"] == "true", rtype


def test_dashboard_requires_entra_sign_in(stack: Stack) -> None:
    app = stack.resource("azurerm_linux_web_app", "dashboard")
    auth = block(app, "auth_settings_v2")
    assert auth["auth_enabled"] is True
    assert auth["require_authentication"] is True
    assert auth["require_https"] is True
    assert auth["default_provider"] == "azureactivedirectory"
    assert block(auth, "active_directory_v2")["client_id"] == "${var.dashboard_auth_client_id}"
    assert auth["excluded_paths"] == ["${local.dashboard_health_path}"]


def test_dashboard_health_check_is_the_liveness_route_and_starts_the_real_app(stack: Stack) -> None:
    """Defect 7: the health check path is dashboard_api's liveness route, the startup command
    serves dashboard_api.main:app on the port App Service forwards to."""
    config = block(stack.resource("azurerm_linux_web_app", "dashboard"), "site_config")
    assert config["health_check_path"] == "${local.dashboard_health_path}"
    assert stack.locals["dashboard_health_path"] == "/healthz"
    assert config["app_command_line"] == "${local.dashboard_startup_command}"
    command = stack.locals["dashboard_startup_command"].split()
    assert command[:3] == ["python", "-m", "uvicorn"] and "dashboard_api.main:app" in command
    assert command[command.index("--host") + 1] == "0.0.0.0" and command[command.index("--port") + 1] == "8000"
    assert "--proxy-headers" in command


def test_dashboard_settings_let_the_app_start_outside_development(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dashboard_api refuses to start in staging/prod without an identity provider; the App Service
    must hand it the tenant and the audiences of the app registration Easy Auth signs in with."""
    from dashboard_api.settings import DashboardSettings

    settings = stack.resource("azurerm_linux_web_app", "dashboard")["app_settings"]
    assert settings["DASHBOARD_ENTRA_TENANT_ID"] == "${data.azurerm_client_config.current.tenant_id}"
    audiences = settings["DASHBOARD_ENTRA_AUDIENCES"]
    assert audiences.startswith("${jsonencode(") and "api://${var.dashboard_auth_client_id}" in audiences
    client_id = "00000000-0000-0000-0000-00000000beef"
    rendered = json.dumps([f"api://{client_id}", client_id])  # what jsonencode yields at apply time
    monkeypatch.setenv("ENVIRONMENT", "prod")
    monkeypatch.setenv("DASHBOARD_ENTRA_TENANT_ID", "11111111-2222-3333-4444-555555555555")
    monkeypatch.setenv("DASHBOARD_ENTRA_AUDIENCES", rendered)
    started = DashboardSettings(_env_file=None)  # type: ignore[call-arg]
    assert started.entra_enabled and started.entra_audiences == [f"api://{client_id}", client_id]
    monkeypatch.delenv("DASHBOARD_ENTRA_TENANT_ID")
    with pytest.raises(ValueError, match="needs DASHBOARD_ENTRA_TENANT_ID"):
        DashboardSettings(_env_file=None)  # type: ignore[call-arg]


def test_analyzer_container_app(stack: Stack) -> None:
    app = stack.resource("azurerm_container_app", "analyzer")
    assert block(app, "identity")["type"] == "UserAssigned"
    assert block(app, "registry")["identity"] == "${azurerm_user_assigned_identity.analyzer.id}"
    ingress = block(app, "ingress")
    assert ingress["allow_insecure_connections"] is False
    template = block(app, "template")
    container = block(template, "container")
    for probe in ("liveness_probe", "readiness_probe", "startup_probe"):
        assert block(container, probe)["path"] == "${var.analyzer_health_path}", probe
    assert block(template, "http_scale_rule")["concurrent_requests"] == "${tostring(var.analyzer_concurrent_requests)}"
    env = {item["name"]: item for item in container["env"]}
    assert env["STORE_BACKEND"]["value"] == "cosmos"
    assert env["LLM_PROVIDER"]["value"] in get_args(Settings.model_fields["llm_provider"].annotation)
    assert env["LLM_PROVIDER"]["value"] == "azure-openai"
    assert env["COSMOS_DB_CREATE_IF_MISSING"]["value"] == "false"
    assert env["OPENAI_API_VERSION"]["value"] == Settings.model_fields["openai_api_version"].default
    assert env["ANALYZER_API_KEY"]["secret_name"] == "analyzer-api-key"
    # Entra ID, no password: the host and TLS only (from Key Vault), and the analyzer asks for a token.
    assert "REDIS_CONNECTION_STRING" in stack.locals["analyzer_key_vault_settings"]
    assert stack.locals["key_vault_settings"]["REDIS_CONNECTION_STRING"] == "${local.redis_entra_connection_string}"
    assert env["REDIS_ENTRA_AUTH"]["value"] == "true"
    assert (
        stack.locals["redis_entra_connection_string"]
        == "${local.redis_host}:${local.redis_port},ssl=True,abortConnect=False"
    )
    assert stack.variables["redis_access_keys_enabled"]["default"] is False
    secrets = {item["name"]: item for item in app["secret"]}
    assert secrets["analyzer-api-key"]["key_vault_secret_id"].startswith("${azurerm_key_vault_secret.")


def test_tier3_runs_in_the_analyzer_with_openai_by_identity(stack: Stack) -> None:
    """Tier 3's explanation consumer runs in every analyzer replica; never 0 replicas; OpenAI by
    Entra ID (no key), endpoint and deployment from Key Vault."""
    app = stack.resource("azurerm_container_app", "analyzer")
    template = block(app, "template")
    env = {item["name"]: item for item in block(template, "container")["env"]}
    assert env["EXPLAIN_CONSUMER_ENABLED"]["value"] == "true"
    assert template["min_replicas"] == "${var.analyzer_min_replicas}"
    condition = stack.variables["analyzer_min_replicas"]["validation"][0]["condition"]
    assert "var.analyzer_min_replicas >= 1" in condition
    assert {"OPENAI_ENDPOINT", "OPENAI_DEPLOYMENT_NAME"} <= set(stack.locals["analyzer_key_vault_settings"])
    assert "OPENAI_API_KEY" not in env and "OPENAI_API_KEY" not in stack.locals["key_vault_settings"]
    assert stack.resource("azurerm_cognitive_account", "openai")["local_auth_enabled"] is False
    roles = stack.locals["role_assignments"]["analyzer_openai"]
    assert roles["role"] == "Cognitive Services OpenAI User"
    assert roles["principal"] == "${azurerm_user_assigned_identity.analyzer.principal_id}"
    assert 'azurerm_role_assignment.main["analyzer_openai"]' in " ".join(app["depends_on"])
    assert "alarm-events" in stack.outputs["tier3_explanations"]["value"]


AZURE_PLATFORM_SETTINGS = {
    "AZURE_CLIENT_ID", "SCM_DO_BUILD_DURING_DEPLOYMENT", "OTEL_SERVICE_NAME",
    "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
}  # fmt: skip
FUNCTION_ONLY_SETTINGS = {
    "REDIS_CONNECTION_STRING__redisHostName", "REDIS_CONNECTION_STRING__principalId",
    "REDIS_CONNECTION_STRING__clientId", "REDIS_CONNECTION_STRING__credential",
    "SWEEP_SCHEDULE", "FORWARD_TIMEOUT_S", "FORWARD_ATTEMPTS",
}  # fmt: skip


def test_app_settings_are_names_the_analyzer_reads(stack: Stack) -> None:
    from analyzer.telemetry import TelemetrySettings
    from dashboard_api.settings import DashboardSettings

    known = {name.upper() for name in Settings.model_fields} | {name.upper() for name in TelemetrySettings.model_fields}
    known |= {f"DASHBOARD_{name.upper()}" for name in DashboardSettings.model_fields}
    container = block(block(stack.resource("azurerm_container_app", "analyzer"), "template"), "container")
    names = {item["name"] for item in container["env"]} | set(stack.locals["analyzer_key_vault_settings"])
    names |= set(stack.resource("azurerm_linux_web_app", "dashboard")["app_settings"])
    names |= set(stack.resource("azurerm_linux_function_app", "main")["app_settings"])
    unknown = names - known - AZURE_PLATFORM_SETTINGS - FUNCTION_ONLY_SETTINGS
    assert not unknown, f"settings no code reads: {sorted(unknown)}"


def test_role_assignments_give_each_identity_what_it_uses(stack: Stack) -> None:
    roles = stack.locals["role_assignments"]
    granted = {
        (item["role"], item["principal"].split(".")[1]) for item in roles.values() if "identity" in item["principal"]
    }
    assert ("Key Vault Secrets User", "function") in granted
    assert ("Key Vault Secrets User", "analyzer") in granted
    assert ("Key Vault Secrets User", "dashboard") in granted
    assert ("AcrPull", "analyzer") in granted
    assert ("Cognitive Services OpenAI User", "analyzer") in granted
    assert ("Storage Blob Data Owner", "function") in granted
    # Nobody gets a control-plane role such as Owner or Contributor.
    assert not {role for role, _ in granted} & {"Owner", "Contributor", "User Access Administrator"}


def test_production_data_is_locked(stack: Stack) -> None:
    for name in ("cosmos", "redis", "key_vault"):
        lock = stack.resource("azurerm_management_lock", name)
        assert lock["count"] == "${local.is_prod ? 1 : 0}"
        assert lock["lock_level"] == "CanNotDelete"
    assert stack.locals["is_prod"] == '${var.environment == "prod"}'


def test_every_subnet_has_a_least_privilege_nsg(stack: Stack) -> None:
    subnets = set(stack.of_type("azurerm_subnet"))
    assert subnets == {"functions", "app_service", "container_apps", "private_endpoints", "deployment_runner"}
    associations = stack.of_type("azurerm_subnet_network_security_group_association")
    assert associations["integration"]["for_each"] == "${local.outbound_only_subnets}"
    outbound_only = stack.locals["outbound_only_subnets"]
    assert "functions" in outbound_only and "app_service" in outbound_only and "deployment_runner" in outbound_only
    associated = {"functions", "app_service", "deployment_runner", "container_apps", "private_endpoints"}
    assert associated == subnets
    for name, nsg in stack.of_type("azurerm_network_security_group").items():
        rules = nsg["security_rule"]
        last = max(rules, key=lambda rule: rule["priority"])
        assert (last["access"], last["direction"], last["source_address_prefix"]) == ("Deny", "Inbound", "*"), name
        for rule in rules:
            if rule["access"] == "Allow":
                assert rule.get("source_address_prefix") != "*" and rule.get("source_address_prefix") != "Internet"
    pe_rules = stack.resource("azurerm_network_security_group", "private_endpoints")["security_rule"]
    allow = next(rule for rule in pe_rules if rule["access"] == "Allow")
    assert allow["destination_port_ranges"] == ["443", "${tostring(local.redis_port)}"]


# --- Defect 2: the container apps subnet admits what an internal workload-profiles environment needs


SUBNETS = {"functions": "10.40.1.0/26", "app_service": "10.40.1.64/26", "container_apps": "10.40.2.0/23",
           "private_endpoints": "10.40.4.0/24"}  # fmt: skip
SERVICE_TAGS = {"VirtualNetwork": "10.40.0.0/16", "AzureLoadBalancer": "168.63.129.16/32", "Internet": "0.0.0.0/0"}


def _resolve(value: str) -> list[str]:
    """An NSG prefix expression of this stack as concrete CIDRs (the default subnet plan)."""
    if value == "*":
        return ["0.0.0.0/0"]
    if value in SERVICE_TAGS:
        return [SERVICE_TAGS[value]]
    match = re.fullmatch(r"\$\{var\.subnet_cidrs\.(\w+)\}", value)
    assert match, f"unexpected prefix expression {value!r}"
    return [SUBNETS[match.group(1)]]


def _prefixes(rule: dict[str, Any], stack: Stack, side: str) -> list[str]:
    if f"{side}_address_prefixes" in rule:
        value = rule[f"{side}_address_prefixes"]
        if isinstance(value, str):  # a local
            value = stack.locals[value.removeprefix("${local.").removesuffix("}")]
        return [cidr for item in value for cidr in _resolve(item)]
    return _resolve(rule[f"{side}_address_prefix"])


def _ports(rule: dict[str, Any]) -> list[tuple[int, int]]:
    values = rule.get("destination_port_ranges") or [rule["destination_port_range"]]
    spans = []
    for value in values:
        if value == "*":
            spans.append((0, 65535))
        else:
            low, _, high = str(value).partition("-")
            spans.append((int(low), int(high or low)))
    return spans


def nsg_allows(stack: Stack, nsg: str, source: str, destination: str, port: int, protocol: str = "Tcp") -> bool:
    """Evaluate an inbound flow against the NSG's rules in priority order, as Azure does."""
    rules = sorted(stack.resource("azurerm_network_security_group", nsg)["security_rule"], key=lambda r: r["priority"])
    for rule in rules:
        if rule["direction"] != "Inbound" or rule["protocol"] not in ("*", protocol):
            continue
        src = any(ipaddress.ip_address(source) in ipaddress.ip_network(c) for c in _prefixes(rule, stack, "source"))
        dst = any(
            ipaddress.ip_address(destination) in ipaddress.ip_network(c) for c in _prefixes(rule, stack, "destination")
        )
        if src and dst and any(low <= port <= high for low, high in _ports(rule)):
            return rule["access"] == "Allow"
    return False  # nothing matched: the platform's defaults are shadowed by our deny-all anyway


def test_container_apps_nsg_admits_the_edge_proxy_behind_the_internal_load_balancer(stack: Stack) -> None:
    """Defect 2: calls reach the edge proxy on 31080/31443 behind the internal load balancer."""
    function, dashboard, app = "10.40.1.10", "10.40.1.70", "10.40.2.20"
    for port in (80, 443, 31080, 31443):
        assert nsg_allows(stack, "container_apps", function, app, port), port
        assert nsg_allows(stack, "container_apps", dashboard, app, port), port
    assert nsg_allows(stack, "container_apps", "168.63.129.16", app, 30500)  # load balancer probes
    assert nsg_allows(stack, "container_apps", "10.40.3.7", app, 8000)  # inside the environment
    # Nothing more: not the private-endpoint subnet, not the internet, not other ports from clients.
    assert not nsg_allows(stack, "container_apps", "10.40.4.9", app, 31443)
    assert not nsg_allows(stack, "container_apps", "203.0.113.7", app, 443)
    assert not nsg_allows(stack, "container_apps", function, app, 22)
    assert not nsg_allows(stack, "container_apps", "168.63.129.16", app, 443)


def test_every_alert_exists_with_its_threshold(stack: Stack) -> None:
    thresholds = stack.variables["alert_thresholds"]["default"]
    assert thresholds["redis_memory_percent"] == 80
    assert thresholds["response_time_seconds"] == 30
    assert thresholds["container_app_cpu_percent"] == 80
    assert thresholds["pipeline_lag_seconds"] == 60
    metric = stack.of_type("azurerm_monitor_metric_alert")
    expected = {
        "redis_memory": ("usedmemorypercentage", "${var.alert_thresholds.redis_memory_percent}"),
        "cosmos_normalized_ru": ("NormalizedRUConsumption", "${var.alert_thresholds.cosmos_normalized_ru_percent}"),
        "cosmos_request_units": ("TotalRequestUnits", "${var.alert_thresholds.cosmos_request_units_per_5m}"),
        "response_time": ("requests/duration", "${var.alert_thresholds.response_time_seconds * 1000}"),
        "container_app_cpu": ("UsageNanoCores", None),
    }
    assert set(metric) == set(expected)
    for name, (metric_name, threshold) in expected.items():
        criteria = block(metric[name], "criteria")
        assert criteria["metric_name"] == metric_name, name
        assert criteria["operator"] == "GreaterThan", name
        if threshold is not None:
            assert criteria["threshold"] == threshold, name
        assert block(metric[name], "action")["action_group_id"] == "${azurerm_monitor_action_group.operations.id}"
    cpu = block(metric["container_app_cpu"], "criteria")["threshold"]
    assert "var.alert_thresholds.container_app_cpu_percent" in cpu and "var.analyzer_cpu" in cpu
    # Response time: the APIs' requests only (analyzer and dashboard API role names).
    dimension = block(block(metric["response_time"], "criteria"), "dimension")
    assert dimension == {"name": "cloud/roleName", "operator": "Include", "values": "${local.api_role_names}"}
    assert stack.locals["api_role_names"] == ["${local.analyzer_service_name}", "dashboard-api"]
    logs = stack.locals["log_alerts"]
    assert set(logs) == {"function_failures", "api_server_errors", "analysis_lag", "dead_letters"}
    assert logs["analysis_lag"]["threshold"] == "${var.alert_thresholds.pipeline_lag_seconds}"
    assert logs["analysis_lag"]["aggregation"] == "Maximum" and logs["analysis_lag"]["measure"] == "lag_s"
    assert "customMetrics" in logs["analysis_lag"]["query"]
    assert '"${local.pipeline_lag_metric}"' in logs["analysis_lag"]["query"]
    assert '"${local.trigger_consumer_group}"' in logs["analysis_lag"]["query"]
    assert "dead-lettered" in logs["dead_letters"]["query"]
    assert '"${local.dead_lettered_metric}"' in logs["dead_letters"]["query"]
    assert stack.resource("azurerm_application_insights", "main")["workspace_id"] == (
        "${azurerm_log_analytics_workspace.main.id}"
    )


def test_alerts_read_what_the_code_exports(stack: Stack) -> None:
    """The alert queries name the metrics analyzer/telemetry.py exports, the role name the analyzer
    reports and the consumer group the trigger uses (its function's folder name)."""
    from analyzer import telemetry

    assert stack.locals["pipeline_lag_metric"] == telemetry.PIPELINE_LAG_METRIC
    assert stack.locals["dead_lettered_metric"] == telemetry.DEAD_LETTERED_METRIC
    assert stack.locals["analyzer_service_name"] == telemetry.ANALYZER_SERVICE_NAME
    assert (INFRA_DIR.parent / "functions" / stack.locals["trigger_consumer_group"] / "function.json").is_file()
    container = block(block(stack.resource("azurerm_container_app", "analyzer"), "template"), "container")
    env = {item["name"]: item for item in container["env"]}
    assert env["PIPELINE_LAG_GROUP"]["value"] == "${local.trigger_consumer_group}"
    assert env["OTEL_SERVICE_NAME"]["value"] == "${local.analyzer_service_name}"


def test_tags_come_from_the_one_locals_block(stack: Stack) -> None:
    tagged = {address: body for address, body in stack.resources.items() if "tags" in body}
    assert len(tagged) > 20
    for address, body in tagged.items():
        assert body["tags"] == "${local.tags}", address
    text = "\n".join(path.read_text() for path in INFRA_DIR.glob("*.tf"))
    assert "ignore_changes" not in text


def test_sensitive_outputs_are_marked(stack: Stack) -> None:
    for name in ("analyzer_api_key", "application_insights_connection_string"):
        assert stack.outputs[name]["sensitive"] is True
    for name, spec in stack.outputs.items():
        assert spec.get("description"), name
    descriptions = [spec["description"] for spec in stack.outputs.values()]
    assert len(descriptions) == len(set(descriptions)), "copy-pasted output descriptions"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_environment_tfvars(stack: Stack, env: str) -> None:
    values = load_hcl(INFRA_DIR / "environments" / f"{env}.tfvars")
    assert values["environment"] == env
    assert set(values) <= set(stack.variables), set(values) - set(stack.variables)


def test_tfvars_example_documents_every_variable(stack: Stack) -> None:
    example = (REPO_ROOT / "terraform.tfvars.example").read_text()
    documented = set(re.findall(r"^#?\s*([a-z_]+)\s+=", example, flags=re.MULTILINE))
    missing = set(stack.variables) - documented - {"environment"}
    assert not missing, f"terraform.tfvars.example lacks {sorted(missing)}"


def test_prod_keeps_a_longer_restore_window() -> None:
    prod = load_hcl(INFRA_DIR / "environments" / "prod.tfvars")
    assert prod["cosmos_backup_tier"] == "Continuous30Days"
    assert prod["redis_persistence_rdb_frequency"] == "1h"


def test_readme_says_why_terraform_validate_does_not_run() -> None:
    readme = (INFRA_DIR / "README.md").read_text()
    assert "terraform validate" in readme and "checkov" in readme


def test_destroy_leaves_nothing_behind_that_blocks_a_redeploy(stack: Stack) -> None:
    """Defects 5 and 6: the generated smart detection rule (outside state) is disabled and deleted by
    the provider, and a destroyed OpenAI account is purged, so the name can be reused at once."""
    features = stack.files["main.tf"]["provider"][0]["azurerm"]["features"][0]
    assert features["application_insights"] == [{"disable_generated_rule": True}]
    assert features["cognitive_account"] == [{"purge_soft_delete_on_destroy": True}]
    # Still on: a resource group holding anything Terraform does not know is never deleted silently.
    assert features["resource_group"] == [{"prevent_deletion_if_contains_resources": True}]


def test_deployer_access_is_the_permanent_ranges_plus_the_deploy_session(stack: Stack) -> None:
    """Defect 3: Key Vault, registry and Kudu admit the address deploy.sh opens for one deploy."""
    assert stack.locals["deployer_access_ranges"] == (
        "${distinct(concat(var.deployer_ip_ranges, var.deploy_session_ip_ranges))}"
    )
    assert stack.locals["deployer_public_access"] == "${length(local.deployer_access_ranges) > 0}"
    assert stack.variables["deploy_session_ip_ranges"]["default"] == []
    vault = stack.resource("azurerm_key_vault", "main")
    assert vault["public_network_access_enabled"] == "${local.deployer_public_access}"
    assert block(vault, "network_acls")["ip_rules"] == "${local.deployer_access_ranges}"
    registry = stack.resource("azurerm_container_registry", "main")
    assert registry["public_network_access_enabled"] == "${local.deployer_public_access}"
    ip_rule = block(registry, "network_rule_set")["dynamic"][0]["ip_rule"]
    assert ip_rule["for_each"] == "${local.deployer_access_ranges}"
    function = stack.resource("azurerm_linux_function_app", "main")
    assert function["public_network_access_enabled"] == "${local.deployer_public_access}"
    for rtype, name in (("azurerm_linux_function_app", "main"), ("azurerm_linux_web_app", "dashboard")):
        config = block(stack.resource(rtype, name), "site_config")
        rules = [item["scm_ip_restriction"] for item in config["dynamic"] if "scm_ip_restriction" in item]
        by_source = {rule["for_each"]: rule["content"][0] for rule in rules}
        assert set(by_source) == {"${var.deployer_ip_ranges}", "${var.deploy_session_ip_ranges}"}, rtype
        # deploy.sh adds and removes the session rule with az under exactly this name.
        assert by_source["${var.deploy_session_ip_ranges}"]["name"] == "deploy-session-${scm_ip_restriction.key}"
        assert config["scm_ip_restriction_default_action"] == "Deny"
    assert block(function, "site_config")["ip_restriction_default_action"] == "Deny"


def test_optional_runner_inside_the_vnet_reaches_kudu_privately(stack: Stack) -> None:
    """Defect 3, the other way: a runner subnet and private endpoints for both Kudu sites."""
    assert stack.variables["deployment_runner_subnet_cidr"]["default"] is None
    assert stack.locals["runner_enabled"] == "${var.deployment_runner_subnet_cidr != null}"
    runner = stack.resource("azurerm_subnet", "deployment_runner")
    assert runner["count"] == "${local.runner_enabled ? 1 : 0}"
    sites = stack.resource("azurerm_private_endpoint", "sites")
    assert sites["for_each"] == "${local.runner_sites}"
    assert block(sites, "private_service_connection")["subresource_names"] == ["sites"]
    assert stack.resource("azurerm_private_dns_zone", "sites")["name"] == "privatelink.azurewebsites.net"
    runner_sites = stack.locals["runner_sites"]
    assert "azurerm_linux_function_app.main.id" in runner_sites and "azurerm_linux_web_app.dashboard.id" in runner_sites
    pe_allow = stack.resource("azurerm_network_security_group", "private_endpoints")["security_rule"][0]
    assert "var.deployment_runner_subnet_cidr" in pe_allow["source_address_prefixes"]


def test_function_instances_are_set_per_environment(stack: Stack) -> None:
    """The single-instance trade-off is stated; prod runs two trigger consumers."""
    plan = stack.resource("azurerm_service_plan", "functions")
    assert plan["worker_count"] == "${var.function_worker_count}"
    assert load_hcl(INFRA_DIR / "environments" / "prod.tfvars")["function_worker_count"] == 2
    text = (INFRA_DIR / "functions.tf").read_text()
    assert "the sweep covers an instance failure" not in text  # the old, wrong reason
    assert "stops the trigger AND the sweep" in text
