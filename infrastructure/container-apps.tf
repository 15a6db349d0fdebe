# The analyzer service: an internal Container Apps environment in the VNet (no public ingress)
# and the analyzer app, pulled from the private registry with its managed identity, with health
# probes and an HTTP concurrency scale rule. It serves POST /api/v1/analyze (called by the
# stream-triggered function) and POST /api/v1/sweep (called by the timer function).
#
# Tier 3 (LLM explanations) runs in the same process: `sensor-analyzer api` also runs the
# explanation consumer (EXPLAIN_CONSUMER_ENABLED=true), a member of the Redis consumer group
# "explainer" on "{<stream>}:alarm-events". Every replica runs one consumer and the group shares the
# events between them, so each new or escalated alarm is explained once whatever the replica count
# (contexts deferred by an outage or the budget wait in one Redis retry queue, claimed by one replica);
# scaling out for HTTP load adds consumers, never duplicate explanations. min_replicas >= 1 (the
# variable refuses 0) so there is always a consumer: with scale-to-zero, events would wait until
# the next HTTP request woke a replica. Azure OpenAI is reached with the analyzer's identity
# (Cognitive Services OpenAI User, no key) through the private endpoint.

locals {
  analyzer_enabled = var.analyzer_image_tag != null
  analyzer_image   = "${azurerm_container_registry.main.login_server}/${var.analyzer_image_name}:${coalesce(var.analyzer_image_tag, "unset")}"
  # The analyzer's URL inside the VNet; empty until the first image exists (see analyzer_image_tag).
  analyzer_url = local.analyzer_enabled ? "https://${azurerm_container_app.analyzer[0].ingress[0].fqdn}" : ""
  # cloud_RoleName of the analyzer's telemetry (OpenTelemetry service.name); the alerts filter on it.
  analyzer_service_name = "sensor-analyzer"
  # The Redis trigger's consumer group is named after its function (functions/ForwardStreamEntry).
  trigger_consumer_group = "ForwardStreamEntry"
}

resource "azurerm_container_app_environment" "main" {
  name                               = "cae-${local.name_prefix}"
  location                           = azurerm_resource_group.main.location
  resource_group_name                = azurerm_resource_group.main.name
  log_analytics_workspace_id         = azurerm_log_analytics_workspace.main.id
  infrastructure_subnet_id           = azurerm_subnet.container_apps.id
  infrastructure_resource_group_name = "rg-${local.name_prefix}-cae-infra"
  internal_load_balancer_enabled     = true
  zone_redundancy_enabled            = local.is_prod
  tags                               = local.tags

  workload_profile {
    name                  = "Consumption"
    workload_profile_type = "Consumption"
  }
}

