"""Provider webhooks: one endpoint (endpoint.py) over one port (providers.py), a provider per adapter."""
