"""Fewer indexes to write per run (docs/architecture.md, "Engine throughput (issue 14)").

The claim index and the finished-runs cover become partial (a run has an entry in the first
only while pending, in the second only once finished); the heartbeat index goes (the
reconciler's running runs come from the partial running index); the job's and the log
chunk's own foreign-key indexes go (other indexes begin with those columns). Those two are
dropped by name: altering the fields would make SQLite copy both tables whole."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# Django's names for the foreign keys' own indexes (the same on SQLite and PostgreSQL)
FK_INDEXES = [
    ("runs_run_job_id_0ad2ed4c", "runs_run", "job_id"),
    ("runs_logchunk_run_id_cf656333", "runs_logchunk", "run_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0005_params_and_chains"),
        ("runs", "0009_params_and_chains"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="run", name="run_claim_idx"),
        migrations.RemoveIndex(model_name="run", name="run_heartbeat_idx"),
        migrations.RemoveIndex(model_name="run", name="run_finished_cover_idx"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="logchunk",
                    name="run",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="log_chunks",
                        to="runs.run",
                    ),
                ),
                migrations.AlterField(
                    model_name="run",
                    name="job",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="runs",
                        to="jobs.job",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                )
                for name, table, column in FK_INDEXES
            ],
        ),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["status", "-priority", "available_at"],
                name="run_claim_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(
                condition=models.Q(("finished_at__isnull", False)),
                fields=["finished_at", "status", "duration_ms", "job"],
                name="run_finished_cover_idx",
            ),
        ),
    ]
