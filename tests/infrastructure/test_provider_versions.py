"""The azurerm lower bound in main.tf is the real minimum: every resource and argument the code uses
is listed with the first provider release that has it, and the bound is the highest of them.

Where the table comes from: hashicorp/terraform-provider-azurerm at every v4.x tag. For each resource
type and argument used here, the first tag whose documentation (website/docs/r/<type>.html.markdown,
or docs/guides/features-block for the provider's features block) names it, found by a binary search
over the tags; then checked against the schema source (internal/services/...) and CHANGELOG-v4.md for
every entry later than 4.0.0. The two places the docs and the schema disagree are noted inline.
Terraform is offline here, so this is how `terraform init` with the pinned bound is guarded: a new
argument without a row fails this test, and so does a bound lower than the newest row.
"""

from __future__ import annotations

import re
from typing import Any

from hcl_stack import Stack

META = {"count", "for_each", "depends_on", "lifecycle", "provider"}

# Resource type -> arguments (nested block arguments as "block.argument") present since 4.0.0.
# "provider" is the provider block (its `features`).
SINCE_4_0_0: dict[str, set[str]] = {
    "azurerm_application_insights": {
        "application_type", "location", "name", "resource_group_name", "tags", "workspace_id",
    },
    "azurerm_cognitive_account": {
        "custom_subdomain_name", "identity", "identity.type", "kind", "local_auth_enabled", "location", "name",
        "network_acls", "network_acls.default_action", "outbound_network_access_restricted",
        "public_network_access_enabled", "resource_group_name", "sku_name", "tags",
    },
    "azurerm_cognitive_deployment": {
        "cognitive_account_id", "model", "model.format", "model.name", "model.version", "name",
    },
    "azurerm_container_app_environment": {
        "infrastructure_resource_group_name", "infrastructure_subnet_id", "internal_load_balancer_enabled",
        "location", "log_analytics_workspace_id", "name", "resource_group_name", "tags", "workload_profile",
        "workload_profile.name", "workload_profile.workload_profile_type", "zone_redundancy_enabled",
    },
    "azurerm_container_app": {
        "container_app_environment_id", "identity", "identity.identity_ids", "identity.type", "ingress",
        "ingress.allow_insecure_connections", "ingress.external_enabled", "ingress.target_port",
        "ingress.traffic_weight", "ingress.traffic_weight.latest_revision", "ingress.traffic_weight.percentage",
        "ingress.transport", "name", "registry", "registry.identity", "registry.server", "resource_group_name",
        "revision_mode", "secret", "secret.identity", "secret.key_vault_secret_id", "secret.name", "tags",
        "template", "template.container", "template.container.cpu", "template.container.env",
        "template.container.env.name", "template.container.env.secret_name", "template.container.env.value",
        "template.container.image", "template.container.liveness_probe",
        "template.container.liveness_probe.failure_count_threshold",
        "template.container.liveness_probe.interval_seconds", "template.container.liveness_probe.path",
        "template.container.liveness_probe.port", "template.container.liveness_probe.transport",
        "template.container.memory", "template.container.name", "template.container.readiness_probe",
        "template.container.readiness_probe.failure_count_threshold",
        "template.container.readiness_probe.interval_seconds", "template.container.readiness_probe.path",
        "template.container.readiness_probe.port", "template.container.readiness_probe.success_count_threshold",
        "template.container.readiness_probe.transport", "template.container.startup_probe",
        "template.container.startup_probe.failure_count_threshold",
        "template.container.startup_probe.interval_seconds", "template.container.startup_probe.path",
        "template.container.startup_probe.port", "template.container.startup_probe.transport",
        "template.http_scale_rule", "template.http_scale_rule.concurrent_requests", "template.http_scale_rule.name",
        "template.max_replicas", "template.min_replicas", "workload_profile_name",
    },
    "azurerm_container_registry": {
        "admin_enabled", "anonymous_pull_enabled", "data_endpoint_enabled", "location", "name",
        "network_rule_bypass_option", "network_rule_set", "network_rule_set.default_action",
        "network_rule_set.ip_rule", "network_rule_set.ip_rule.action", "network_rule_set.ip_rule.ip_range",
        "public_network_access_enabled", "resource_group_name", "retention_policy_in_days", "sku", "tags",
        "zone_redundancy_enabled",
    },
    "azurerm_cosmosdb_account": {
        "access_key_metadata_writes_enabled", "automatic_failover_enabled", "backup", "backup.tier", "backup.type",
        "capabilities", "capabilities.name", "consistency_policy", "consistency_policy.consistency_level",
        "geo_location", "geo_location.failover_priority", "geo_location.location",
        "is_virtual_network_filter_enabled", "kind", "location", "minimal_tls_version", "name",
        "network_acl_bypass_for_azure_services", "offer_type", "public_network_access_enabled",
        "resource_group_name", "tags",
    },
    "azurerm_cosmosdb_sql_container": {
        "account_name", "database_name", "default_ttl", "indexing_policy", "indexing_policy.composite_index",
        "indexing_policy.composite_index.index", "indexing_policy.composite_index.index.order",
        "indexing_policy.composite_index.index.path", "indexing_policy.excluded_path",
        "indexing_policy.excluded_path.path", "indexing_policy.included_path", "indexing_policy.included_path.path",
        "indexing_policy.indexing_mode", "name", "partition_key_paths", "partition_key_version",
        "resource_group_name",
    },
    "azurerm_cosmosdb_sql_database": {
        "account_name", "name", "resource_group_name",
    },
    "azurerm_cosmosdb_sql_role_assignment": {
        "account_name", "principal_id", "resource_group_name", "role_definition_id", "scope",
    },
    "azurerm_key_vault_secret": {
        "content_type", "key_vault_id", "name", "value",
    },
    "azurerm_key_vault": {
        "location", "name", "network_acls", "network_acls.bypass", "network_acls.default_action",
        "network_acls.ip_rules", "public_network_access_enabled", "purge_protection_enabled", "resource_group_name",
        "sku_name", "soft_delete_retention_days", "tags", "tenant_id",
    },
    "azurerm_linux_function_app": {
        "app_settings", "builtin_logging_enabled", "client_certificate_enabled",
        "ftp_publish_basic_authentication_enabled", "functions_extension_version", "https_only", "identity",
        "identity.identity_ids", "identity.type", "key_vault_reference_identity_id", "location", "name",
        "public_network_access_enabled", "resource_group_name", "service_plan_id", "site_config",
        "site_config.always_on", "site_config.application_insights_connection_string",
        "site_config.application_stack", "site_config.application_stack.python_version", "site_config.ftps_state",
        "site_config.http2_enabled", "site_config.ip_restriction_default_action", "site_config.minimum_tls_version",
        "site_config.scm_ip_restriction", "site_config.scm_ip_restriction.action",
        "site_config.scm_ip_restriction.ip_address", "site_config.scm_ip_restriction.name",
        "site_config.scm_ip_restriction.priority", "site_config.scm_ip_restriction_default_action",
        "site_config.scm_minimum_tls_version", "site_config.scm_use_main_ip_restriction",
        "site_config.vnet_route_all_enabled", "storage_account_name", "storage_uses_managed_identity", "tags",
        "virtual_network_subnet_id", "webdeploy_publish_basic_authentication_enabled",
    },
    "azurerm_linux_web_app": {
        "app_settings", "auth_settings_v2", "auth_settings_v2.active_directory_v2",
        "auth_settings_v2.active_directory_v2.allowed_audiences", "auth_settings_v2.active_directory_v2.client_id",
        "auth_settings_v2.active_directory_v2.tenant_auth_endpoint", "auth_settings_v2.auth_enabled",
        "auth_settings_v2.default_provider", "auth_settings_v2.excluded_paths", "auth_settings_v2.login",
        "auth_settings_v2.login.token_store_enabled", "auth_settings_v2.require_authentication",
        "auth_settings_v2.require_https", "auth_settings_v2.unauthenticated_action", "client_affinity_enabled",
        "ftp_publish_basic_authentication_enabled", "https_only", "identity", "identity.identity_ids",
        "identity.type", "key_vault_reference_identity_id", "location", "logs", "logs.detailed_error_messages",
        "logs.failed_request_tracing", "logs.http_logs", "logs.http_logs.file_system",
        "logs.http_logs.file_system.retention_in_days", "logs.http_logs.file_system.retention_in_mb", "name",
        "public_network_access_enabled", "resource_group_name", "service_plan_id", "site_config",
        "site_config.always_on", "site_config.app_command_line", "site_config.application_stack",
        "site_config.application_stack.python_version", "site_config.ftps_state",
        "site_config.health_check_eviction_time_in_min", "site_config.health_check_path",
        "site_config.http2_enabled", "site_config.ip_restriction", "site_config.ip_restriction.action",
        "site_config.ip_restriction.ip_address", "site_config.ip_restriction.name",
        "site_config.ip_restriction.priority", "site_config.ip_restriction_default_action",
        "site_config.minimum_tls_version", "site_config.scm_ip_restriction", "site_config.scm_ip_restriction.action",
        "site_config.scm_ip_restriction.ip_address", "site_config.scm_ip_restriction.name",
        "site_config.scm_ip_restriction.priority", "site_config.scm_ip_restriction_default_action",
        "site_config.scm_minimum_tls_version", "site_config.scm_use_main_ip_restriction",
        "site_config.vnet_route_all_enabled", "tags", "virtual_network_subnet_id",
        "webdeploy_publish_basic_authentication_enabled",
    },
    "azurerm_log_analytics_workspace": {
        "location", "name", "resource_group_name", "retention_in_days", "sku", "tags",
    },
    "azurerm_management_lock": {
        "lock_level", "name", "notes", "scope",
    },
    "azurerm_monitor_action_group": {
        "email_receiver", "email_receiver.email_address", "email_receiver.name",
        "email_receiver.use_common_alert_schema", "name", "resource_group_name", "short_name", "tags",
    },
    "azurerm_monitor_diagnostic_setting": {
        "enabled_log", "enabled_log.category", "log_analytics_workspace_id", "name", "target_resource_id",
    },
    "azurerm_monitor_metric_alert": {
        "action", "action.action_group_id", "criteria", "criteria.aggregation", "criteria.dimension",
        "criteria.dimension.name", "criteria.dimension.operator", "criteria.dimension.values",
        "criteria.metric_name", "criteria.metric_namespace", "criteria.operator", "criteria.threshold",
        "description", "frequency", "name", "resource_group_name", "scopes", "severity", "tags", "window_size",
    },
    "azurerm_monitor_scheduled_query_rules_alert_v2": {
        "action", "action.action_groups", "criteria", "criteria.failing_periods",
        "criteria.failing_periods.minimum_failing_periods_to_trigger_alert",
        "criteria.failing_periods.number_of_evaluation_periods", "criteria.metric_measure_column",
        "criteria.operator", "criteria.query", "criteria.threshold", "criteria.time_aggregation_method",
        "description", "enabled", "evaluation_frequency", "location", "name", "resource_group_name", "scopes",
        "severity", "tags", "window_duration",
    },
    "azurerm_network_security_group": {
        "location", "name", "resource_group_name", "security_rule", "security_rule.access",
        "security_rule.destination_address_prefix", "security_rule.destination_port_range",
        "security_rule.destination_port_ranges", "security_rule.direction", "security_rule.name",
        "security_rule.priority", "security_rule.protocol", "security_rule.source_address_prefix",
        "security_rule.source_address_prefixes", "security_rule.source_port_range", "tags",
    },
    "azurerm_private_dns_a_record": {
        "name", "records", "resource_group_name", "tags", "ttl", "zone_name",
    },
    "azurerm_private_dns_zone_virtual_network_link": {
        "name", "private_dns_zone_name", "registration_enabled", "resource_group_name", "tags", "virtual_network_id",
    },
    "azurerm_private_dns_zone": {
        "name", "resource_group_name", "tags",
    },
    "azurerm_private_endpoint": {
        "location", "name", "private_dns_zone_group", "private_dns_zone_group.name",
        "private_dns_zone_group.private_dns_zone_ids", "private_service_connection",
        "private_service_connection.is_manual_connection", "private_service_connection.name",
        "private_service_connection.private_connection_resource_id", "private_service_connection.subresource_names",
        "resource_group_name", "subnet_id", "tags",
    },
    "azurerm_redis_cache_access_policy_assignment": {
        "access_policy_name", "name", "object_id", "object_id_alias", "redis_cache_id",
    },
    "azurerm_redis_cache": {
        "access_keys_authentication_enabled", "capacity", "family", "location", "minimum_tls_version", "name",
        "non_ssl_port_enabled", "public_network_access_enabled", "redis_configuration",
        "redis_configuration.active_directory_authentication_enabled", "redis_configuration.maxmemory_policy",
        "resource_group_name", "sku_name", "tags",
    },
    "azurerm_resource_group": {
        "location", "name", "tags",
    },
    "azurerm_role_assignment": {
        "principal_id", "role_definition_name", "scope",
    },
    "azurerm_service_plan": {
        "location", "name", "os_type", "resource_group_name", "sku_name", "tags", "worker_count",
    },
    "azurerm_storage_account": {
        "account_kind", "account_replication_type", "account_tier", "allow_nested_items_to_be_public",
        "blob_properties", "blob_properties.container_delete_retention_policy",
        "blob_properties.container_delete_retention_policy.days", "blob_properties.delete_retention_policy",
        "blob_properties.delete_retention_policy.days", "default_to_oauth_authentication",
        "https_traffic_only_enabled", "infrastructure_encryption_enabled", "local_user_enabled", "location",
        "min_tls_version", "name", "network_rules", "network_rules.bypass", "network_rules.default_action",
        "public_network_access_enabled", "resource_group_name", "sas_policy", "sas_policy.expiration_action",
        "sas_policy.expiration_period", "shared_access_key_enabled", "tags",
    },
    "azurerm_subnet_network_security_group_association": {
        "network_security_group_id", "subnet_id",
    },
    "azurerm_subnet": {
        "address_prefixes", "delegation", "delegation.name", "delegation.service_delegation",
        "delegation.service_delegation.actions", "delegation.service_delegation.name", "name",
        "private_endpoint_network_policies", "resource_group_name", "virtual_network_name",
    },
    "azurerm_user_assigned_identity": {
        "location", "name", "resource_group_name", "tags",
    },
    "azurerm_virtual_network": {
        "address_space", "location", "name", "resource_group_name", "tags",
    },
    "provider": {
        "features", "features.application_insights", "features.application_insights.disable_generated_rule",
        "features.cognitive_account", "features.cognitive_account.purge_soft_delete_on_destroy",
        "features.key_vault", "features.key_vault.purge_soft_delete_on_destroy",
        "features.key_vault.recover_soft_deleted_key_vaults", "features.resource_group",
        "features.resource_group.prevent_deletion_if_contains_resources", "storage_use_azuread", "subscription_id",
    },
}  # fmt: skip

