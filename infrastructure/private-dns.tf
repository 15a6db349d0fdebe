# Private DNS zones for every private endpoint, each linked to the VNet so the apps resolve the
# services' public names to their private addresses.

locals {
  redis_private_dns_zone = local.use_managed_redis ? "privatelink.redis.azure.net" : "privatelink.redis.cache.windows.net"

  private_dns_zones = {
    cosmos        = "privatelink.documents.azure.com"
    redis         = local.redis_private_dns_zone
    key_vault     = "privatelink.vaultcore.azure.net"
    openai        = "privatelink.openai.azure.com"
    storage_blob  = "privatelink.blob.core.windows.net"
    storage_queue = "privatelink.queue.core.windows.net"
    storage_table = "privatelink.table.core.windows.net"
    registry      = "privatelink.azurecr.io"
  }
}

resource "azurerm_private_dns_zone" "main" {
  for_each = local.private_dns_zones

  name                = each.value
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "main" {
  for_each = local.private_dns_zones

  name                  = "link-${replace(each.key, "_", "-")}"
  resource_group_name   = azurerm_resource_group.main.name
  private_dns_zone_name = azurerm_private_dns_zone.main[each.key].name
  virtual_network_id    = azurerm_virtual_network.main.id
  registration_enabled  = false
  tags                  = local.tags
}
