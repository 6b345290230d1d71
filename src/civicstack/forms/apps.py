from django.apps import AppConfig


class FormsConfig(AppConfig):
    name = "civicstack.forms"
    label = "forms"
    verbose_name = "Applications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from datetime import timedelta

        from civicstack.core.scheduler import PeriodicJob, periodic_jobs
        from civicstack.forms import api, reminders, tasks

        del api  # imported for its OpenAPI part
        periodic_jobs.register("forms.drafts_expire")(
            PeriodicJob(every=timedelta(hours=1), enqueue=tasks.drafts_expire.enqueue)
        )
        periodic_jobs.register("forms.idempotency_keys_forget")(
            PeriodicJob(every=timedelta(hours=1), enqueue=tasks.idempotency_keys_forget.enqueue)
        )
        periodic_jobs.register("forms.api_uploads_expire")(
            PeriodicJob(every=timedelta(hours=1), enqueue=tasks.api_uploads_expire.enqueue)
        )
        reminders.register()
