# The Azure Functions app (Python, v1 programming model: the Redis extension does not support v2).
# ForwardStreamEntry is triggered by each new entry on the stream and forwards it to the analyzer;
# SweepWindow runs on a timer and asks the analyzer to analyse entries that have no result, which
# covers the trigger's at-most-once delivery.
#
# Redis triggers are not supported on Consumption or Flex Consumption: this runs on a dedicated
# Linux plan with Always On, VNet integration (all outbound through the VNet), a managed identity,
# identity-based host storage and its secret as a Key Vault reference.

resource "azurerm_service_plan" "functions" {
  #checkov:skip=CKV_AZURE_225:zone redundancy needs three or more instances; one stream listener is enough and the sweep covers a restart
  #checkov:skip=CKV_AZURE_212:a second instance would only add a second consumer to the stream; the sweep covers an instance failure
  name                = "asp-${local.name_prefix}-functions"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  os_type             = "Linux"
  sku_name            = var.function_plan_sku
  worker_count        = 1
  tags                = local.tags
}

resource "azurerm_linux_function_app" "main" {
  name                            = local.function_app_name
  location                        = azurerm_resource_group.main.location
  resource_group_name             = azurerm_resource_group.main.name
  service_plan_id                 = azurerm_service_plan.functions.id
  storage_account_name            = azurerm_storage_account.functions.name
  storage_uses_managed_identity   = true
  functions_extension_version     = "~4"
  https_only                      = true
  public_network_access_enabled   = length(var.deployer_ip_ranges) > 0
  virtual_network_subnet_id       = azurerm_subnet.functions.id
  key_vault_reference_identity_id = azurerm_user_assigned_identity.function.id
  client_certificate_enabled      = false
  builtin_logging_enabled         = false
  tags                            = local.tags

  ftp_publish_basic_authentication_enabled       = false
  webdeploy_publish_basic_authentication_enabled = false

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.function.id]
  }

  site_config {
    always_on                              = true
    ftps_state                             = "Disabled"
    minimum_tls_version                    = "1.2"
    scm_minimum_tls_version                = "1.2"
    http2_enabled                          = true
    vnet_route_all_enabled                 = true
    application_insights_connection_string = azurerm_application_insights.main.connection_string
    ip_restriction_default_action          = "Deny"
    scm_ip_restriction_default_action      = "Deny"
    scm_use_main_ip_restriction            = false

    dynamic "scm_ip_restriction" {
      for_each = var.deployer_ip_ranges
      content {
        name       = "deployer-${scm_ip_restriction.key}"
        action     = "Allow"
        priority   = 100 + scm_ip_restriction.key
        ip_address = scm_ip_restriction.value
      }
    }

    application_stack {
      python_version = "3.11"
    }
  }

  app_settings = {
    # Host storage through the user-assigned identity (storage_uses_managed_identity sets the account name).
    "AzureWebJobsStorage__credential" = "managedidentity"
    "AzureWebJobsStorage__clientId"   = azurerm_user_assigned_identity.function.client_id

    # The trigger's connection (function.json "connection": "REDIS_CONNECTION_STRING"), managed
    # identity form: host:port of the TLS endpoint and the user-assigned identity's client id. The
    # forwarder's dead-letter writes use the same identity (username = its object id).
    "REDIS_CONNECTION_STRING__redisHostName" = "${local.redis_host}:${local.redis_port}"
    "REDIS_CONNECTION_STRING__clientId"      = azurerm_user_assigned_identity.function.client_id
    "REDIS_ENTRA_OBJECT_ID"                  = azurerm_user_assigned_identity.function.principal_id

    "STREAM_KEY"        = var.stream_key
    "SWEEP_SCHEDULE"    = var.sweep_schedule
    "ENVIRONMENT"       = var.environment
    "FASTAPI_ENDPOINT"  = local.analyzer_url
    "ANALYZER_API_KEY"  = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.analyzer_api_key.versionless_id})"
    "AZURE_CLIENT_ID"   = azurerm_user_assigned_identity.function.client_id
    "FORWARD_TIMEOUT_S" = "30"
    "FORWARD_ATTEMPTS"  = "4"

    # deploy.sh publishes a source zip; build the Python dependencies on the platform.
    "SCM_DO_BUILD_DURING_DEPLOYMENT" = "true"
    "ENABLE_ORYX_BUILD"              = "true"
  }

  depends_on = [
    azurerm_role_assignment.main["function_secrets"],
    azurerm_role_assignment.main["function_storage_blob"],
    azurerm_role_assignment.main["function_storage_queue"],
    azurerm_role_assignment.main["function_storage_table"],
    azurerm_private_endpoint.storage,
  ]
}
