"""The one error of a bad configuration (its own module so that the config's validators import it
without importing the loader that calls them)."""
from __future__ import annotations


class ConfigError(ValueError):
    """A bad configuration value or key; the message names the key and the allowed values."""
