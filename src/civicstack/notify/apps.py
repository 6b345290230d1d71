from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "civicstack.notify"
    label = "notify"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from datetime import timedelta

        from django.db.models.signals import post_migrate

        from civicstack.core.scheduler import PeriodicJob, periodic_jobs
        from civicstack.notify import channels, tasks

        del channels  # imported to register the built-in channels
        periodic_jobs.register("notify.sweep")(
            PeriodicJob(every=timedelta(seconds=15), enqueue=tasks.notifications_sweep.enqueue)
        )
        periodic_jobs.register("notify.reminders_due")(
            PeriodicJob(every=timedelta(minutes=1), enqueue=tasks.reminders_due.enqueue)
        )
        periodic_jobs.register("notify.reminders_plan")(
            PeriodicJob(every=timedelta(minutes=15), enqueue=tasks.reminders_plan.enqueue)
        )
        post_migrate.connect(_builtin_templates_sync, sender=self)


def _builtin_templates_sync(**kwargs: object) -> None:
    """Bring the platform's own templates up to date after migrating."""
    from civicstack.notify.builtin import templates_builtin_sync

    templates_builtin_sync()
