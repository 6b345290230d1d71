from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "civicstack.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from datetime import timedelta

        from django.db.models.signals import post_migrate

        from civicstack.core import tasks
        from civicstack.core.scheduler import PeriodicJob, periodic_jobs

        periodic_jobs.register("core.audit_checkpoint")(
            PeriodicJob(every=timedelta(minutes=1), enqueue=tasks.audit_checkpoint.enqueue)
        )
        periodic_jobs.register("core.events_outbox_sweep")(
            PeriodicJob(every=timedelta(minutes=1), enqueue=tasks.events_outbox_sweep.enqueue)
        )
        post_migrate.connect(_audit_log_head_ensure, sender=self)


def _audit_log_head_ensure(**kwargs: object) -> None:
    """Make the audit log's head row if it is missing (a flushed database has none)."""
    import hashlib

    from civicstack.core.models import AuditLogHead

    AuditLogHead.objects.get_or_create(
        pk=1, defaults={"size": 0, "frontier": [], "root": hashlib.sha256(b"").digest()}
    )
