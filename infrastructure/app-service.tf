# The dashboard and operator API (FastAPI, package dashboard_api) on App Service: HTTPS only,
# Entra ID sign-in in front of every request, VNet integration (all outbound through the VNet to
# the private endpoints), a managed identity, secrets as Key Vault references.

locals {
  # dashboard_api's liveness route (GET /healthz answers 200 JSON without touching Redis or the
  # store); readiness is /readyz. App Service evicts an instance whose health check fails, so this
  # must be the liveness route, not readiness.
  dashboard_health_path = "/healthz"
  # App Service Linux (Python) runs the startup command in the app's directory after Oryx installed
  # the zip's requirements.txt (which installs this project, hence dashboard_api). The platform
  # forwards to port 8000 and terminates TLS in front, so uvicorn trusts its X-Forwarded-* headers.
  dashboard_startup_command = "python -m uvicorn dashboard_api.main:app --host 0.0.0.0 --port 8000 --proxy-headers --forwarded-allow-ips=*"
}

resource "azurerm_service_plan" "dashboard" {
  #checkov:skip=CKV_AZURE_225:zone redundancy needs three or more instances; app_service_worker_count sets the count per environment
  #checkov:skip=CKV_AZURE_212:the instance count is set per environment by app_service_worker_count
  name                = "asp-${local.name_prefix}-dashboard"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  os_type             = "Linux"
  sku_name            = var.app_service_plan_sku
  worker_count        = var.app_service_worker_count
  tags                = local.tags
}

resource "azurerm_linux_web_app" "dashboard" {
  #checkov:skip=CKV_AZURE_222:operators reach the dashboard from the plant network and the internet; Entra ID sign-in (auth_settings_v2) guards every request and dashboard_allowed_ip_ranges can narrow it
  #checkov:skip=CKV_AZURE_17:client certificates are replaced by Entra ID sign-in
  #checkov:skip=CKV_AZURE_88:the app keeps no files; state lives in Cosmos DB and Redis
  name                            = "app-${local.name_prefix}-dashboard-${local.unique_suffix}"
  location                        = azurerm_resource_group.main.location
  resource_group_name             = azurerm_resource_group.main.name
  service_plan_id                 = azurerm_service_plan.dashboard.id
  https_only                      = true
  public_network_access_enabled   = true
  virtual_network_subnet_id       = azurerm_subnet.app_service.id
  key_vault_reference_identity_id = azurerm_user_assigned_identity.dashboard.id
  client_affinity_enabled         = false
  tags                            = local.tags

  ftp_publish_basic_authentication_enabled       = false
  webdeploy_publish_basic_authentication_enabled = false

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.dashboard.id]
  }

  site_config {
    always_on                         = true
    ftps_state                        = "Disabled"
    minimum_tls_version               = "1.2"
    scm_minimum_tls_version           = "1.2"
    http2_enabled                     = true
    vnet_route_all_enabled            = true
    health_check_path                 = local.dashboard_health_path
    health_check_eviction_time_in_min = 5
    app_command_line                  = local.dashboard_startup_command
    ip_restriction_default_action     = length(var.dashboard_allowed_ip_ranges) > 0 ? "Deny" : "Allow"
    scm_ip_restriction_default_action = "Deny"
    scm_use_main_ip_restriction       = false

    dynamic "ip_restriction" {
      for_each = var.dashboard_allowed_ip_ranges
      content {
        name       = "operators-${ip_restriction.key}"
        action     = "Allow"
        priority   = 100 + ip_restriction.key
        ip_address = ip_restriction.value
      }
    }

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

  auth_settings_v2 {
    auth_enabled           = true
    require_authentication = true
    require_https          = true
    unauthenticated_action = "RedirectToLoginPage"
    default_provider       = "azureactivedirectory"
    excluded_paths         = [local.dashboard_health_path]

    active_directory_v2 {
      client_id            = var.dashboard_auth_client_id
      tenant_auth_endpoint = "https://login.microsoftonline.com/${data.azurerm_client_config.current.tenant_id}/v2.0"
      allowed_audiences    = ["api://${var.dashboard_auth_client_id}", var.dashboard_auth_client_id]
    }

    login {
      token_store_enabled = true
    }
  }

  logs {
    detailed_error_messages = true
    failed_request_tracing  = true

    http_logs {
      file_system {
        retention_in_days = 7
        retention_in_mb   = 35
      }
    }
  }

  # Every documented setting comes from Key Vault (one place per environment to read them);
  # the rest are switches, not configuration values.
  app_settings = {
    "REDIS_CONNECTION_STRING"                = local.key_vault_references["REDIS_CONNECTION_STRING"]
    "COSMOS_DB_ENDPOINT"                     = local.key_vault_references["COSMOS_DB_ENDPOINT"]
    "COSMOS_DB_DATABASE_NAME"                = local.key_vault_references["COSMOS_DB_DATABASE_NAME"]
    "APPLICATION_INSIGHTS_CONNECTION_STRING" = local.key_vault_references["APPLICATION_INSIGHTS_CONNECTION_STRING"]
    "FASTAPI_ENDPOINT"                       = local.fastapi_endpoint_reference
    "ANALYZER_API_KEY"                       = local.analyzer_api_key_reference
    "ENVIRONMENT"                            = var.environment
    "REDIS_ENTRA_AUTH"                       = "true"
    "STREAM_KEY"                             = var.stream_key
    "STORE_BACKEND"                          = "cosmos"
    "COSMOS_DB_CREATE_IF_MISSING"            = "false"
    "OTEL_SERVICE_NAME"                      = "dashboard-api"
    "AZURE_CLIENT_ID"                        = azurerm_user_assigned_identity.dashboard.client_id
    "SCM_DO_BUILD_DURING_DEPLOYMENT"         = "true"
    # dashboard_api refuses to start outside development without an identity provider: it
    # validates the bearer tokens Easy Auth forwards against the same app registration.
    "DASHBOARD_ENTRA_TENANT_ID" = data.azurerm_client_config.current.tenant_id
    "DASHBOARD_ENTRA_AUDIENCES" = jsonencode(["api://${var.dashboard_auth_client_id}", var.dashboard_auth_client_id])
  }

  depends_on = [azurerm_role_assignment.main["dashboard_secrets"]]
}
