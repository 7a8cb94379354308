"""factory-boy factories for valid object graphs. Personas: admin, owner, outsider."""

from __future__ import annotations

import factory
from django.utils import timezone

from accounts.models import Role, User
from jobs.models import Job, Schedule
from jobs.secrets import secrets_seal
from runs.models import Run, RunStatus, TriggerType


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    role = Role.USER
    is_staff = True
    password = factory.django.Password("correct-horse-battery")


class AdminFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    role = Role.ADMIN
    is_superuser = True


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    name = factory.Sequence(lambda n: f"job-{n}")
    script = "echo hello"
    working_dir = "/tmp"
    created_by = factory.SubFactory(UserFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # secret values stored as the services store them: encrypted (jobs.secrets)
        kwargs["secret_env_vars"] = secrets_seal(kwargs.get("secret_env_vars") or {}, stored={})
        return super()._create(model_class, *args, **kwargs)


class ScheduleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Schedule

    job = factory.SubFactory(JobFactory)


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    job = factory.SubFactory(JobFactory)
    status = RunStatus.PENDING
    trigger_type = TriggerType.MANUAL
    available_at = factory.LazyFunction(timezone.now)
    spec = factory.LazyAttribute(
        lambda o: {"kind": "shell", "script": o.job.script if o.job else "true"}
    )
