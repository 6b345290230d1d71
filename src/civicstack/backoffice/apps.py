from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "civicstack.backoffice"
    label = "backoffice"
    verbose_name = "Back office"
