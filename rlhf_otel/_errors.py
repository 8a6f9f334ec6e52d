"""Exception hierarchy of rlhf-otel.

::

    RLHFError
    ├── ConfigurationError (also ValueError)   bad configuration of a logger or store
    ├── ValidationError (also ValueError)      bad input at the public API
    └── StoreError                             a store could not do what was asked
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "RLHFError", "StoreError", "ValidationError"]


class RLHFError(Exception):
    """Root of every error that rlhf-otel raises on purpose."""


class ConfigurationError(RLHFError, ValueError):
    """A logger, store or exporter was configured with a value that is not allowed."""


class ValidationError(RLHFError, ValueError):
    """An argument to the public API is not allowed; nothing was written."""


class StoreError(RLHFError):
    """A store failed to read or write; the message says which and why."""
