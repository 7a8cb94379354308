from tests.http.fixtures import allow_loopback, local_server  # noqa: F401 (fixtures)
