# The registry the analyzer image is pushed to (deploy.sh) and pulled from (the container app,
# through its private endpoint, with its managed identity: no admin user).
#
# Pushes come from the deployer: when deployer_ip_ranges is set, the public endpoint admits only
# those ranges; when it is empty, public access is off and images are pushed from inside the VNet.

resource "azurerm_container_registry" "main" {
  #checkov:skip=CKV_AZURE_165:single-region deployment; geo-replication would double the registry cost for an image that can be rebuilt from git
  #checkov:skip=CKV_AZURE_166:quarantine needs a scanner that releases images; images come only from this repo's deploy.sh
  #checkov:skip=CKV_AZURE_164:image signing (content trust) is not part of this pipeline; pulls are limited to the private endpoint and the analyzer's identity
  name                          = substr("cr${local.compact_name}${local.unique_suffix}", 0, 50)
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  sku                           = "Premium"
  admin_enabled                 = false
  anonymous_pull_enabled        = false
  public_network_access_enabled = local.deployer_public_access
  network_rule_bypass_option    = "AzureServices"
  data_endpoint_enabled         = true
  zone_redundancy_enabled       = true
  retention_policy_in_days      = 7
  tags                          = local.tags

  network_rule_set {
    default_action = "Deny"

    dynamic "ip_rule" {
      for_each = local.deployer_access_ranges
      content {
        action   = "Allow"
        ip_range = ip_rule.value
      }
    }
  }
}

resource "azurerm_private_endpoint" "registry" {
  name                = "pe-${local.name_prefix}-registry"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.private_endpoints.id
  tags                = local.tags

  private_service_connection {
    name                           = "psc-registry"
    private_connection_resource_id = azurerm_container_registry.main.id
    is_manual_connection           = false
    subresource_names              = ["registry"]
  }

  private_dns_zone_group {
    name                 = "registry"
    private_dns_zone_ids = [azurerm_private_dns_zone.main["registry"].id]
  }
}
