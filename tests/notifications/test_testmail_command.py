"""`manage.py testmail`: the server's answer on success, exit 1 with the reason on failure."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from notifications.smtp import smtp_settings_update
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db


def test_it_prints_the_servers_answer(smtp_configured):
    out = io.StringIO()
    call_command("testmail", "ops@example.com", stdout=out)
    assert "accepted: 250 2.0.0 Ok: queued as TESTQUEUE1" in out.getvalue()
    assert smtp_configured.recipients == [["ops@example.com"]]


def test_it_exits_non_zero_when_the_server_refuses():
    smtp_settings_update(
        data={"server": "127.0.0.1", "port": free_port(), "use_tls": False, "password": "pw-x1"}
    )
    err = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("testmail", "ops@example.com", stdout=io.StringIO(), stderr=err)
    assert exited.value.code == 1
    assert "failed:" in err.getvalue()
    assert "pw-x1" not in err.getvalue()
