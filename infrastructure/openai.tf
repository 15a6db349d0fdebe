# Azure OpenAI with a gpt-4o-mini deployment for tier 3. Entra ID only (the analyzer's identity
# has "Cognitive Services OpenAI User"), no public access, a private endpoint.

resource "azurerm_cognitive_account" "openai" {
  #checkov:skip=CKV_AZURE_247:outbound access is restricted with an empty FQDN allow-list, i.e. no outbound at all, stricter than the allow-list the check asks for
  #checkov:skip=CKV2_AZURE_22:prompts and completions are not stored by this account; Microsoft-managed keys suffice
  name                               = "oai-${local.name_prefix}-${local.unique_suffix}"
  location                           = coalesce(var.openai_location, var.location)
  resource_group_name                = azurerm_resource_group.main.name
  kind                               = "OpenAI"
  sku_name                           = "S0"
  custom_subdomain_name              = "oai-${local.name_prefix}-${local.unique_suffix}"
  public_network_access_enabled      = false
  local_auth_enabled                 = false
  outbound_network_access_restricted = true
  tags                               = local.tags

  identity {
    type = "SystemAssigned"
  }

  network_acls {
    default_action = "Deny"
  }
}

resource "azurerm_cognitive_deployment" "gpt_4o_mini" {
  name                 = var.openai_deployment_name
  cognitive_account_id = azurerm_cognitive_account.openai.id

  model {
    format  = "OpenAI"
    name    = "gpt-4o-mini"
    version = var.openai_model_version
  }

  sku {
    name     = var.openai_deployment_sku
    capacity = var.openai_capacity
  }
}

resource "azurerm_private_endpoint" "openai" {
  name                = "pe-${local.name_prefix}-openai"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.private_endpoints.id
  tags                = local.tags

  private_service_connection {
    name                           = "psc-openai"
    private_connection_resource_id = azurerm_cognitive_account.openai.id
    is_manual_connection           = false
    subresource_names              = ["account"]
  }

  private_dns_zone_group {
    name                 = "openai"
    private_dns_zone_ids = [azurerm_private_dns_zone.main["openai"].id]
  }
}
