from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "civicstack.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from datetime import timedelta

        from civicstack.accounts import tasks
        from civicstack.core.scheduler import PeriodicJob, periodic_jobs

        periodic_jobs.register("accounts.sign_in_attempts_prune")(
            PeriodicJob(every=timedelta(hours=1), enqueue=tasks.sign_in_attempts_prune_task.enqueue)
        )
