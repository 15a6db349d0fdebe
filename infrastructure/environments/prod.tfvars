# prod: replicated Redis with hourly snapshots, 30-day point-in-time restore, resource locks
# (added automatically for environment = "prod"), two function instances (two trigger consumers),
# two dashboard instances.
environment                     = "prod"
location                        = "westeurope"
openai_location                 = "swedencentral"
managed_redis_sku_name          = "Balanced_B1"
redis_high_availability_enabled = true
redis_persistence_rdb_frequency = "1h"
cosmos_backup_tier              = "Continuous30Days"
function_plan_sku               = "P1v3"
function_worker_count           = 2
app_service_plan_sku            = "P1v3"
app_service_worker_count        = 2
analyzer_min_replicas           = 2
analyzer_max_replicas           = 5
openai_deployment_sku           = "DataZoneStandard"
openai_capacity                 = 30
log_retention_days              = 90
vnet_address_space              = ["10.42.0.0/16"]
subnet_cidrs = {
  functions         = "10.42.1.0/26"
  app_service       = "10.42.1.64/26"
  container_apps    = "10.42.2.0/23"
  private_endpoints = "10.42.4.0/24"
}
tags = {
  cost_center = "plant-analytics-prod"
  criticality = "high"
}
