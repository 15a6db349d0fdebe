# Inputs. Every value that can be wrong is validated, with the expected form in the message.

# --- Identity of the deployment ---------------------------------------------------------

variable "subscription_id" {
  description = "Azure subscription to deploy into (deploy.sh checks `az account show` matches it)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", var.subscription_id))
    error_message = "subscription_id must be a GUID, e.g. 00000000-0000-0000-0000-000000000000."
  }
}

variable "project_name" {
  description = "Short project name, the first part of every resource name."
  type        = string
  default     = "sensan"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,9}$", var.project_name))
    error_message = "project_name must be 3-10 lower-case letters or digits starting with a letter, e.g. \"sensan\"."
  }
}

variable "environment" {
  description = "Deployment environment; prod adds resource locks and stricter defaults."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of: dev, staging, prod."
  }
}

variable "location" {
  description = "Azure region for every resource except Azure OpenAI (see openai_location)."
  type        = string
  default     = "westeurope"

  validation {
    condition     = can(regex("^[a-z]+[a-z0-9]*$", var.location))
    error_message = "location must be a region's programmatic name, e.g. \"westeurope\" (lower case, no spaces)."
  }
}

variable "tags" {
  description = "Extra tags merged into every resource's tags (project, environment and managed_by are always set)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for key, value in var.tags : length(key) <= 512 && length(value) <= 256 && !can(regex("[<>%&\\\\?/]", key))])
    error_message = "tags: names at most 512 characters without < > % & \\ ? /, values at most 256 characters."
  }
}

# --- Network ----------------------------------------------------------------------------

variable "vnet_address_space" {
  description = "Address space of the virtual network that holds every subnet."
  type        = list(string)
  default     = ["10.40.0.0/16"]

  validation {
    condition     = length(var.vnet_address_space) > 0 && alltrue([for cidr in var.vnet_address_space : can(cidrhost(cidr, 0))])
    error_message = "vnet_address_space must be a non-empty list of CIDR blocks, e.g. [\"10.40.0.0/16\"]."
  }
}

variable "subnet_cidrs" {
  description = "CIDR of each subnet: function and app service VNet integration, the container apps environment (at least /27 with workload profiles), private endpoints."
  type = object({
    functions         = string
    app_service       = string
    container_apps    = string
    private_endpoints = string
  })
  default = {
    functions         = "10.40.1.0/26"
    app_service       = "10.40.1.64/26"
    container_apps    = "10.40.2.0/23"
    private_endpoints = "10.40.4.0/24"
  }

  validation {
    condition     = alltrue([for cidr in values(var.subnet_cidrs) : can(cidrhost(cidr, 0))])
    error_message = "Every subnet_cidrs entry must be a CIDR block, e.g. \"10.40.1.0/26\"."
  }

  validation {
    condition     = tonumber(split("/", var.subnet_cidrs.container_apps)[1]) <= 27
    error_message = "subnet_cidrs.container_apps must be /27 or larger (a workload-profiles environment needs at least /27)."
  }
}

variable "deployer_ip_ranges" {
  description = "Public CIDR ranges ALWAYS allowed through the Key Vault and registry firewalls and to the Kudu (SCM) sites (e.g. a fixed CI egress). Usually empty: deploy.sh opens the caller's own address for the duration of a deploy (deploy_session_ip_ranges) and closes it afterwards."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.deployer_ip_ranges : can(cidrhost(cidr, 0))])
    error_message = "deployer_ip_ranges must be CIDR blocks, e.g. [\"203.0.113.10/32\"]."
  }
}

variable "deploy_session_ip_ranges" {
  description = "Set by deploy.sh/destroy.sh, not by hand: the caller's public address (/32) while one deploy runs. deploy.sh opens it with az before planning (so the plan can read Key Vault secrets), passes it here so Terraform agrees, and removes it on exit, also on failure."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.deploy_session_ip_ranges : can(cidrhost(cidr, 0))])
    error_message = "deploy_session_ip_ranges must be CIDR blocks, e.g. [\"203.0.113.10/32\"]."
  }
}

