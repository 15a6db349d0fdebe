# Providers, naming and tags for the sensor analyzer's Azure deployment.
#
# State lives in an azurerm backend whose settings are passed at `terraform init`
# (`-backend-config`, see deploy.sh), so the same code serves every environment.

terraform {
  required_version = ">= 1.9.0"

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # The real minimum for what this code uses: tests/infrastructure/test_provider_versions.py
      # maps every resource and argument to the azurerm release that introduced it.
      version = ">= 4.78.0, < 5.0.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6.0, < 4.0.0"
    }
  }

  backend "azurerm" {}
}

provider "azurerm" {
  subscription_id = var.subscription_id
  # The function storage account has shared keys disabled: talk to it with Entra ID.
  storage_use_azuread = true

  features {
    key_vault {
      # Purge protection is on; never try to purge on destroy.
      purge_soft_delete_on_destroy    = false
      recover_soft_deleted_key_vaults = true
    }
    resource_group {
      # destroy.sh keeps the data stores by default: a resource group that still holds
      # them must not be deleted behind the operator's back.
      prevent_deletion_if_contains_resources = true
    }
    cognitive_account {
      # A destroyed OpenAI account is soft-deleted and the provider never restores it, so the next
      # apply with the same name would fail (FlagMustBeSetForRestore). destroy.sh keeps the account
      # unless --destroy-data; when it is destroyed, it is purged so a redeploy can reuse the name.
      purge_soft_delete_on_destroy = true
    }
    application_insights {
      # Application Insights generates a "Failure Anomalies" smart detection rule outside the state;
      # with this the provider disables it on create and deletes it on destroy, so the resource group
      # can be deleted (prevent_deletion_if_contains_resources). destroy.sh removes the action group
      # Azure creates with it.
      disable_generated_rule = true
    }
    storage {
      # The function storage account has no public endpoint: never reach for its data plane
      # from wherever terraform runs.
      data_plane_available = false
    }
  }
}

data "azurerm_client_config" "current" {}

locals {
  # e.g. "sensan-dev"; every resource name starts with it.
  name_prefix = "${var.project_name}-${var.environment}"
  # Globally unique names (Key Vault, storage, registry, Cosmos, Redis) need a short
  # stable suffix; it is derived from the subscription so re-applies keep the names.
  unique_suffix = substr(sha1("${data.azurerm_client_config.current.subscription_id}-${local.name_prefix}"), 0, 6)
  compact_name  = replace(local.name_prefix, "-", "")

  tags = merge(var.tags, {
    project     = var.project_name
    environment = var.environment
    managed_by  = "terraform"
  })

  is_prod = var.environment == "prod"

  # Redis: Azure Managed Redis (default) or an existing tenant's Azure Cache for Redis Premium.
  use_managed_redis = var.redis_flavour == "managed"
  redis_host        = local.use_managed_redis ? azurerm_managed_redis.main[0].hostname : azurerm_redis_cache.main[0].hostname
  redis_port        = local.use_managed_redis ? 10000 : 6380
  redis_id          = local.use_managed_redis ? azurerm_managed_redis.main[0].id : azurerm_redis_cache.main[0].id

  analyzer_port = 8000

  # Who may reach the deployment's private data planes (Key Vault secrets, registry pushes, Kudu):
  # the operator's permanent ranges plus the address deploy.sh opens for the duration of one deploy
  # (deploy_session_ip_ranges; deploy.sh closes it again on exit, also on failure).
  deployer_access_ranges = distinct(concat(var.deployer_ip_ranges, var.deploy_session_ip_ranges))
  deployer_public_access = length(local.deployer_access_ranges) > 0
}
