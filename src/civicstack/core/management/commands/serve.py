"""``civicstack serve``: the web server, the task worker and the scheduler, together.

Apps may add more child processes through ``core.processes.child_processes`` (documents
adds a managed ClamAV daemon outside production). Ctrl-C (or SIGTERM) stops them all.
This is what ``make run`` starts; at scale each runs on its own machines instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from civicstack.core.processes import child_processes


def web_command(*, host: str, port: int, workers: int, threads: int) -> list[str]:
    """Return the command that runs the web server with the benchmarked settings."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--no-ws",
        "--log-level",
        "warning",
        "civicstack.wsgi:application",
    ]


class Command(BaseCommand):
    help = "Run the web server, the task worker and the scheduler until Ctrl-C."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--no-worker", action="store_true")
        parser.add_argument("--no-scheduler", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        commands = {
            "web": web_command(
                host=options["host"],
                port=options["port"],
                workers=options["workers"],
                threads=options["threads"],
            )
        }
        manage = [sys.executable, "-m", "civicstack"]
        if not options["no_worker"]:
            if str(settings.TASKS["default"]["BACKEND"]).startswith("django_tasks_rq"):
                # django-tasks-rq's jobs need its Job class; a worker that does not fork per
                # job costs a third of the CPU of one that does.
                commands["worker"] = [
                    *manage,
                    "rqworker",
                    "default",
                    "--job-class",
                    "django_tasks_rq.backend.Job",
                    "--worker-class",
                    "rq.worker.SimpleWorker",
                ]
            else:
                commands["worker"] = [*manage, "db_worker", "--interval", "1"]
        if not options["no_scheduler"]:
            commands["scheduler"] = [*manage, "scheduler"]
        environments: dict[str, dict[str, str] | None] = {
            "web": {**os.environ, "CIVICSTACK_WARM_SEARCH": "1"}
        }
        quiet: set[str] = set()
        for name, build in child_processes.items():
            extra = build()
            if extra is None:
                continue
            commands[name] = extra.command
            environments[name] = {**os.environ, **extra.env} if extra.env else None
            if extra.quiet:
                quiet.add(name)
            if extra.description:
                self.stdout.write(extra.description)
        processes = {
            name: subprocess.Popen(
                command,
                env=environments.get(name),
                stdout=subprocess.DEVNULL if name in quiet else None,
            )
            for name, command in commands.items()
        }
        stopping = {"now": False}

        def stop(signum: int, frame: object) -> None:
            stopping["now"] = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(f"Civicstack is running on http://{options['host']}:{options['port']}/")
        exit_code = 0
        try:
            while not stopping["now"]:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} stopped (exit {process.returncode}); stopping")
                        stopping["now"] = True
                        exit_code = 1
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
            extras = [name for name in processes if name not in {"web", "worker", "scheduler"}]
            also = f" (and {', '.join(extras)})" if extras else ""
            self.stdout.write(f"Stopped web server, worker and scheduler{also}.")
        if exit_code:
            raise SystemExit(exit_code)