LATER: dict[tuple[str, str], str] = {
    # 4.0.0 declared `sku` (renamed from `scale`) without the model field behind it; usable from 4.0.1.
    ("azurerm_cognitive_deployment", "sku"): "4.0.1",
    ("azurerm_cognitive_deployment", "sku.capacity"): "4.0.1",
    ("azurerm_cognitive_deployment", "sku.name"): "4.0.1",
    # The highest: the real lower bound. Not in CHANGELOG-v4.md; the schema has it from v4.78.0.
    ("azurerm_cosmosdb_account", "local_authentication_enabled"): "4.78.0",
    ("azurerm_key_vault", "rbac_authorization_enabled"): "4.42.0",
    ("azurerm_managed_redis_access_policy_assignment", ""): "4.60.0",
    ("azurerm_managed_redis_access_policy_assignment", "managed_redis_id"): "4.60.0",
    ("azurerm_managed_redis_access_policy_assignment", "object_id"): "4.60.0",
    ("azurerm_managed_redis", ""): "4.50.0",
    ("azurerm_managed_redis", "default_database"): "4.50.0",
    ("azurerm_managed_redis", "default_database.access_keys_authentication_enabled"): "4.50.0",
    ("azurerm_managed_redis", "default_database.client_protocol"): "4.50.0",
    ("azurerm_managed_redis", "default_database.clustering_policy"): "4.50.0",
    ("azurerm_managed_redis", "default_database.eviction_policy"): "4.50.0",
    ("azurerm_managed_redis", "default_database.persistence_redis_database_backup_frequency"): "4.54.0",
    ("azurerm_managed_redis", "high_availability_enabled"): "4.50.0",
    ("azurerm_managed_redis", "location"): "4.50.0",
    ("azurerm_managed_redis", "name"): "4.50.0",
    ("azurerm_managed_redis", "public_network_access"): "4.53.0",
    ("azurerm_managed_redis", "resource_group_name"): "4.50.0",
    ("azurerm_managed_redis", "sku_name"): "4.50.0",
    ("azurerm_managed_redis", "tags"): "4.50.0",
    # The schema has it from 4.9.0 (internal/provider/features.go); the docs only from 4.49.0.
    ("provider", "features.storage"): "4.9.0",
    ("provider", "features.storage.data_plane_available"): "4.9.0",
}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _walk(body: dict[str, Any], prefix: str, out: set[str]) -> None:
    for key, value in body.items():
        if key in META:
            continue
        if key == "dynamic":
            for item in value:
                for name, spec in item.items():
                    out.add(f"{prefix}{name}")
                    for content in spec.get("content", []):
                        _walk(content, f"{prefix}{name}.", out)
            continue
        out.add(f"{prefix}{key}")
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for item in value:
                _walk(item, f"{prefix}{key}.", out)


