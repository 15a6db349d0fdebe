# The 24-hour window: a Redis stream (one entry per payload, trimmed by entry time) plus the
# latest value per sensor and the tier 2 state.
#
# Default: Azure Managed Redis (TLS on port 10000). Azure Cache for Redis is retiring (Basic,
# Standard and Premium are switched off on 2028-09-30, and tenants without one are reported to be
# refused new caches), so Premium is only offered, behind redis_flavour, to tenants that run it.
# Either way: no public access, TLS only (1.2+), no plain-text port, Entra ID access for the
# identities that connect, a private endpoint.

resource "azurerm_managed_redis" "main" {
  count = local.use_managed_redis ? 1 : 0

  name                      = "redis-${local.name_prefix}-${local.unique_suffix}"
  location                  = azurerm_resource_group.main.location
  resource_group_name       = azurerm_resource_group.main.name
  sku_name                  = var.managed_redis_sku_name
  high_availability_enabled = var.redis_high_availability_enabled
  public_network_access     = "Disabled"
  tags                      = local.tags

  default_database {
    # TLS only; Azure Managed Redis negotiates TLS 1.2 or later and has no plain-text port
    # unless client_protocol is Plaintext.
    client_protocol                    = "Encrypted"
    clustering_policy                  = var.managed_redis_clustering_policy
    access_keys_authentication_enabled = var.redis_access_keys_enabled
    # The window must never be evicted silently: writes fail instead, and the memory alert fires.
    eviction_policy                             = "NoEviction"
    persistence_redis_database_backup_frequency = var.redis_persistence_rdb_frequency
  }
}

resource "azurerm_redis_cache" "main" {
  count = local.use_managed_redis ? 0 : 1

  name                               = "redis-${local.name_prefix}-${local.unique_suffix}"
  location                           = azurerm_resource_group.main.location
  resource_group_name                = azurerm_resource_group.main.name
  sku_name                           = "Premium"
  family                             = "P"
  capacity                           = var.redis_cache_premium_capacity
  non_ssl_port_enabled               = false
  minimum_tls_version                = "1.2"
  public_network_access_enabled      = false
  access_keys_authentication_enabled = var.redis_access_keys_enabled
  tags                               = local.tags

  redis_configuration {
    active_directory_authentication_enabled = true
    maxmemory_policy                        = "noeviction"
  }
}

resource "azurerm_private_endpoint" "redis" {
  name                = "pe-${local.name_prefix}-redis"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.private_endpoints.id
  tags                = local.tags

  private_service_connection {
    name                           = "psc-redis"
    private_connection_resource_id = local.redis_id
    is_manual_connection           = false
    # Azure Managed Redis is a Microsoft.Cache/redisEnterprise resource; the old cache is redisCache.
    subresource_names = [local.use_managed_redis ? "redisEnterprise" : "redisCache"]
  }

  private_dns_zone_group {
    name                 = "redis"
    private_dns_zone_ids = [azurerm_private_dns_zone.main["redis"].id]
  }
}

# Entra ID data access for every identity that connects (the function's stream trigger uses it;
# the analyzer and the dashboard API are ready to drop the access key).
locals {
  redis_clients = {
    function  = azurerm_user_assigned_identity.function.principal_id
    analyzer  = azurerm_user_assigned_identity.analyzer.principal_id
    dashboard = azurerm_user_assigned_identity.dashboard.principal_id
  }
}

resource "azurerm_managed_redis_access_policy_assignment" "clients" {
  for_each = local.use_managed_redis ? local.redis_clients : {}

  managed_redis_id = azurerm_managed_redis.main[0].id
  object_id        = each.value
}

resource "azurerm_redis_cache_access_policy_assignment" "clients" {
  for_each = local.use_managed_redis ? {} : local.redis_clients

  name               = "${local.name_prefix}-${each.key}"
  redis_cache_id     = azurerm_redis_cache.main[0].id
  access_policy_name = "Data Contributor"
  object_id          = each.value
  object_id_alias    = "${local.name_prefix}-${each.key}"
}

locals {
  # StackExchange.Redis form the analyzer's settings accept (REDIS_CONNECTION_STRING); only
  # built while access keys are enabled.
  redis_primary_key = var.redis_access_keys_enabled ? (
    local.use_managed_redis ? azurerm_managed_redis.main[0].default_database[0].primary_access_key : azurerm_redis_cache.main[0].primary_access_key
  ) : ""
  redis_connection_string = "${local.redis_host}:${local.redis_port},password=${local.redis_primary_key},ssl=True,abortConnect=False"
  # What the analyzer and the dashboard use: TLS, no password (REDIS_ENTRA_AUTH=true supplies a token).
  redis_entra_connection_string = "${local.redis_host}:${local.redis_port},ssl=True,abortConnect=False"
}
