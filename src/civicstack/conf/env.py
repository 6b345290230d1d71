"""Read configuration from the environment: the one place settings come from.

Every value has a typed accessor with a default that suits the embedded, single-machine
run (``make run``). Production deployments set the variables; nothing else changes.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from pathlib import Path


class ConfigurationError(Exception):
    """A required or malformed environment variable."""


class Env:
    """Typed access to environment variables."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str:
        """Return a string variable, or ``default``; raise if neither exists."""
        value = self._environ.get(name)
        if value is None or value == "":
            if default is None:
                raise ConfigurationError(f"{name} must be set")
            return default
        return value

    def optional(self, name: builtins.str) -> builtins.str | None:
        """Return a string variable, or None when unset or empty."""
        value = self._environ.get(name)
        return value or None

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        """Return a boolean variable (1/true/yes/on or 0/false/no/off)."""
        value = self._environ.get(name)
        if value is None or value == "":
            return default
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigurationError(f"{name} must be a boolean, not {value!r}")

    def int(self, name: builtins.str, default: builtins.int) -> builtins.int:
        """Return an integer variable."""
        value = self._environ.get(name)
        if value is None or value == "":
            return default
        try:
            return builtins.int(value)
        except ValueError as exc:
            raise ConfigurationError(f"{name} must be an integer, not {value!r}") from exc

    def list(
        self, name: builtins.str, default: builtins.list[builtins.str]
    ) -> builtins.list[builtins.str]:
        """Return a comma-separated list variable."""
        value = self._environ.get(name)
        if value is None or value.strip() == "":
            return builtins.list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def path(self, name: builtins.str, default: Path) -> Path:
        """Return a filesystem path variable, resolved to an absolute path."""
        value = self._environ.get(name)
        return Path(value).resolve() if value else default.resolve()


env = Env()
