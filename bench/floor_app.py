# SPDX-License-Identifier: EUPL-1.2
"""The floor for ``bench/run.py``: the cheapest Django page the same server can serve.

One view returning a short ``HttpResponse``: no middleware, no templates, no database, no
sessions. Served with exactly the web server flags ``civicstack serve`` uses, it measures
what the WSGI server, the Python interpreter and Django's request handling cost on this
machine, so the real pages can be read as a ratio to it::

    PYTHONPATH=bench .venv/bin/python -m granian --interface wsgi ... floor_app:application
"""

from __future__ import annotations

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-floor-app-not-secret",
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        DATABASES={},
        TEMPLATES=[],
        USE_I18N=False,
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )


def hello(request: HttpRequest) -> HttpResponse:
    """Return a short plain-text page."""
    return HttpResponse(b"Hello from the floor.\n", content_type="text/plain; charset=utf-8")


urlpatterns = [path("", hello), path("health/live", hello)]

application = get_wsgi_application()
