"""Runs keep their job's secret variables by name only (runs.spec): the values copied into
older specs are dropped."""

from django.db import migrations

BATCH = 500


def to_refs(apps, schema_editor):
    Run = apps.get_model("runs", "Run")
    batch = []
    for run in Run.objects.filter(spec__has_key="secret_env").only("id", "spec").iterator():
        spec = dict(run.spec)
        spec["secret_refs"] = list(spec.pop("secret_env") or {})
        run.spec = spec
        batch.append(run)
        if len(batch) >= BATCH:
            Run.objects.bulk_update(batch, ["spec"])
            batch = []
    if batch:
        Run.objects.bulk_update(batch, ["spec"])


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0006_status_time_index"),
    ]

    operations = [
        migrations.RunPython(to_refs, migrations.RunPython.noop),
    ]
