# Log Analytics, workspace-based Application Insights, one action group and the alerts the seeds
# name: Redis memory over 80 %, Cosmos DB normalized RU consumption, function errors, API response
# time over 30 s, analyzer CPU over 80 %, and analysis lag over one minute; plus API server errors,
# Cosmos DB request-unit spikes (serverless bills per RU) and dead letters.
#
# The analyzer and the dashboard API export OpenTelemetry traces, metrics and logs to Application
# Insights (analyzer/telemetry.py, azure-monitor-opentelemetry) under the role names below; the lag
# alert reads the analyzer's own gauge, the age of the oldest entry its trigger's consumer group has
# not delivered or acknowledged yet.

resource "azurerm_log_analytics_workspace" "main" {
  name                = "log-${local.name_prefix}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = local.tags
}

resource "azurerm_application_insights" "main" {
  name                = "appi-${local.name_prefix}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  workspace_id        = azurerm_log_analytics_workspace.main.id
  application_type    = "web"
  tags                = local.tags
}

resource "azurerm_monitor_action_group" "operations" {
  name                = "ag-${local.name_prefix}-operations"
  resource_group_name = azurerm_resource_group.main.name
  short_name          = substr("sa${var.environment}ops", 0, 12)
  tags                = local.tags

  dynamic "email_receiver" {
    for_each = var.alert_email_addresses
    content {
      name                    = "email-${email_receiver.key}"
      email_address           = email_receiver.value
      use_common_alert_schema = true
    }
  }
}

resource "azurerm_monitor_diagnostic_setting" "key_vault" {
  name                       = "diag-key-vault"
  target_resource_id         = azurerm_key_vault.main.id
  log_analytics_workspace_id = azurerm_log_analytics_workspace.main.id

  enabled_log {
    category = "AuditEvent"
  }
}

# --- Metric alerts ------------------------------------------------------------------------------

resource "azurerm_monitor_metric_alert" "redis_memory" {
  name                = "alert-${local.name_prefix}-redis-memory"
  resource_group_name = azurerm_resource_group.main.name
  scopes              = [local.redis_id]
  description         = "Redis memory above ${var.alert_thresholds.redis_memory_percent}%: the 24-hour window is not being trimmed or the SKU is too small (eviction is off, writes will fail)."
  severity            = 2
  frequency           = "PT5M"
  window_size         = "PT15M"
  tags                = local.tags

  criteria {
    metric_namespace = local.use_managed_redis ? "Microsoft.Cache/redisEnterprise" : "Microsoft.Cache/redis"
    metric_name      = "usedmemorypercentage"
    aggregation      = "Maximum"
    operator         = "GreaterThan"
    threshold        = var.alert_thresholds.redis_memory_percent
  }

  action {
    action_group_id = azurerm_monitor_action_group.operations.id
  }
}

# Normalized RU consumption: the share of the RU/s ceiling the busiest partition used (a serverless
# account's ceiling is per partition); 100 % means requests are being throttled (429).
resource "azurerm_monitor_metric_alert" "cosmos_normalized_ru" {
  name                = "alert-${local.name_prefix}-cosmos-normalized-ru"
  resource_group_name = azurerm_resource_group.main.name
  scopes              = [azurerm_cosmosdb_account.main.id]
  description         = "Cosmos DB normalized RU consumption above ${var.alert_thresholds.cosmos_normalized_ru_percent}%: requests are about to be throttled (429)."
  severity            = 2
  frequency           = "PT5M"
  window_size         = "PT15M"
  tags                = local.tags

  criteria {
    metric_namespace = "Microsoft.DocumentDB/databaseAccounts"
    metric_name      = "NormalizedRUConsumption"
    aggregation      = "Maximum"
    operator         = "GreaterThan"
    threshold        = var.alert_thresholds.cosmos_normalized_ru_percent
  }

  action {
    action_group_id = azurerm_monitor_action_group.operations.id
  }
}

resource "azurerm_monitor_metric_alert" "cosmos_request_units" {
  name                = "alert-${local.name_prefix}-cosmos-request-units"
  resource_group_name = azurerm_resource_group.main.name
  scopes              = [azurerm_cosmosdb_account.main.id]
  description         = "Cosmos DB consumed more than ${var.alert_thresholds.cosmos_request_units_per_5m} request units in 5 minutes: a query or replay is spiking (serverless bills per RU)."
  severity            = 2
  frequency           = "PT5M"
  window_size         = "PT5M"
  tags                = local.tags

  criteria {
    metric_namespace = "Microsoft.DocumentDB/databaseAccounts"
    metric_name      = "TotalRequestUnits"
    aggregation      = "Total"
    operator         = "GreaterThan"
    threshold        = var.alert_thresholds.cosmos_request_units_per_5m
  }

  action {
    action_group_id = azurerm_monitor_action_group.operations.id
  }
}