variable "deployment_runner_subnet_cidr" {
  description = "CIDR of a subnet for a self-hosted deployment runner inside the VNet (adds the subnet and private endpoints for the function and dashboard Kudu sites; deploy with ./deploy.sh --from-vnet). null = none: deploy.sh opens the caller's address instead."
  type        = string
  default     = null
  nullable    = true

  validation {
    condition     = var.deployment_runner_subnet_cidr == null || can(cidrhost(coalesce(var.deployment_runner_subnet_cidr, "x"), 0))
    error_message = "deployment_runner_subnet_cidr must be null or a CIDR block inside vnet_address_space, e.g. \"10.40.5.0/27\"."
  }
}

variable "dashboard_allowed_ip_ranges" {
  description = "Public CIDR ranges allowed to reach the dashboard/operator API (Entra ID sign-in applies either way). Empty = any address."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.dashboard_allowed_ip_ranges : can(cidrhost(cidr, 0))])
    error_message = "dashboard_allowed_ip_ranges must be CIDR blocks, e.g. [\"198.51.100.0/24\"]."
  }
}

# --- Redis: the 24-hour window -----------------------------------------------------------

variable "redis_flavour" {
  description = "\"managed\" = Azure Managed Redis (default; Azure Cache for Redis is retiring). \"cache_premium\" = Azure Cache for Redis Premium, only for tenants that still run it."
  type        = string
  default     = "managed"

  validation {
    condition     = contains(["managed", "cache_premium"], var.redis_flavour)
    error_message = "redis_flavour must be \"managed\" or \"cache_premium\"."
  }
}

variable "managed_redis_sku_name" {
  description = "Azure Managed Redis SKU. 24 h of one ~100-sensor payload every 10 s is ~8,640 entries (tens of MB): Balanced_B0/B1 is plenty."
  type        = string
  default     = "Balanced_B1"

  validation {
    condition     = can(regex("^(Balanced_B|ComputeOptimized_X|MemoryOptimized_M|FlashOptimized_A)[0-9]+$", var.managed_redis_sku_name))
    error_message = "managed_redis_sku_name must be an Azure Managed Redis SKU such as Balanced_B0, Balanced_B1, MemoryOptimized_M10."
  }
}

variable "managed_redis_clustering_policy" {
  description = "EnterpriseCluster exposes one endpoint that non-cluster clients (redis-py, the Functions extension) can use; NoCluster avoids cross-slot limits on multi-key commands where the SKU allows it."
  type        = string
  default     = "EnterpriseCluster"

  validation {
    condition     = contains(["EnterpriseCluster", "NoCluster"], var.managed_redis_clustering_policy)
    error_message = "managed_redis_clustering_policy must be EnterpriseCluster or NoCluster (OSSCluster needs cluster-aware clients)."
  }
}

variable "redis_high_availability_enabled" {
  description = "Replicated Azure Managed Redis (a second node). Changing it replaces the instance."
  type        = bool
  default     = true
}

variable "redis_persistence_rdb_frequency" {
  description = "RDB snapshot frequency for Azure Managed Redis (1h, 6h or 12h), or null for no persistence (the window can be rebuilt from the landing)."
  type        = string
  default     = null
  nullable    = true

  validation {
    condition     = var.redis_persistence_rdb_frequency == null || contains(["1h", "6h", "12h"], coalesce(var.redis_persistence_rdb_frequency, "1h"))
    error_message = "redis_persistence_rdb_frequency must be null, \"1h\", \"6h\" or \"12h\"."
  }
}

variable "redis_cache_premium_capacity" {
  description = "Azure Cache for Redis Premium size P1..P5 (only with redis_flavour = \"cache_premium\")."
  type        = number
  default     = 1

  validation {
    condition     = contains([1, 2, 3, 4, 5], var.redis_cache_premium_capacity)
    error_message = "redis_cache_premium_capacity must be 1, 2, 3, 4 or 5 (P1..P5)."
  }
}

