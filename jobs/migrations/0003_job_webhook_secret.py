"""Each job's webhook signing secret (jobs.webhook_secrets); existing jobs get one too, so every
delivery is signed (their owners rotate it to learn it)."""

from django.db import migrations, models

from jobs.webhook_secrets import webhook_secret_new


def generate(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    for job in Job.objects.filter(webhook_secret="").only("id").iterator():
        job.webhook_secret = webhook_secret_new()[1]
        job.save(update_fields=["webhook_secret"])


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0002_run_as_and_sealed_secrets"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="webhook_secret",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.RunPython(generate, migrations.RunPython.noop),
    ]
