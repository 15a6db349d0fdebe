# staging: production shape at smaller scale, so deploys are rehearsed on the same topology.
environment                     = "staging"
location                        = "westeurope"
openai_location                 = "swedencentral"
managed_redis_sku_name          = "Balanced_B1"
redis_high_availability_enabled = true
redis_persistence_rdb_frequency = "12h"
cosmos_backup_tier              = "Continuous7Days"
function_plan_sku               = "P0v3"
app_service_plan_sku            = "P0v3"
analyzer_min_replicas           = 1
analyzer_max_replicas           = 3
openai_capacity                 = 20
log_retention_days              = 30
vnet_address_space              = ["10.41.0.0/16"]
subnet_cidrs = {
  functions         = "10.41.1.0/26"
  app_service       = "10.41.1.64/26"
  container_apps    = "10.41.2.0/23"
  private_endpoints = "10.41.4.0/24"
}
tags = {
  cost_center = "plant-analytics-staging"
}
