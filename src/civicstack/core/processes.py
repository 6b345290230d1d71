"""Extra child processes that ``civicstack serve`` runs beside the web server.

Apps register a builder in their ``AppConfig.ready()``; serve calls each builder when it
starts and runs what it returns. Core never imports the apps: this registry is the seam
(documents registers its managed ClamAV daemon here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from civicstack.core.registry import Registry


@dataclass(frozen=True)
class ChildProcess:
    """A command to run until serve stops, with extra environment variables.

    ``quiet`` discards the program's standard output (chatter that it also writes to its
    own log file); errors on standard error still reach the terminal.
    """

    command: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    quiet: bool = False


# A builder returns None when its process is not wanted here (switched off, or the
# program is not installed); it may prepare files (configuration) before returning.
ChildProcessBuilder = Callable[[], ChildProcess | None]

child_processes: Registry[ChildProcessBuilder] = Registry("child processes")
