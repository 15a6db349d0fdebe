# What deploy.sh and operators need after an apply. Secrets are marked sensitive.

output "resource_group_name" {
  description = "Resource group holding the environment."
  value       = azurerm_resource_group.main.name
}

output "container_registry_name" {
  description = "Registry name deploy.sh logs in to before pushing the analyzer image."
  value       = azurerm_container_registry.main.name
}

output "container_registry_login_server" {
  description = "Registry host the analyzer image is tagged with."
  value       = azurerm_container_registry.main.login_server
}

output "analyzer_image_repository" {
  description = "Repository (without tag) of the analyzer image."
  value       = "${azurerm_container_registry.main.login_server}/${var.analyzer_image_name}"
}

output "analyzer_app_name" {
  description = "Container app running the analyzer; empty before the first image is pushed."
  value       = local.analyzer_enabled ? azurerm_container_app.analyzer[0].name : ""
}

output "analyzer_internal_url" {
  description = "Analyzer base URL, reachable only from inside the VNet (FASTAPI_ENDPOINT)."
  value       = local.analyzer_url
}

output "function_app_name" {
  description = "Function app deploy.sh publishes functions/ to."
  value       = azurerm_linux_function_app.main.name
}

output "dashboard_app_name" {
  description = "App Service app deploy.sh publishes the dashboard/operator API to."
  value       = azurerm_linux_web_app.dashboard.name
}

output "dashboard_url" {
  description = "Public HTTPS URL of the dashboard/operator API (Entra ID sign-in)."
  value       = "https://${azurerm_linux_web_app.dashboard.default_hostname}"
}

output "key_vault_name" {
  description = "Key Vault holding every documented setting of the environment (dash-separated names) and the analyzer API key."
  value       = azurerm_key_vault.main.name
}

output "key_vault_secrets" {
  description = "Setting name -> Key Vault secret name, for every documented setting this environment has."
  value       = merge(local.key_vault_secret_names, local.analyzer_enabled ? { FASTAPI_ENDPOINT = "fastapi-endpoint" } : {})
}

output "deployer_ip_ranges" {
  description = "The permanently allowed deployer ranges; deploy.sh turns public access off again after a deploy when this is empty."
  value       = var.deployer_ip_ranges
}

output "tier3_explanations" {
  description = "How tier 3 runs: inside the analyzer container app, one consumer per replica in one consumer group."
  value       = "sensor-analyzer api runs the explanation consumer (EXPLAIN_CONSUMER_ENABLED=true): one consumer per replica in the Redis consumer group explainer on {${var.stream_key}}:alarm-events, which shares the events between replicas; ${var.analyzer_min_replicas} to ${var.analyzer_max_replicas} replicas, never 0, so events are always consumed."
}

output "cosmos_db_endpoint" {
  description = "Cosmos DB endpoint (COSMOS_DB_ENDPOINT); private endpoint only."
  value       = azurerm_cosmosdb_account.main.endpoint
}

output "redis_host" {
  description = "Redis host name and TLS port (Azure Managed Redis: 10000; Azure Cache for Redis: 6380)."
  value       = "${local.redis_host}:${local.redis_port}"
}

output "openai_endpoint" {
  description = "Azure OpenAI endpoint (OPENAI_ENDPOINT); private endpoint only."
  value       = azurerm_cognitive_account.openai.endpoint
}

output "application_insights_connection_string" {
  description = "Application Insights connection string (APPLICATION_INSIGHTS_CONNECTION_STRING)."
  value       = azurerm_application_insights.main.connection_string
  sensitive   = true
}

output "analyzer_api_key" {
  description = "X-API-Key the function sends to the analyzer (also in Key Vault as analyzer-api-key)."
  value       = random_password.analyzer_api_key.result
  sensitive   = true
}
