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