variable "redis_access_keys_enabled" {
  description = "Keep access-key authentication on the Redis database (the key then goes to Key Vault). Every client authenticates with its managed identity's Entra ID token (the analyzer and dashboard with REDIS_ENTRA_AUTH, the function with __redisHostName), so keys stay off unless a tool needs one."
  type        = bool
  default     = false
}

variable "stream_key" {
  description = "Redis stream the landing writes and the function is triggered by (STREAM_KEY). Never give it a TTL: the consumer group lives inside it."
  type        = string
  default     = "sensors:readings"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.:{}-]{1,200}$", var.stream_key))
    error_message = "stream_key must be 1-200 characters of letters, digits and _ . : { } -, e.g. \"sensors:readings\"."
  }
}

# --- Cosmos DB -------------------------------------------------------------------------

variable "cosmos_database_name" {
  description = "Cosmos DB SQL database holding the four containers (COSMOS_DB_DATABASE_NAME)."
  type        = string
  default     = "sensor-analyzer"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,62}$", var.cosmos_database_name))
    error_message = "cosmos_database_name must be 1-63 letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "cosmos_backup_tier" {
  description = "Continuous backup tier: Continuous7Days (free) or Continuous30Days (point-in-time restore over 30 days)."
  type        = string
  default     = "Continuous7Days"

  validation {
    condition     = contains(["Continuous7Days", "Continuous30Days"], var.cosmos_backup_tier)
    error_message = "cosmos_backup_tier must be Continuous7Days or Continuous30Days."
  }
}

# --- Compute ------------------------------------------------------------------------------

variable "function_plan_sku" {
  description = "Dedicated (App Service) plan SKU for the function app. Redis triggers do not run on Consumption or Flex Consumption; a dedicated plan with Always On keeps the stream listener alive and needs no Azure Files content share, so storage can stay key-less."
  type        = string
  default     = "P0v3"

  validation {
    condition     = contains(["B1", "B2", "B3", "S1", "S2", "S3", "P0v3", "P1v3", "P2v3", "P3v3", "P1mv3", "P2mv3"], var.function_plan_sku)
    error_message = "function_plan_sku must be a dedicated Linux SKU: B1-B3, S1-S3, P0v3-P3v3, P1mv3, P2mv3 (not Y1/FC1/EP*)."
  }
}

variable "function_worker_count" {
  description = "Instances of the function app's plan. Each is one consumer in the trigger's consumer group (they share the entries); 2 keeps the trigger running through an instance failure, 1 leaves analysis waiting (nothing lost) until App Service replaces the instance."
  type        = number
  default     = 1

  validation {
    condition     = var.function_worker_count >= 1 && var.function_worker_count <= 10
    error_message = "function_worker_count must be between 1 and 10."
  }
}

variable "app_service_plan_sku" {
  description = "App Service plan SKU for the dashboard/operator API."
  type        = string
  default     = "P0v3"

  validation {
    condition     = contains(["B1", "B2", "B3", "S1", "S2", "S3", "P0v3", "P1v3", "P2v3", "P3v3"], var.app_service_plan_sku)
    error_message = "app_service_plan_sku must be one of B1-B3, S1-S3, P0v3-P3v3 (VNet integration needs Basic or higher)."
  }
}

variable "app_service_worker_count" {
  description = "Instances of each App Service plan (3 or more spreads them over availability zones where the SKU allows)."
  type        = number
  default     = 1

  validation {
    condition     = var.app_service_worker_count >= 1 && var.app_service_worker_count <= 10
    error_message = "app_service_worker_count must be between 1 and 10."
  }
}

variable "dashboard_auth_client_id" {
  description = "Client (application) id of the Entra ID app registration that signs operators in to the dashboard/operator API (App Service authentication)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", var.dashboard_auth_client_id))
    error_message = "dashboard_auth_client_id must be a GUID (the app registration's Application (client) ID)."
  }
}

