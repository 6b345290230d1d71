from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "civicstack.portal"
    label = "portal"
    verbose_name = "Citizen portal"
