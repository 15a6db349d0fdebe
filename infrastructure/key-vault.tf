# Key Vault: RBAC authorisation, purge protection, a private endpoint, and every documented setting
# of the environment, which the apps resolve as Key Vault references (function app, App Service) or
# Key Vault secrets (container app): an operator finds all of an environment's settings here.
#
# Terraform writes (and on every plan reads) the secrets through the data plane, so whoever runs it
# needs it: the public endpoint admits only local.deployer_access_ranges, i.e. the permanent
# deployer_ip_ranges plus the one address deploy.sh opens for the duration of a deploy (and closes
# on exit). With neither, public access is off: deploy from a runner inside the VNet
# (deployment_runner_subnet_cidr).

resource "azurerm_key_vault" "main" {
  #checkov:skip=CKV_AZURE_189:public access is on only while a deployer address is allowed (deployer_ip_ranges, or the one address deploy.sh opens for a deploy and closes after), and the firewall (default Deny) admits only those; the apps use the private endpoint
  name                          = substr("kv${local.compact_name}${local.unique_suffix}", 0, 24)
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  rbac_authorization_enabled    = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 90
  public_network_access_enabled = local.deployer_public_access
  tags                          = local.tags

  network_acls {
    default_action = "Deny"
    bypass         = "AzureServices"
    ip_rules       = local.deployer_access_ranges
  }
}

resource "azurerm_private_endpoint" "key_vault" {
  name                = "pe-${local.name_prefix}-key-vault"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.private_endpoints.id
  tags                = local.tags

  private_service_connection {
    name                           = "psc-key-vault"
    private_connection_resource_id = azurerm_key_vault.main.id
    is_manual_connection           = false
    subresource_names              = ["vault"]
  }

  private_dns_zone_group {
    name                 = "key-vault"
    private_dns_zone_ids = [azurerm_private_dns_zone.main["key_vault"].id]
  }
}

# The shared key that authenticates the function's calls to the analyzer (X-API-Key); the
# analyzer compares it in constant time. Rotate with `terraform apply -replace=random_password.analyzer_api_key`.
resource "random_password" "analyzer_api_key" {
  length  = 48
  special = false
}

resource "azurerm_key_vault_secret" "analyzer_api_key" {
  #checkov:skip=CKV_AZURE_41:rotated on demand with -replace; an expiry date would stop the trigger at a date nobody watches
  name         = "analyzer-api-key"
  key_vault_id = azurerm_key_vault.main.id
  value        = random_password.analyzer_api_key.result
  content_type = "text/plain; analyzer X-API-Key"

  depends_on = [azurerm_role_assignment.main["deployer_secrets"]]
}

# --- The documented settings ------------------------------------------------------------------
#
# Setting name -> value. Secret names are the setting names in lower case with dashes (Key Vault
# allows only letters, digits and dashes): REDIS_CONNECTION_STRING -> redis-connection-string.
# Not stored, because the deployment has no such value:
# - OPENAI_API_KEY: the OpenAI account has local (key) auth off; the analyzer uses its identity.
# The Function app reads only FASTAPI_ENDPOINT from here: its Redis connection is the managed
# identity form (REDIS_CONNECTION_STRING__redisHostName/__principalId/__clientId), never also
# REDIS_CONNECTION_STRING (the trigger throws when both are set).
locals {
  key_vault_settings = {
    # What the analyzer and the dashboard use: host and TLS, no password (REDIS_ENTRA_AUTH=true
    # makes them authenticate with their identity's Entra ID token).
    REDIS_CONNECTION_STRING                = local.redis_entra_connection_string
    COSMOS_DB_ENDPOINT                     = azurerm_cosmosdb_account.main.endpoint
    COSMOS_DB_DATABASE_NAME                = azurerm_cosmosdb_sql_database.main.name
    OPENAI_ENDPOINT                        = azurerm_cognitive_account.openai.endpoint
    OPENAI_DEPLOYMENT_NAME                 = azurerm_cognitive_deployment.gpt_4o_mini.name
    APPLICATION_INSIGHTS_CONNECTION_STRING = azurerm_application_insights.main.connection_string
  }
  # for_each needs keys that are not sensitive: iterate over the names, look the values up.
  key_vault_secret_names = { for name in keys(local.key_vault_settings) : name => lower(replace(name, "_", "-")) }

  key_vault_references = {
    for name, secret in azurerm_key_vault_secret.settings : name => "@Microsoft.KeyVault(SecretUri=${secret.versionless_id})"
  }
  analyzer_api_key_reference = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.analyzer_api_key.versionless_id})"
  # FASTAPI_ENDPOINT exists once the analyzer does (its own resource: the analyzer reads the other
  # settings, so one resource for all would be a cycle).
  fastapi_endpoint_reference = local.analyzer_enabled ? "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.fastapi_endpoint[0].versionless_id})" : ""

  # Which app reads which documented setting (tests/infrastructure checks each against its secret).
  # (The dashboard's and the function's app settings name theirs one by one.)
  analyzer_key_vault_settings = ["REDIS_CONNECTION_STRING", "COSMOS_DB_ENDPOINT", "COSMOS_DB_DATABASE_NAME", "OPENAI_ENDPOINT", "OPENAI_DEPLOYMENT_NAME", "APPLICATION_INSIGHTS_CONNECTION_STRING"]
}

resource "azurerm_key_vault_secret" "settings" {
  #checkov:skip=CKV_AZURE_41:configuration values rewritten by every apply that changes them; an expiry date would break the apps at a date nobody watches
  for_each = local.key_vault_secret_names

  name         = each.value
  key_vault_id = azurerm_key_vault.main.id
  value        = local.key_vault_settings[each.key]
  content_type = "text/plain; ${each.key}"

  depends_on = [azurerm_role_assignment.main["deployer_secrets"]]
}

resource "azurerm_key_vault_secret" "fastapi_endpoint" {
  #checkov:skip=CKV_AZURE_41:the analyzer's internal URL, rewritten by the apply that changes it; an expiry date would stop the trigger at a date nobody watches
  count = local.analyzer_enabled ? 1 : 0

  name         = "fastapi-endpoint"
  key_vault_id = azurerm_key_vault.main.id
  value        = local.analyzer_url
  content_type = "text/plain; FASTAPI_ENDPOINT"

  depends_on = [azurerm_role_assignment.main["deployer_secrets"]]
}

# Only while access keys are on (redis_access_keys_enabled), for tools that cannot use Entra ID;
# no app reads it.
resource "azurerm_key_vault_secret" "redis_access_key_connection_string" {
  #checkov:skip=CKV_AZURE_41:derived from the Redis access key and rewritten whenever the key is regenerated; an expiry date would break the tool at a date nobody watches
  count = var.redis_access_keys_enabled ? 1 : 0

  name         = "redis-access-key-connection-string"
  key_vault_id = azurerm_key_vault.main.id
  value        = local.redis_connection_string
  content_type = "text/plain; host:port,password=...,ssl=True,abortConnect=False"

  depends_on = [azurerm_role_assignment.main["deployer_secrets"]]
}
