# dev: smallest sizes, no persistence, one of everything.
environment                     = "dev"
location                        = "westeurope"
openai_location                 = "swedencentral"
managed_redis_sku_name          = "Balanced_B0"
redis_high_availability_enabled = false
cosmos_backup_tier              = "Continuous7Days"
function_plan_sku               = "B1"
app_service_plan_sku            = "B1"
analyzer_min_replicas           = 1
analyzer_max_replicas           = 2
openai_capacity                 = 10
log_retention_days              = 30
vnet_address_space              = ["10.40.0.0/16"]
subnet_cidrs = {
  functions         = "10.40.1.0/26"
  app_service       = "10.40.1.64/26"
  container_apps    = "10.40.2.0/23"
  private_endpoints = "10.40.4.0/24"
}
tags = {
  cost_center = "plant-analytics-dev"
}
