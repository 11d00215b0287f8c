"""The two ways a webhook request is refused: not from the provider, or not understood.

The web layer answers 401 to the first and 400 to the second; in both cases nothing is stored.
"""

from services.errors import DomainError


class WebhookAuthError(DomainError):
    """The request is not provably from the provider: bad signature, credentials or timestamp."""


class WebhookFormatError(DomainError):
    """The body is not the provider's documented payload (bad JSON, missing fields)."""