variable "analyzer_image_name" {
  description = "Repository name of the analyzer image in the registry (built from the repo's Dockerfile by deploy.sh)."
  type        = string
  default     = "analyzer"

  validation {
    condition     = can(regex("^[a-z0-9]+([._/-][a-z0-9]+)*$", var.analyzer_image_name))
    error_message = "analyzer_image_name must be a lower-case image repository name, e.g. \"analyzer\"."
  }
}

variable "analyzer_image_tag" {
  description = "Tag of the analyzer image in the registry (deploy.sh passes the git commit it built). null = no container app yet: the first deploy creates the registry, pushes the image, then applies again with the tag."
  type        = string
  default     = null
  nullable    = true

  validation {
    condition     = var.analyzer_image_tag == null || can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", coalesce(var.analyzer_image_tag, "x")))
    error_message = "analyzer_image_tag must be null or a Docker tag (letters, digits, _ . -; at most 128), e.g. \"3f2a9c1\"."
  }
}

variable "analyzer_cpu" {
  description = "vCPU per analyzer replica (Container Apps consumption profile: 0.25 to 4 in steps of 0.25)."
  type        = number
  default     = 1

  validation {
    condition     = var.analyzer_cpu >= 0.25 && var.analyzer_cpu <= 4 && floor(var.analyzer_cpu * 4) == var.analyzer_cpu * 4
    error_message = "analyzer_cpu must be 0.25 to 4 in steps of 0.25."
  }
}

variable "analyzer_memory" {
  description = "Memory per analyzer replica; Container Apps requires 2 GiB per vCPU (e.g. 2Gi for 1 vCPU)."
  type        = string
  default     = "2Gi"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?Gi$", var.analyzer_memory))
    error_message = "analyzer_memory must look like \"2Gi\" or \"0.5Gi\"."
  }
}

variable "analyzer_min_replicas" {
  description = "Minimum analyzer replicas. At least 1: the trigger calls it every 10 s, and every replica runs one tier 3 explanation consumer, so with 0 nothing would consume the alarm events."
  type        = number
  default     = 1

  validation {
    condition     = var.analyzer_min_replicas >= 1 && var.analyzer_min_replicas <= 30
    error_message = "analyzer_min_replicas must be between 1 and 30."
  }
}

variable "analyzer_max_replicas" {
  description = "Maximum analyzer replicas the HTTP scale rule may reach."
  type        = number
  default     = 3

  validation {
    condition     = var.analyzer_max_replicas >= 1 && var.analyzer_max_replicas <= 300
    error_message = "analyzer_max_replicas must be between 1 and 300."
  }
}

variable "analyzer_concurrent_requests" {
  description = "Concurrent HTTP requests per replica before the scale rule adds a replica."
  type        = number
  default     = 20

  validation {
    condition     = var.analyzer_concurrent_requests >= 1 && var.analyzer_concurrent_requests <= 1000
    error_message = "analyzer_concurrent_requests must be between 1 and 1000."
  }
}

variable "analyzer_health_path" {
  description = "HTTP path of the analyzer's health endpoint used by the liveness, readiness and startup probes."
  type        = string
  default     = "/healthz"

  validation {
    condition     = can(regex("^/[A-Za-z0-9/_.-]*$", var.analyzer_health_path))
    error_message = "analyzer_health_path must start with \"/\", e.g. \"/healthz\"."
  }
}

variable "sweep_schedule" {
  description = "NCRONTAB schedule (six fields, with seconds) of the timer function that asks the analyzer to sweep the window for entries without a result."
  type        = string
  default     = "0 */1 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.sweep_schedule))) == 6
    error_message = "sweep_schedule must be a six-field NCRONTAB expression, e.g. \"0 */1 * * * *\" (every minute)."
  }
}

# --- Azure OpenAI -------------------------------------------------------------------------

