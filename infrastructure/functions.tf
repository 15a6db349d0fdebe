# The Azure Functions app (Python, v1 programming model: the Redis extension does not support v2).
# ForwardStreamEntry is triggered by each new entry on the stream and forwards it to the analyzer;
# SweepWindow runs on a timer and asks the analyzer to analyse entries that have no result, which
# covers the trigger's at-most-once delivery.
#
# Redis triggers are not supported on Consumption or Flex Consumption: this runs on a dedicated
# Linux plan with Always On, VNet integration (all outbound through the VNet), a managed identity,
# identity-based host storage and its secret as a Key Vault reference.

# Instances: function_worker_count (prod runs two). Each instance is one consumer in the trigger's
# consumer group, so two instances share the entries and one keeps consuming while the other is
# replaced; the SweepWindow timer is a singleton that runs on one instance. With one instance (dev,
# staging) an instance failure stops the trigger AND the sweep until App Service replaces the
# instance: nothing is lost (entries wait in the 24 h window and the sweep catches up), but analysis
# lags for those minutes and the analysis-lag alert fires.
resource "azurerm_service_plan" "functions" {
  #checkov:skip=CKV_AZURE_225:zone redundancy needs three or more instances; two consumers (prod) already survive an instance loss and the sweep catches up what a replacement missed
  #checkov:skip=CKV_AZURE_212:the instance count is set per environment by function_worker_count (prod 2); with one instance an outage delays analysis (lag alert) but loses nothing, see the comment above
  name                = "asp-${local.name_prefix}-functions"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  os_type             = "Linux"
  sku_name            = var.function_plan_sku
  worker_count        = var.function_worker_count
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
  public_network_access_enabled   = local.deployer_public_access
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

    # Kudu (zip deploy): the operator's permanent ranges, and the address deploy.sh opens for one
    # deploy under the same rule name it uses with az (deploy-session-N), so the two never fight.
    dynamic "scm_ip_restriction" {
      for_each = var.deployer_ip_ranges
      content {
        name       = "deployer-${scm_ip_restriction.key}"
        action     = "Allow"
        priority   = 100 + scm_ip_restriction.key
        ip_address = scm_ip_restriction.value
      }
    }

    dynamic "scm_ip_restriction" {
      for_each = var.deploy_session_ip_ranges
      content {
        name       = "deploy-session-${scm_ip_restriction.key}"
        action     = "Allow"
        priority   = 90 + scm_ip_restriction.key
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
    # identity form ONLY: the extension throws when both REDIS_CONNECTION_STRING and
    # REDIS_CONNECTION_STRING__redisHostName are set, and throws at listener start when __principalId
    # (the identity's OBJECT id, the Redis user name) is missing (RedisUtilities.cs). A user-assigned
    # identity also needs __clientId to pick it. The forwarder's dead-letter writes read the same three.
    "REDIS_CONNECTION_STRING__redisHostName" = "${local.redis_host}:${local.redis_port}"
    "REDIS_CONNECTION_STRING__principalId"   = azurerm_user_assigned_identity.function.principal_id
    "REDIS_CONNECTION_STRING__clientId"      = azurerm_user_assigned_identity.function.client_id
    "REDIS_CONNECTION_STRING__credential"    = "managedidentity"

    "STREAM_KEY"        = var.stream_key
    "SWEEP_SCHEDULE"    = var.sweep_schedule
    "ENVIRONMENT"       = var.environment
    "FASTAPI_ENDPOINT"  = local.fastapi_endpoint_reference
    "ANALYZER_API_KEY"  = local.analyzer_api_key_reference
    "AZURE_CLIENT_ID"   = azurerm_user_assigned_identity.function.client_id
    "FORWARD_TIMEOUT_S" = "30"
    "FORWARD_ATTEMPTS"  = "4"

    # deploy.sh publishes a source zip; build the Python dependencies on the platform. Not
    # ENABLE_ORYX_BUILD: `config-zip --build-remote true` removes that setting on every deploy, so
    # Terraform setting it would put it back each apply (drift and a restart per deploy).
    "SCM_DO_BUILD_DURING_DEPLOYMENT" = "true"
  }

  depends_on = [
    azurerm_role_assignment.main["function_secrets"],
    azurerm_role_assignment.main["function_storage_blob"],
    azurerm_role_assignment.main["function_storage_queue"],
    azurerm_role_assignment.main["function_storage_table"],
    azurerm_private_endpoint.storage,
  ]
}
