from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "civicstack.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from datetime import timedelta

        from civicstack.core import tasks
        from civicstack.core.scheduler import PeriodicJob, periodic_jobs

        periodic_jobs.register("core.audit_checkpoint")(
            PeriodicJob(every=timedelta(minutes=1), enqueue=tasks.audit_checkpoint.enqueue)
        )
        periodic_jobs.register("core.events_outbox_sweep")(
            PeriodicJob(every=timedelta(minutes=1), enqueue=tasks.events_outbox_sweep.enqueue)
        )
