"""A typed plugin registry: ``Registry[PluginT]`` with ``@registry.register("id")``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

PluginT = TypeVar("PluginT")


class PluginNotFound(LookupError):
    """No plugin is registered under the requested id."""


class Registry[PluginT]:
    """Plugins of one kind (identity checks, notification channels, ...) keyed by id."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._plugins: dict[str, PluginT] = {}

    def register(self, plugin_id: str) -> Callable[[PluginT], PluginT]:
        """Register the decorated plugin under ``plugin_id``; ids must be unique."""

        def decorator(plugin: PluginT) -> PluginT:
            if plugin_id in self._plugins and self._plugins[plugin_id] is not plugin:
                raise ValueError(f"{self.name}: plugin id {plugin_id!r} is already registered")
            self._plugins[plugin_id] = plugin
            return plugin

        return decorator

    def get(self, plugin_id: str) -> PluginT:
        """Return the plugin registered under ``plugin_id``."""
        try:
            return self._plugins[plugin_id]
        except KeyError:
            raise PluginNotFound(f"{self.name}: no plugin {plugin_id!r}") from None

    def __contains__(self, plugin_id: object) -> bool:
        return plugin_id in self._plugins

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._plugins))

    def items(self) -> list[tuple[str, PluginT]]:
        """Return (id, plugin) pairs sorted by id."""
        return sorted(self._plugins.items())

    def unregister(self, plugin_id: str) -> None:
        """Remove a plugin (used by tests)."""
        self._plugins.pop(plugin_id, None)
