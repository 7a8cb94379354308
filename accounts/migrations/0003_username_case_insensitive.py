"""Usernames unique whatever their case; an existing pair that differs only in case is named
so an admin can rename one (the constraint cannot be added over it)."""

from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Lower


def refuse_case_twins(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    twins = (
        User.objects.annotate(key=Lower("username"))
        .values("key")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("key", flat=True)
    )
    if twins:
        names = ", ".join(sorted(twins)[:20])
        raise RuntimeError(
            f"usernames that differ only in case exist ({names}): rename one of each pair "
            "with the previous version, then migrate again"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_api_tokens_and_audit"),
    ]

    operations = [
        migrations.RunPython(refuse_case_twins, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                Lower("username"),
                name="user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            ),
        ),
    ]
