# Key Vault: RBAC authorisation, purge protection, a private endpoint, and the secrets the apps
# resolve as Key Vault references (function app, App Service) or Key Vault secrets (container app).
#
# Terraform writes the secrets, so whoever runs it needs the data plane: when deployer_ip_ranges
# is set, the public endpoint admits only those ranges; when it is empty, public access is off
# and the deployment must run from inside the VNet.

resource "azurerm_key_vault" "main" {
  #checkov:skip=CKV_AZURE_189:public access is on only when deployer_ip_ranges is set, and then the firewall (default Deny) admits only those ranges so terraform can write the secrets; the apps use the private endpoint
  name                          = substr("kv${local.compact_name}${local.unique_suffix}", 0, 24)
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  rbac_authorization_enabled    = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 90
  public_network_access_enabled = length(var.deployer_ip_ranges) > 0
  tags                          = local.tags

  network_acls {
    default_action = "Deny"
    bypass         = "AzureServices"
    ip_rules       = var.deployer_ip_ranges
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

resource "azurerm_key_vault_secret" "redis_connection_string" {
  #checkov:skip=CKV_AZURE_41:derived from the Redis access key and rewritten whenever the key is regenerated; an expiry date would break the analyzer at a date nobody watches
  count = var.redis_access_keys_enabled ? 1 : 0

  name         = "redis-connection-string"
  key_vault_id = azurerm_key_vault.main.id
  value        = local.redis_connection_string
  content_type = "text/plain; host:port,password=...,ssl=True,abortConnect=False"

  depends_on = [azurerm_role_assignment.main["deployer_secrets"]]
}