# An internal environment gets no public DNS: resolve its apps' names inside the VNet.
resource "azurerm_private_dns_zone" "container_apps" {
  name                = azurerm_container_app_environment.main.default_domain
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_private_dns_a_record" "container_apps_wildcard" {
  name                = "*"
  zone_name           = azurerm_private_dns_zone.container_apps.name
  resource_group_name = azurerm_resource_group.main.name
  ttl                 = 300
  records             = [azurerm_container_app_environment.main.static_ip_address]
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "container_apps" {
  name                  = "link-container-apps"
  resource_group_name   = azurerm_resource_group.main.name
  private_dns_zone_name = azurerm_private_dns_zone.container_apps.name
  virtual_network_id    = azurerm_virtual_network.main.id
  registration_enabled  = false
  tags                  = local.tags
}

resource "azurerm_container_app" "analyzer" {
  count = local.analyzer_enabled ? 1 : 0

  name                         = "ca-${local.name_prefix}-analyzer"
  container_app_environment_id = azurerm_container_app_environment.main.id
  resource_group_name          = azurerm_resource_group.main.name
  revision_mode                = "Single"
  workload_profile_name        = "Consumption"
  tags                         = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.analyzer.id]
  }

  registry {
    server   = azurerm_container_registry.main.login_server
    identity = azurerm_user_assigned_identity.analyzer.id
  }

  secret {
    name                = "analyzer-api-key"
    key_vault_secret_id = azurerm_key_vault_secret.analyzer_api_key.versionless_id
    identity            = azurerm_user_assigned_identity.analyzer.id
  }

  # The documented settings, resolved from Key Vault with the analyzer's identity.
  dynamic "secret" {
    for_each = toset(local.analyzer_key_vault_settings)
    content {
      name                = local.key_vault_secret_names[secret.value]
      key_vault_secret_id = azurerm_key_vault_secret.settings[secret.value].versionless_id
      identity            = azurerm_user_assigned_identity.analyzer.id
    }
  }

  # Only reachable from inside the VNet: the environment's load balancer is internal.
  ingress {
    external_enabled           = true
    target_port                = local.analyzer_port
    transport                  = "http"
    allow_insecure_connections = false

    traffic_weight {
      latest_revision = true
      percentage      = 100
    }
  }

  template {
    min_replicas = var.analyzer_min_replicas
    max_replicas = var.analyzer_max_replicas

    container {
      name   = "analyzer"
      image  = local.analyzer_image
      cpu    = var.analyzer_cpu
      memory = var.analyzer_memory

      # Documented settings: from Key Vault (secret names as in key-vault.tf).
      dynamic "env" {
        for_each = toset(local.analyzer_key_vault_settings)
        content {
          name        = env.value
          secret_name = local.key_vault_secret_names[env.value]
        }
      }
      env {
        name        = "ANALYZER_API_KEY"
        secret_name = "analyzer-api-key"
      }
      env {
        name  = "ENVIRONMENT"
        value = var.environment
      }
      # No password in REDIS_CONNECTION_STRING: the analyzer authenticates with its managed
      # identity's Entra ID token.
      env {
        name  = "REDIS_ENTRA_AUTH"
        value = "true"
      }
      env {
        name  = "STREAM_KEY"
        value = var.stream_key
      }
      env {
        name  = "STORE_BACKEND"
        value = "cosmos"
      }
      env {
        name  = "COSMOS_DB_CREATE_IF_MISSING"
        value = "false"
      }
      env {
        name  = "LLM_PROVIDER"
        value = "azure-openai"
      }
      env {
        name  = "OPENAI_API_VERSION"
        value = "2024-10-21"
      }
      # Tier 3's consumer group runs in every replica (see the comment at the top).
      env {
        name  = "EXPLAIN_CONSUMER_ENABLED"
        value = "true"
      }
      # Telemetry: the role name the alerts filter on, and the consumer group whose oldest
      # unanalysed entry is the exported analysis lag (the trigger's group is its function's name).
      env {
        name  = "OTEL_SERVICE_NAME"
        value = local.analyzer_service_name
      }
      env {
        name  = "PIPELINE_LAG_GROUP"
        value = local.trigger_consumer_group
      }
      # DefaultAzureCredential picks the user-assigned identity (Redis, Cosmos DB, Azure OpenAI).
      env {
        name  = "AZURE_CLIENT_ID"
        value = azurerm_user_assigned_identity.analyzer.client_id
      }

      startup_probe {
        transport               = "HTTP"
        port                    = local.analyzer_port
        path                    = var.analyzer_health_path
        interval_seconds        = 5
        failure_count_threshold = 30
      }

      liveness_probe {
        transport               = "HTTP"
        port                    = local.analyzer_port
        path                    = var.analyzer_health_path
        interval_seconds        = 10
        failure_count_threshold = 3
      }

      readiness_probe {
        transport               = "HTTP"
        port                    = local.analyzer_port
        path                    = var.analyzer_health_path
        interval_seconds        = 10
        failure_count_threshold = 3
        success_count_threshold = 1
      }
    }

    http_scale_rule {
      name                = "http-concurrency"
      concurrent_requests = tostring(var.analyzer_concurrent_requests)
    }
  }

  depends_on = [
    azurerm_role_assignment.main["analyzer_image_pull"],
    azurerm_role_assignment.main["analyzer_secrets"],
    azurerm_role_assignment.main["analyzer_openai"],
  ]
}
