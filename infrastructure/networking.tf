# The virtual network: two VNet-integration subnets (outbound only), the container apps
# environment's subnet, one subnet for every private endpoint and, optionally, a subnet for a
# self-hosted deployment runner (deployment-runner.tf). Each subnet has an NSG
# that admits only the traffic its occupant needs.

resource "azurerm_virtual_network" "main" {
  name                = "vnet-${local.name_prefix}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  address_space       = var.vnet_address_space
  tags                = local.tags
}

resource "azurerm_subnet" "functions" {
  name                 = "snet-functions"
  resource_group_name  = azurerm_resource_group.main.name
  virtual_network_name = azurerm_virtual_network.main.name
  address_prefixes     = [var.subnet_cidrs.functions]

  delegation {
    name = "app-service-plan"
    service_delegation {
      name    = "Microsoft.Web/serverFarms"
      actions = ["Microsoft.Network/virtualNetworks/subnets/action"]
    }
  }
}

resource "azurerm_subnet" "app_service" {
  name                 = "snet-app-service"
  resource_group_name  = azurerm_resource_group.main.name
  virtual_network_name = azurerm_virtual_network.main.name
  address_prefixes     = [var.subnet_cidrs.app_service]

  delegation {
    name = "app-service-plan"
    service_delegation {
      name    = "Microsoft.Web/serverFarms"
      actions = ["Microsoft.Network/virtualNetworks/subnets/action"]
    }
  }
}

resource "azurerm_subnet" "container_apps" {
  name                 = "snet-container-apps"
  resource_group_name  = azurerm_resource_group.main.name
  virtual_network_name = azurerm_virtual_network.main.name
  address_prefixes     = [var.subnet_cidrs.container_apps]

  # A workload-profiles environment needs its subnet delegated to Microsoft.App.
  delegation {
    name = "container-apps"
    service_delegation {
      name    = "Microsoft.App/environments"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

resource "azurerm_subnet" "private_endpoints" {
  name                 = "snet-private-endpoints"
  resource_group_name  = azurerm_resource_group.main.name
  virtual_network_name = azurerm_virtual_network.main.name
  address_prefixes     = [var.subnet_cidrs.private_endpoints]
  # Enforce the NSG below on private endpoint traffic too.
  private_endpoint_network_policies = "Enabled"
}

# --- Network security groups ------------------------------------------------------------------

# VNet-integration subnets only carry the apps' outbound traffic, and a deployment runner only
# calls out: nothing may come in.
locals {
  outbound_only_subnets = merge(
    {
      functions   = azurerm_subnet.functions.id
      app_service = azurerm_subnet.app_service.id
    },
    local.runner_enabled ? { deployment_runner = azurerm_subnet.deployment_runner[0].id } : {},
  )
}

resource "azurerm_network_security_group" "integration" {
  for_each = local.outbound_only_subnets

  name                = "nsg-${local.name_prefix}-${replace(each.key, "_", "-")}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags

  security_rule {
    name                       = "deny-all-inbound"
    priority                   = 4096
    direction                  = "Inbound"
    access                     = "Deny"
    protocol                   = "*"
    source_port_range          = "*"
    destination_port_range     = "*"
    source_address_prefix      = "*"
    destination_address_prefix = "*"
  }
}

resource "azurerm_subnet_network_security_group_association" "integration" {
  for_each = local.outbound_only_subnets

  subnet_id                 = each.value
  network_security_group_id = azurerm_network_security_group.integration[each.key].id
}

# The internal container apps environment (workload profiles). What the platform documents for an
# internal environment behind its internal load balancer (Learn, "Securing a virtual network in
# Azure Container Apps", inbound rules): the clients reach the edge proxy on 80/443 AND on 31080/31443
# (the ports the edge proxy listens on behind the ILB; allowing only 80/443 drops every call), the
# Azure load balancer probes the backend pools, and the environment's own addresses talk to each
# other. The clients are the function app and the dashboard (their VNet-integration subnets);
# nothing else, and nothing from the internet.
locals {
  container_apps_clients = [var.subnet_cidrs.functions, var.subnet_cidrs.app_service]
}

resource "azurerm_network_security_group" "container_apps" {
  name                = "nsg-${local.name_prefix}-container-apps"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags

  security_rule {
    name                       = "allow-clients-to-edge-proxy"
    priority                   = 100
    direction                  = "Inbound"
    access                     = "Allow"
    protocol                   = "Tcp"
    source_port_range          = "*"
    destination_port_ranges    = ["80", "443", "31080", "31443"]
    source_address_prefixes    = local.container_apps_clients
    destination_address_prefix = var.subnet_cidrs.container_apps
  }

  security_rule {
    name                       = "allow-azure-load-balancer-probes"
    priority                   = 110
    direction                  = "Inbound"
    access                     = "Allow"
    protocol                   = "Tcp"
    source_port_range          = "*"
    destination_port_range     = "30000-32767"
    source_address_prefix      = "AzureLoadBalancer"
    destination_address_prefix = var.subnet_cidrs.container_apps
  }

  # Nodes, the edge proxy and replicas of the environment reach each other inside the subnet; the
  # deny below would otherwise cut them apart.
  security_rule {
    name                       = "allow-within-environment"
    priority                   = 120
    direction                  = "Inbound"
    access                     = "Allow"
    protocol                   = "*"
    source_port_range          = "*"
    destination_port_range     = "*"
    source_address_prefix      = var.subnet_cidrs.container_apps
    destination_address_prefix = var.subnet_cidrs.container_apps
  }

  security_rule {
    name                       = "deny-all-inbound"
    priority                   = 4096
    direction                  = "Inbound"
    access                     = "Deny"
    protocol                   = "*"
    source_port_range          = "*"
    destination_port_range     = "*"
    source_address_prefix      = "*"
    destination_address_prefix = "*"
  }
}

resource "azurerm_subnet_network_security_group_association" "container_apps" {
  subnet_id                 = azurerm_subnet.container_apps.id
  network_security_group_id = azurerm_network_security_group.container_apps.id
}

# Private endpoints: only the app subnets may reach them, and only on the services' ports
# (HTTPS for Cosmos DB, Key Vault, OpenAI, storage and the registry; TLS Redis).
resource "azurerm_network_security_group" "private_endpoints" {
  name                = "nsg-${local.name_prefix}-private-endpoints"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags

  security_rule {
    name                    = "allow-apps-to-services"
    priority                = 100
    direction               = "Inbound"
    access                  = "Allow"
    protocol                = "Tcp"
    source_port_range       = "*"
    destination_port_ranges = ["443", tostring(local.redis_port)]
    # The app subnets, and the deployment runner's subnet when there is one (Key Vault, registry
    # and Kudu through their private endpoints).
    source_address_prefixes = concat(
      [var.subnet_cidrs.functions, var.subnet_cidrs.app_service, var.subnet_cidrs.container_apps],
      local.runner_enabled ? [var.deployment_runner_subnet_cidr] : [],
    )
    destination_address_prefix = var.subnet_cidrs.private_endpoints
  }

  security_rule {
    name                       = "deny-all-inbound"
    priority                   = 4096
    direction                  = "Inbound"
    access                     = "Deny"
    protocol                   = "*"
    source_port_range          = "*"
    destination_port_range     = "*"
    source_address_prefix      = "*"
    destination_address_prefix = "*"
  }
}

resource "azurerm_subnet_network_security_group_association" "private_endpoints" {
  subnet_id                 = azurerm_subnet.private_endpoints.id
  network_security_group_id = azurerm_network_security_group.private_endpoints.id
}
