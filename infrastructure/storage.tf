# The Functions host's own storage (leases, host keys, timer schedule state). Identity-based
# (AzureWebJobsStorage__accountName + managed identity), so shared keys are off; reached only
# through private endpoints.

resource "azurerm_storage_account" "functions" {
  #checkov:skip=CKV2_AZURE_1:host bookkeeping only (leases, keys, timer state); Microsoft-managed keys with infrastructure encryption suffice
  #checkov:skip=CKV_AZURE_206:zone-redundant (ZRS); geo-replication adds nothing for host bookkeeping that the host recreates
  #checkov:skip=CKV_AZURE_33:queue logging needs the data plane, which is private and unreachable from the deployer; the host uses queues only for internal bookkeeping
  name                              = substr("st${local.compact_name}${local.unique_suffix}", 0, 24)
  location                          = azurerm_resource_group.main.location
  resource_group_name               = azurerm_resource_group.main.name
  account_kind                      = "StorageV2"
  account_tier                      = "Standard"
  account_replication_type          = "ZRS"
  min_tls_version                   = "TLS1_2"
  https_traffic_only_enabled        = true
  shared_access_key_enabled         = false
  default_to_oauth_authentication   = true
  public_network_access_enabled     = false
  allow_nested_items_to_be_public   = false
  local_user_enabled                = false
  infrastructure_encryption_enabled = true
  tags                              = local.tags

  network_rules {
    default_action = "Deny"
    bypass         = ["AzureServices"]
  }

  blob_properties {
    delete_retention_policy {
      days = 7
    }
    container_delete_retention_policy {
      days = 7
    }
  }

  sas_policy {
    expiration_period = "00.01:00:00"
    expiration_action = "Log"
  }
}

locals {
  storage_endpoints = {
    blob  = "storage_blob"
    queue = "storage_queue"
    table = "storage_table"
  }
}

resource "azurerm_private_endpoint" "storage" {
  for_each = local.storage_endpoints

  name                = "pe-${local.name_prefix}-storage-${each.key}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.private_endpoints.id
  tags                = local.tags

  private_service_connection {
    name                           = "psc-storage-${each.key}"
    private_connection_resource_id = azurerm_storage_account.functions.id
    is_manual_connection           = false
    subresource_names              = [each.key]
  }

  private_dns_zone_group {
    name                 = "storage-${each.key}"
    private_dns_zone_ids = [azurerm_private_dns_zone.main[each.value].id]
  }
}