def used_arguments(stack: Stack) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for (rtype, _), body in stack.resources.items():
        if rtype.startswith("azurerm_"):  # random_password belongs to the random provider
            _walk(body, "", used.setdefault(rtype, set()))
    _walk(stack.files["main.tf"]["provider"][0]["azurerm"], "", used.setdefault("provider", set()))
    return used


def first_version(rtype: str, argument: str) -> str | None:
    if (rtype, argument) in LATER:
        return LATER[(rtype, argument)]
    if argument in SINCE_4_0_0.get(rtype, set()) or (argument == "" and rtype in SINCE_4_0_0):
        return "4.0.0"
    return None


def test_every_argument_the_code_uses_has_its_first_provider_version(stack: Stack) -> None:
    missing = sorted(
        f"{rtype}.{argument}"
        for rtype, arguments in used_arguments(stack).items()
        for argument in arguments | ({""} if rtype != "provider" else set())
        if first_version(rtype, argument) is None
    )
    assert not missing, f"add these to the table with the azurerm release that introduced them: {missing}"


def test_the_table_lists_only_what_the_code_uses(stack: Stack) -> None:
    used = used_arguments(stack)
    stale = sorted(f"{r}.{a}" for r, arguments in SINCE_4_0_0.items() for a in arguments if a not in used.get(r, set()))
    stale += sorted(f"{r}.{a}" for r, a in LATER if a and a not in used.get(r, set()))
    assert not stale, f"no longer used, drop from the table: {stale}"


def test_the_lower_bound_is_the_newest_release_the_code_needs(stack: Stack) -> None:
    azurerm = stack.files["main.tf"]["terraform"][0]["required_providers"][0]["azurerm"]
    bound = re.fullmatch(r">= (\d+\.\d+\.\d+), < 5\.0\.0", azurerm["version"])
    assert bound, azurerm["version"]
    needed = max(LATER.values(), key=_version)
    assert bound.group(1) == needed, f"the code needs azurerm {needed}; main.tf pins >= {bound.group(1)}"
    # The facts the issue named, as the table has them.
    assert LATER[("azurerm_cosmosdb_account", "local_authentication_enabled")] == "4.78.0"
    assert LATER[("azurerm_managed_redis_access_policy_assignment", "")] == "4.60.0"
    assert LATER[("azurerm_managed_redis", "public_network_access")] == "4.53.0"
