import hashlib

from django.db import migrations


def create_head(apps, schema_editor):
    head_model = apps.get_model("core", "AuditLogHead")
    head_model.objects.get_or_create(
        pk=1, defaults={"size": 0, "frontier": [], "root": hashlib.sha256(b"").digest()}
    )


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunPython(create_head, migrations.RunPython.noop)]
