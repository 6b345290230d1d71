from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "civicstack.cases"
    label = "cases"
    verbose_name = "Cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from datetime import timedelta

        from civicstack.cases import handlers, reminders, tasks
        from civicstack.core.scheduler import PeriodicJob, periodic_jobs

        del handlers  # imported for its event subscriptions
        periodic_jobs.register("cases.timers_fire")(
            PeriodicJob(every=timedelta(minutes=1), enqueue=tasks.timers_fire.enqueue)
        )
        periodic_jobs.register("cases.open_missing")(
            PeriodicJob(every=timedelta(minutes=5), enqueue=tasks.open_missing.enqueue)
        )
        periodic_jobs.register("cases.sla_check")(
            PeriodicJob(every=timedelta(minutes=15), enqueue=tasks.sla_check.enqueue)
        )
        reminders.register()
