# Identities, their role assignments, and the locks that protect production data.
#
# Each app gets its own user-assigned identity, created before the app, so the role
# assignments exist by the time the app first resolves a Key Vault reference or pulls an image.

resource "azurerm_user_assigned_identity" "function" {
  name                = "id-${local.name_prefix}-function"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_user_assigned_identity" "analyzer" {
  name                = "id-${local.name_prefix}-analyzer"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_user_assigned_identity" "dashboard" {
  name                = "id-${local.name_prefix}-dashboard"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

locals {
  # Least privilege: each identity gets the data-plane roles its code uses, scoped to one resource.
  # (Cosmos DB data-plane roles and Redis access policies live beside those resources.)
  role_assignments = {
    function_secrets = {
      scope     = azurerm_key_vault.main.id
      role      = "Key Vault Secrets User"
      principal = azurerm_user_assigned_identity.function.principal_id
    }
    analyzer_secrets = {
      scope     = azurerm_key_vault.main.id
      role      = "Key Vault Secrets User"
      principal = azurerm_user_assigned_identity.analyzer.principal_id
    }
    dashboard_secrets = {
      scope     = azurerm_key_vault.main.id
      role      = "Key Vault Secrets User"
      principal = azurerm_user_assigned_identity.dashboard.principal_id
    }
    # Whoever runs terraform writes the secrets (API key, Redis connection string).
    deployer_secrets = {
      scope     = azurerm_key_vault.main.id
      role      = "Key Vault Secrets Officer"
      principal = data.azurerm_client_config.current.object_id
    }
    analyzer_image_pull = {
      scope     = azurerm_container_registry.main.id
      role      = "AcrPull"
      principal = azurerm_user_assigned_identity.analyzer.principal_id
    }
    analyzer_openai = {
      scope     = azurerm_cognitive_account.openai.id
      role      = "Cognitive Services OpenAI User"
      principal = azurerm_user_assigned_identity.analyzer.principal_id
    }
    # The Functions host keeps its leases, keys and timer state in its storage account.
    function_storage_blob = {
      scope     = azurerm_storage_account.functions.id
      role      = "Storage Blob Data Owner"
      principal = azurerm_user_assigned_identity.function.principal_id
    }
    function_storage_queue = {
      scope     = azurerm_storage_account.functions.id
      role      = "Storage Queue Data Contributor"
      principal = azurerm_user_assigned_identity.function.principal_id
    }
    function_storage_table = {
      scope     = azurerm_storage_account.functions.id
      role      = "Storage Table Data Contributor"
      principal = azurerm_user_assigned_identity.function.principal_id
    }
  }
}

resource "azurerm_role_assignment" "main" {
  for_each = local.role_assignments

  scope                = each.value.scope
  role_definition_name = each.value.role
  principal_id         = each.value.principal
}

# Production data stores cannot be deleted while these locks exist; destroy.sh --force-destroy
# removes them first (and only then, with --destroy-data, the stores).
resource "azurerm_management_lock" "cosmos" {
  count = local.is_prod ? 1 : 0

  name       = "lock-${local.name_prefix}-cosmos"
  scope      = azurerm_cosmosdb_account.main.id
  lock_level = "CanNotDelete"
  notes      = "Anomaly history, open anomalies and the audit trail. destroy.sh --force-destroy --destroy-data lifts this lock."
}

resource "azurerm_management_lock" "redis" {
  count = local.is_prod ? 1 : 0

  name       = "lock-${local.name_prefix}-redis"
  scope      = local.redis_id
  lock_level = "CanNotDelete"
  notes      = "The 24-hour window. destroy.sh --force-destroy --destroy-data lifts this lock."
}

resource "azurerm_management_lock" "key_vault" {
  count = local.is_prod ? 1 : 0

  name       = "lock-${local.name_prefix}-key-vault"
  scope      = azurerm_key_vault.main.id
  lock_level = "CanNotDelete"
  notes      = "Secrets the running apps resolve. destroy.sh --force-destroy lifts this lock."
}
