"""Structural checks of the Terraform in ``infrastructure/``, resource by resource.

``terraform validate`` needs the azurerm provider, which cannot be downloaded offline, so this
test parses the HCL and asserts the security and contract properties the design depends on.
"""

from __future__ import annotations

import re

import pytest
from hcl_stack import INFRA_DIR, REPO_ROOT, Stack, block, load_hcl

from analyzer.settings import Settings
from analyzer.store.containers import ALL_CONTAINERS, COMPOSITE_INDEX

CONCERN_FILES = {
    "main.tf", "variables.tf", "outputs.tf", "resource-group.tf", "networking.tf", "private-dns.tf",
    "redis.tf", "cosmos-db.tf", "storage.tf", "container-registry.tf", "functions.tf",
    "container-apps.tf", "app-service.tf", "openai.tf", "key-vault.tf", "monitoring.tf", "security.tf",
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
    assert ">= 4.50.0" in azurerm["version"] and "< 5.0.0" in azurerm["version"]
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
    assert vault["public_network_access_enabled"] == "${length(var.deployer_ip_ranges) > 0}"
    assert block(vault, "network_acls")["default_action"] == "Deny"
    registry = stack.resource("azurerm_container_registry", "main")
    assert registry["public_network_access_enabled"] == "${length(var.deployer_ip_ranges) > 0}"
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
    assert {body["name"] for body in secrets.values()} == {"analyzer-api-key", "redis-connection-string"}


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
    assert site["app_settings"]["ANALYZER_API_KEY"].startswith("@Microsoft.KeyVault(SecretUri=")


def test_function_app_runs_where_redis_triggers_run(stack: Stack) -> None:
    plan_sku = stack.variables["function_plan_sku"]
    allowed = re.findall(r'"([A-Za-z0-9]+)"', plan_sku["validation"][0]["condition"])
    assert allowed and not [sku for sku in allowed if sku.startswith(("Y", "FC", "EP"))]
    assert plan_sku["default"] in allowed
    app = stack.resource("azurerm_linux_function_app", "main")
    assert app["storage_uses_managed_identity"] is True
    assert block(app, "site_config")["ip_restriction_default_action"] == "Deny"
    settings = app["app_settings"]
    assert settings["REDIS_CONNECTION_STRING__redisHostName"] == "${local.redis_host}:${local.redis_port}"
    assert settings["REDIS_CONNECTION_STRING__clientId"] == "${azurerm_user_assigned_identity.function.client_id}"
    assert "REDIS_CONNECTION_STRING" not in settings  # managed identity form only, never both
    assert settings["STREAM_KEY"] == "${var.stream_key}"
    assert settings["FASTAPI_ENDPOINT"] == "${local.analyzer_url}"


def test_dashboard_requires_entra_sign_in(stack: Stack) -> None:
    app = stack.resource("azurerm_linux_web_app", "dashboard")
    auth = block(app, "auth_settings_v2")
    assert auth["auth_enabled"] is True
    assert auth["require_authentication"] is True
    assert auth["require_https"] is True
    assert auth["default_provider"] == "azureactivedirectory"
    assert block(auth, "active_directory_v2")["client_id"] == "${var.dashboard_auth_client_id}"
    assert "dashboard_api.main:app" in block(app, "site_config")["app_command_line"]


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
    assert env["LLM_PROVIDER"]["value"] == "azure_openai"
    assert env["COSMOS_DB_CREATE_IF_MISSING"]["value"] == "false"
    assert env["OPENAI_API_VERSION"]["value"] == Settings.model_fields["openai_api_version"].default
    assert env["ANALYZER_API_KEY"]["secret_name"] == "analyzer-api-key"
    # Entra ID, no password: the host and TLS only, and the analyzer asks for a token.
    assert env["REDIS_CONNECTION_STRING"]["value"] == "${local.redis_entra_connection_string}"
    assert env["REDIS_ENTRA_AUTH"]["value"] == "true"
    assert (
        stack.locals["redis_entra_connection_string"]
        == "${local.redis_host}:${local.redis_port},ssl=True,abortConnect=False"
    )
    assert stack.variables["redis_access_keys_enabled"]["default"] is False
    secrets = {item["name"]: item for item in app["secret"]}
    assert secrets["analyzer-api-key"]["key_vault_secret_id"].startswith("${azurerm_key_vault_secret.")


AZURE_PLATFORM_SETTINGS = {
    "AZURE_CLIENT_ID", "APPLICATIONINSIGHTS_CONNECTION_STRING", "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
}  # fmt: skip
FUNCTION_ONLY_SETTINGS = {
    "REDIS_CONNECTION_STRING__redisHostName", "REDIS_CONNECTION_STRING__clientId", "REDIS_ENTRA_OBJECT_ID",
    "SWEEP_SCHEDULE", "FORWARD_TIMEOUT_S", "FORWARD_ATTEMPTS",
}  # fmt: skip


def test_app_settings_are_names_the_analyzer_reads(stack: Stack) -> None:
    known = {name.upper() for name in Settings.model_fields}
    container = block(block(stack.resource("azurerm_container_app", "analyzer"), "template"), "container")
    names = {item["name"] for item in container["env"]}
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
    assert subnets == {"functions", "app_service", "container_apps", "private_endpoints"}
    associations = stack.of_type("azurerm_subnet_network_security_group_association")
    associated = set(associations["integration"]["for_each"]) | {"container_apps", "private_endpoints"}
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


def test_every_alert_exists_with_its_threshold(stack: Stack) -> None:
    thresholds = stack.variables["alert_thresholds"]["default"]
    assert thresholds["redis_memory_percent"] == 80
    assert thresholds["response_time_seconds"] == 30
    assert thresholds["container_app_cpu_percent"] == 80
    metric = stack.of_type("azurerm_monitor_metric_alert")
    expected = {
        "redis_memory": ("usedmemorypercentage", "${var.alert_thresholds.redis_memory_percent}"),
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
    logs = stack.locals["log_alerts"]
    assert set(logs) == {"function_failures", "pipeline_lag", "dead_letters"}
    assert logs["pipeline_lag"]["threshold"] == "${var.alert_thresholds.pipeline_lag_seconds * 1000}"
    assert "lag_ms=" in logs["pipeline_lag"]["query"]
    assert "dead-lettered" in logs["dead_letters"]["query"]
    assert stack.resource("azurerm_application_insights", "main")["workspace_id"] == (
        "${azurerm_log_analytics_workspace.main.id}"
    )


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