variable "openai_location" {
  description = "Region of the Azure OpenAI account (gpt-4o-mini is not offered everywhere); null = location."
  type        = string
  default     = null
  nullable    = true

  validation {
    condition     = var.openai_location == null || can(regex("^[a-z]+[a-z0-9]*$", coalesce(var.openai_location, "x")))
    error_message = "openai_location must be null or a region's programmatic name, e.g. \"swedencentral\"."
  }
}

variable "openai_deployment_name" {
  description = "Name of the gpt-4o-mini deployment (OPENAI_DEPLOYMENT_NAME)."
  type        = string
  default     = "gpt-4o-mini"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$", var.openai_deployment_name))
    error_message = "openai_deployment_name must be 2-64 letters, digits, dots, hyphens or underscores."
  }
}

variable "openai_model_version" {
  description = "gpt-4o-mini model version (structured outputs need 2024-07-18 or later)."
  type        = string
  default     = "2024-07-18"

  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.openai_model_version))
    error_message = "openai_model_version must be a date version, e.g. \"2024-07-18\"."
  }
}

variable "openai_deployment_sku" {
  description = "Deployment type: GlobalStandard, DataZoneStandard (data stays in the geography) or Standard (regional)."
  type        = string
  default     = "GlobalStandard"

  validation {
    condition     = contains(["GlobalStandard", "DataZoneStandard", "Standard"], var.openai_deployment_sku)
    error_message = "openai_deployment_sku must be GlobalStandard, DataZoneStandard or Standard."
  }
}

variable "openai_capacity" {
  description = "Deployment capacity in thousands of tokens per minute. The LLM is asked once per new or escalated alarm, so a small quota suffices."
  type        = number
  default     = 30

  validation {
    condition     = var.openai_capacity >= 1 && var.openai_capacity <= 1000
    error_message = "openai_capacity must be between 1 and 1000 (thousand tokens per minute)."
  }
}

# --- Monitoring -----------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Log Analytics retention in days."
  type        = number
  default     = 30

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days must be between 30 and 730."
  }
}

variable "alert_email_addresses" {
  description = "Addresses the alert action group notifies."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.alert_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", address))])
    error_message = "alert_email_addresses must be e-mail addresses, e.g. [\"ops@example.com\"]."
  }
}

variable "alert_thresholds" {
  description = "Alert thresholds: Redis memory %, Cosmos DB normalized RU consumption %, Cosmos DB request units per 5 minutes, failed function executions per 5 minutes, API response time in seconds, container app CPU %, analysis lag in seconds."
  type = object({
    redis_memory_percent         = number
    cosmos_normalized_ru_percent = number
    cosmos_request_units_per_5m  = number
    function_failures_per_5m     = number
    response_time_seconds        = number
    container_app_cpu_percent    = number
    pipeline_lag_seconds         = number
  })
  default = {
    redis_memory_percent         = 80
    cosmos_normalized_ru_percent = 90
    cosmos_request_units_per_5m  = 60000
    function_failures_per_5m     = 5
    response_time_seconds        = 30
    container_app_cpu_percent    = 80
    pipeline_lag_seconds         = 60
  }

  validation {
    condition = (
      var.alert_thresholds.redis_memory_percent > 0 && var.alert_thresholds.redis_memory_percent <= 100 &&
      var.alert_thresholds.cosmos_normalized_ru_percent > 0 && var.alert_thresholds.cosmos_normalized_ru_percent <= 100 &&
      var.alert_thresholds.container_app_cpu_percent > 0 && var.alert_thresholds.container_app_cpu_percent <= 100 &&
      var.alert_thresholds.cosmos_request_units_per_5m > 0 && var.alert_thresholds.function_failures_per_5m > 0 &&
      var.alert_thresholds.response_time_seconds > 0 && var.alert_thresholds.pipeline_lag_seconds > 0
    )
    error_message = "alert_thresholds: percentages must be in (0, 100], every other threshold above 0."
  }
}
