"""Django admin for identity: sign-in clients and codes are not edited here.

django-oauth-toolkit registers admin pages for every model it knows. Clients are changed
only in the back office (``backoffice:identity-clients``), through identity.services, so
every change is checked and audited; authorization codes are never shown.
"""

from django.contrib import admin

from civicstack.identity.models import Client, Grant

for model in (Client, Grant):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
