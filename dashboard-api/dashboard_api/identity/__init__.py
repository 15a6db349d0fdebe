"""Who is calling: local API keys (hashed in settings) and Entra ID bearer tokens, each giving a
:class:`Principal` with a name (what audit records show) and a role."""

from dashboard_api.identity.principal import Principal

__all__ = ["Principal"]
