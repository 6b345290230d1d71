import os
import threading

from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "civicstack.catalogue"
    label = "catalogue"
    verbose_name = "Service catalogue"

    def ready(self) -> None:
        # Web processes started by `civicstack serve` build the search index in the
        # background, so the first person to search does not wait for it.
        if os.environ.get("CIVICSTACK_WARM_SEARCH") == "1":
            threading.Thread(target=_warm_search, name="warm-search", daemon=True).start()
        from django.db.models.signals import post_migrate

        post_migrate.connect(_catalogue_state_ensure, sender=self)


def _catalogue_state_ensure(**kwargs: object) -> None:
    """Make the catalogue's change counter row if it is missing (a flushed database has none)."""
    from civicstack.catalogue.models import CatalogueState

    CatalogueState.objects.get_or_create(pk=1)


def _warm_search() -> None:
    import logging
    import time

    from django.db import connection

    from civicstack.catalogue.selectors import catalogue_search

    time.sleep(1)
    try:
        catalogue_search(query="warm", language="en", limit=1)
    except Exception:
        logging.getLogger(__name__).warning("search warm-up failed", exc_info=True)
    finally:
        connection.close()
