"""The ``civicstack`` console command: Django's management commands plus the project's own."""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Run a management command (``civicstack migrate``, ``civicstack audit verify``, ...)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicstack.conf.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["civicstack", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
