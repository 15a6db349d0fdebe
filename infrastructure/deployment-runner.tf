# Optional: deploy from a self-hosted runner inside the VNet instead of opening the deployer's
# address (deploy.sh --from-vnet). Set deployment_runner_subnet_cidr and this adds
# - a subnet for the runner (a VM or a container instance of yours; outbound only, see networking.tf),
#   allowed by the private endpoints' NSG;
# - private endpoints for the function app and the dashboard sites ("sites" covers the Kudu/SCM
#   site too: the zone gets <app>.privatelink.azurewebsites.net and <app>.scm.privatelink...), so
#   zip deploys reach Kudu privately.
# Key Vault and the registry already have private endpoints. Peer the runner's network or place
# the runner in this subnet; then run `./deploy.sh -e ENV --from-vnet`.

locals {
  runner_enabled = var.deployment_runner_subnet_cidr != null
  runner_sites = local.runner_enabled ? {
    function  = azurerm_linux_function_app.main.id
    dashboard = azurerm_linux_web_app.dashboard.id
  } : {}
}

resource "azurerm_subnet" "deployment_runner" {
  count = local.runner_enabled ? 1 : 0

  name                 = "snet-deployment-runner"
  resource_group_name  = azurerm_resource_group.main.name
  virtual_network_name = azurerm_virtual_network.main.name
  address_prefixes     = [var.deployment_runner_subnet_cidr]
}

resource "azurerm_private_dns_zone" "sites" {
  count = local.runner_enabled ? 1 : 0

  name                = "privatelink.azurewebsites.net"
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "sites" {
  count = local.runner_enabled ? 1 : 0

  name                  = "link-sites"
  resource_group_name   = azurerm_resource_group.main.name
  private_dns_zone_name = azurerm_private_dns_zone.sites[0].name
  virtual_network_id    = azurerm_virtual_network.main.id
  registration_enabled  = false
  tags                  = local.tags
}

resource "azurerm_private_endpoint" "sites" {
  for_each = local.runner_sites

  name                = "pe-${local.name_prefix}-${each.key}-site"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.private_endpoints.id
  tags                = local.tags

  private_service_connection {
    name                           = "psc-${each.key}-site"
    private_connection_resource_id = each.value
    is_manual_connection           = false
    subresource_names              = ["sites"]
  }

  private_dns_zone_group {
    name                 = "sites"
    private_dns_zone_ids = [azurerm_private_dns_zone.sites[0].id]
  }
}
