"""``civicstack scheduler``: enqueue periodic jobs (safe to run on several machines)."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand

from civicstack.core.scheduler import scheduler_loop


class Command(BaseCommand):
    help = "Run the periodic job scheduler until interrupted."

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = {"now": False}

        def stop(signum: int, frame: object) -> None:
            stopping["now"] = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        scheduler_loop(stop=lambda: stopping["now"])
