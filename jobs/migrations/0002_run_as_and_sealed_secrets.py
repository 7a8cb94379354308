"""A job's run-as user, and its secret variables encrypted at rest (jobs.secrets)."""

from django.db import migrations, models

from jobs.secrets import secrets_open, secrets_seal


def seal(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    for job in Job.objects.exclude(secret_env_vars={}).only("id", "secret_env_vars").iterator():
        if isinstance(job.secret_env_vars, dict) and job.secret_env_vars:
            values = {str(k): str(v) for k, v in job.secret_env_vars.items()}
            job.secret_env_vars = secrets_seal(values, stored={})
            job.save(update_fields=["secret_env_vars"])


def unseal(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    for job in Job.objects.exclude(secret_env_vars={}).only("id", "secret_env_vars").iterator():
        job.secret_env_vars = secrets_open(job.secret_env_vars)
        job.save(update_fields=["secret_env_vars"])


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="run_as",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.RunPython(seal, unseal),
    ]
