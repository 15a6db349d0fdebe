# The store: Cosmos DB for NoSQL, serverless, with the four containers the analyzer uses.
# Names, partition keys and retention mirror analyzer/store/containers.py (the single source of
# truth); tests/infrastructure compares the two. Terraform owns the database and containers
# because the data-plane role the apps get cannot create them (COSMOS_DB_CREATE_IF_MISSING=false).

locals {
  cosmos_containers = {
    # Every analysis, partitioned by UTC day, kept 90 days.
    anomaly_results = {
      partition_key = "/day"
      default_ttl   = 7776000
    }
    # Open anomaly episodes, by current severity; kept until resolved.
    unresolved_anomalies = {
      partition_key = "/severity_level"
      default_ttl   = null
    }
    # Episodes an operator resolved, by who resolved them; kept.
    resolved_anomalies = {
      partition_key = "/resolved_by"
      default_ttl   = null
    }
    # Audit trail of manual value changes, by who changed the value; kept.
    modified_values = {
      partition_key = "/modified_by"
      default_ttl   = null
    }
  }

  # Built-in "Cosmos DB Built-in Data Contributor" data-plane role.
  cosmos_data_contributor_role = "00000000-0000-0000-0000-000000000002"
  cosmos_clients = {
    analyzer  = azurerm_user_assigned_identity.analyzer.principal_id
    dashboard = azurerm_user_assigned_identity.dashboard.principal_id
  }
}

resource "azurerm_cosmosdb_account" "main" {
  #checkov:skip=CKV_AZURE_140:local key auth IS disabled, with azurerm 4.x's local_authentication_enabled = false; checkov 3.3.30 reads only the deprecated local_authentication_disabled name (asserted by tests/infrastructure instead)
  #checkov:skip=CKV_AZURE_100:encryption at rest uses Microsoft-managed keys; a customer-managed key adds a Key Vault key lifecycle this sensor history does not require
  name                = "cosmos-${local.name_prefix}-${local.unique_suffix}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  offer_type          = "Standard"
  kind                = "GlobalDocumentDB"
  tags                = local.tags

  public_network_access_enabled         = false
  is_virtual_network_filter_enabled     = true
  local_authentication_enabled          = false
  access_key_metadata_writes_enabled    = false
  network_acl_bypass_for_azure_services = false
  minimal_tls_version                   = "Tls12"
  automatic_failover_enabled            = false

  capabilities {
    name = "EnableServerless"
  }

  consistency_policy {
    consistency_level = "Session"
  }

  geo_location {
    location          = azurerm_resource_group.main.location
    failover_priority = 0
  }

  backup {
    type = "Continuous"
    tier = var.cosmos_backup_tier
  }
}

resource "azurerm_cosmosdb_sql_database" "main" {
  name                = var.cosmos_database_name
  resource_group_name = azurerm_resource_group.main.name
  account_name        = azurerm_cosmosdb_account.main.name
}

resource "azurerm_cosmosdb_sql_container" "main" {
  for_each = local.cosmos_containers

  name                  = each.key
  resource_group_name   = azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.main.name
  database_name         = azurerm_cosmosdb_sql_database.main.name
  partition_key_paths   = [each.value.partition_key]
  partition_key_version = 2
  default_ttl           = each.value.default_ttl

  # Every query of the store sorts newest first (ORDER BY c.t_us DESC, c.id DESC), which Cosmos DB
  # refuses without this composite index: analyzer/store/containers.py COMPOSITE_INDEX.
  indexing_policy {
    indexing_mode = "consistent"

    included_path {
      path = "/*"
    }

    excluded_path {
      path = "/\"_etag\"/?"
    }

    composite_index {
      index {
        path  = "/t_us"
        order = "Descending"
      }
      index {
        path  = "/id"
        order = "Descending"
      }
    }
  }
}

resource "azurerm_cosmosdb_sql_role_assignment" "clients" {
  for_each = local.cosmos_clients

  resource_group_name = azurerm_resource_group.main.name
  account_name        = azurerm_cosmosdb_account.main.name
  role_definition_id  = "${azurerm_cosmosdb_account.main.id}/sqlRoleDefinitions/${local.cosmos_data_contributor_role}"
  principal_id        = each.value
  scope               = "${azurerm_cosmosdb_account.main.id}/dbs/${azurerm_cosmosdb_sql_database.main.name}"
}

resource "azurerm_private_endpoint" "cosmos" {
  name                = "pe-${local.name_prefix}-cosmos"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.private_endpoints.id
  tags                = local.tags

  private_service_connection {
    name                           = "psc-cosmos"
    private_connection_resource_id = azurerm_cosmosdb_account.main.id
    is_manual_connection           = false
    subresource_names              = ["Sql"]
  }

  private_dns_zone_group {
    name                 = "cosmos"
    private_dns_zone_ids = [azurerm_private_dns_zone.main["cosmos"].id]
  }
}
