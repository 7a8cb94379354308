"""`manage.py createadmin`: the first admin from a terminal, validators, refusal, --force."""

import io
import sys

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Role, User
from accounts.services import setup_needed

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-unusual-passphrase"


def createadmin(monkeypatch, *args, stdin=f"{PASSWORD}\n"):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("createadmin", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_creates_the_first_admin_and_closes_setup(monkeypatch):
    out = createadmin(monkeypatch, "--username", "root", "--email", "r@x.org", "--password-stdin")
    assert "Admin 'root' created." in out
    user = User.objects.get()
    assert (user.role, user.is_superuser, user.email) == (Role.ADMIN, True, "r@x.org")
    assert user.check_password(PASSWORD)
    assert not setup_needed()


def test_it_refuses_when_an_admin_exists(monkeypatch, admin_user):
    with pytest.raises(CommandError, match="An admin exists already; use --force"):
        createadmin(monkeypatch, "--username", "second", "--password-stdin")
    assert User.objects.count() == 1


def test_force_adds_another_admin(monkeypatch, admin_user):
    createadmin(monkeypatch, "--username", "second", "--password-stdin", "--force")
    assert User.objects.get(username="second").role == Role.ADMIN


def test_it_refuses_a_weak_password_with_the_validator_messages(monkeypatch):
    with pytest.raises(CommandError, match="password: This password is too short"):
        createadmin(monkeypatch, "--username", "root", "--password-stdin", stdin="abc\n")
    assert not User.objects.exists()


def test_it_refuses_an_existing_username(monkeypatch, owner):
    with pytest.raises(CommandError, match="A user named 'owner' exists already"):
        createadmin(monkeypatch, "--username", "owner", "--password-stdin")


def test_it_needs_a_terminal_or_password_stdin(monkeypatch):
    with pytest.raises(CommandError, match="use --password-stdin"):
        createadmin(monkeypatch, "--username", "root")


def test_it_asks_twice_at_a_prompt_until_both_match(monkeypatch):
    answers = iter(["first-try-passphrase", "different-passphrase", PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    err = io.StringIO()
    call_command("createadmin", "--username", "root", stdout=io.StringIO(), stderr=err)
    assert "The two passwords differ" in err.getvalue()
    assert User.objects.get().check_password(PASSWORD)
