"""The claim index holds the claim's whole ORDER BY (created_at added): the claim reads pending
runs in order and stops at the first that may start, with or without statistics
(docs/architecture.md, "Engine throughput (issue 14)")."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("runs", "0010_fewer_indexes")]

    operations = [
        migrations.RemoveIndex(model_name="run", name="run_claim_idx"),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["status", "-priority", "available_at", "created_at"],
                name="run_claim_idx",
            ),
        ),
    ]