resource "azurerm_monitor_metric_alert" "response_time" {
  name                = "alert-${local.name_prefix}-response-time"
  resource_group_name = azurerm_resource_group.main.name
  scopes              = [azurerm_application_insights.main.id]
  description         = "Average API request duration above ${var.alert_thresholds.response_time_seconds} s (analyzer, dashboard API)."
  severity            = 2
  frequency           = "PT5M"
  window_size         = "PT5M"
  tags                = local.tags

  criteria {
    metric_namespace = "microsoft.insights/components"
    metric_name      = "requests/duration"
    aggregation      = "Average"
    operator         = "GreaterThan"
    threshold        = var.alert_thresholds.response_time_seconds * 1000

    # The APIs' request spans only (their OpenTelemetry service names); function executions, whose
    # duration includes the forwarder's retries, have their own failure alert.
    dimension {
      name     = "cloud/roleName"
      operator = "Include"
      values   = local.api_role_names
    }
  }

  action {
    action_group_id = azurerm_monitor_action_group.operations.id
  }
}

resource "azurerm_monitor_metric_alert" "container_app_cpu" {
  count = local.analyzer_enabled ? 1 : 0

  name                = "alert-${local.name_prefix}-analyzer-cpu"
  resource_group_name = azurerm_resource_group.main.name
  scopes              = [azurerm_container_app.analyzer[0].id]
  description         = "Analyzer CPU above ${var.alert_thresholds.container_app_cpu_percent}% of its ${var.analyzer_cpu} vCPU."
  severity            = 2
  frequency           = "PT5M"
  window_size         = "PT15M"
  tags                = local.tags

  criteria {
    metric_namespace = "Microsoft.App/containerApps"
    metric_name      = "UsageNanoCores"
    aggregation      = "Average"
    operator         = "GreaterThan"
    # Percent of the replica's vCPU, in nano-cores.
    threshold = var.analyzer_cpu * 1000000000 * var.alert_thresholds.container_app_cpu_percent / 100
  }

  action {
    action_group_id = azurerm_monitor_action_group.operations.id
  }
}

# --- Log alerts on Application Insights ------------------------------------------------------------

locals {
  function_app_name = "func-${local.name_prefix}-${local.unique_suffix}"
  # OpenTelemetry service.name = Application Insights cloud_RoleName of the two APIs.
  api_role_names = [local.analyzer_service_name, "dashboard-api"]
  # Metric names the analyzer exports (analyzer/telemetry.py; tests/infrastructure compares them).
  pipeline_lag_metric  = "analyzer.pipeline.lag"
  dead_lettered_metric = "analyzer.entries.dead_lettered"

  log_alerts = {
    function_failures = {
      description = "More than ${var.alert_thresholds.function_failures_per_5m} failed function executions in 5 minutes (forward or sweep failing)."
      severity    = 1
      query       = <<-KQL
        requests
        | where cloud_RoleName =~ "${local.function_app_name}"
        | where success == false
      KQL
      aggregation = "Count"
      measure     = null
      threshold   = var.alert_thresholds.function_failures_per_5m
    }
    api_server_errors = {
      description = "The analyzer or the dashboard API answered 5xx in the last 5 minutes."
      severity    = 1
      query       = <<-KQL
        requests
        | where cloud_RoleName in (${join(", ", [for name in local.api_role_names : "\"${name}\""])})
        | where toint(resultCode) >= 500
      KQL
      aggregation = "Count"
      measure     = null
      threshold   = 0
    }
    analysis_lag = {
      description = "The oldest entry on ${var.stream_key} that the trigger's consumer group has not analysed is older than ${var.alert_thresholds.pipeline_lag_seconds} s (trigger stopped, function instance down or analyzer too slow)."
      severity    = 1
      query       = <<-KQL
        customMetrics
        | where name == "${local.pipeline_lag_metric}"
        | where tostring(customDimensions["group"]) == "${local.trigger_consumer_group}"
        | extend lag_s = todouble(value)
      KQL
      aggregation = "Maximum"
      measure     = "lag_s"
      threshold   = var.alert_thresholds.pipeline_lag_seconds
    }
    dead_letters = {
      description = "Entries went to the dead-letter stream ${var.stream_key}:dead (forwarder or analyzer); the sweep retries what the forwarder lost, but something is failing."
      severity    = 2
      query       = <<-KQL
        union
          (traces
            | where cloud_RoleName =~ "${local.function_app_name}"
            | where message has "dead-lettered"
            | extend entries = 1.0),
          (customMetrics
            | where name == "${local.dead_lettered_metric}"
            | extend entries = todouble(valueSum))
      KQL
      aggregation = "Total"
      measure     = "entries"
      threshold   = 0
    }
  }
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "main" {
  for_each = local.log_alerts

  name                 = "alert-${local.name_prefix}-${replace(each.key, "_", "-")}"
  location             = azurerm_resource_group.main.location
  resource_group_name  = azurerm_resource_group.main.name
  scopes               = [azurerm_application_insights.main.id]
  description          = each.value.description
  severity             = each.value.severity
  evaluation_frequency = "PT5M"
  window_duration      = "PT5M"
  enabled              = true
  tags                 = local.tags

  criteria {
    query                   = each.value.query
    time_aggregation_method = each.value.aggregation
    metric_measure_column   = each.value.measure
    operator                = "GreaterThan"
    threshold               = each.value.threshold

    failing_periods {
      minimum_failing_periods_to_trigger_alert = 1
      number_of_evaluation_periods             = 1
    }
  }

  action {
    action_groups = [azurerm_monitor_action_group.operations.id]
  }
}
