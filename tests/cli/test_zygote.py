"""What the zygote loads into the image its children share (issue 14, idle footprint)."""

import json

import pytest
from django.db import connection

from tests.support.processes import child_env, python_output

MODULES = ["psycopg", "twisted.web.http", "autobahn.twisted.websocket"]
MODULES += ["twisted.internet.reactor", "daphne.server", "requests", "mozilla_django_oidc.auth"]
PROBE = f"""
import json, sys
sys.argv = ["taskflow-zygote", "qcluster", "web"]  # settings read the command as the zygote's
from taskflow_site.cli import zygote
zygote.preload()
state = {{None: "blocked", False: "absent"}}  # a module set to None is found absent on import
print(json.dumps({{n: state.get(sys.modules.get(n, False), "loaded") for n in {MODULES!r}}}))
"""


def preloaded(tmp_path, **extra: str) -> dict[str, str]:
    env = child_env(TASKFLOW_DATA_DIR=str(tmp_path), TASKFLOW_CONFIG="/dev/null", **extra)
    return json.loads(python_output(PROBE, env).splitlines()[-1])


@pytest.mark.django_db
def test_the_image_holds_what_the_web_child_imports_but_no_reactor(tmp_path):
    modules = preloaded(tmp_path)
    # Twisted's and autobahn's modules are in the shared image; the reactor, which daphne's
    # server installs as it is imported, is not: the web child installs it after the fork
    assert modules["twisted.web.http"] == modules["autobahn.twisted.websocket"] == "loaded"
    assert modules["twisted.internet.reactor"] == modules["daphne.server"] == "absent"
    # single sign-on is not configured: its backend stays unloaded and `requests`, which it
    # alone would use (DRF asks for it too), is found absent
    assert modules["mozilla_django_oidc.auth"] == "absent"
    assert modules["requests"] == "blocked"
    # DRF's compat asks for psycopg: on SQLite it is found absent, on PostgreSQL it is the driver
    assert modules["psycopg"] == ("blocked" if connection.vendor == "sqlite" else "loaded")


@pytest.mark.django_db
def test_with_single_sign_on_configured_its_client_library_stays_importable(tmp_path):
    sso = {"TASKFLOW_OIDC_ISSUER": "http://127.0.0.1:9/", "TASKFLOW_OIDC_CLIENT_ID": "taskflow"}
    assert preloaded(tmp_path, **sso)["requests"] == "loaded"  # DRF's compat imported it
