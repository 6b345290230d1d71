from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "civicstack.documents"
    label = "documents"
    verbose_name = "Documents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from civicstack.core.processes import child_processes
        from civicstack.documents.scanner import clamd_child_process

        # `civicstack serve` runs clamd beside the web server when CLAMD_MANAGED is on.
        child_processes.register("clamd")(clamd_child_process)
