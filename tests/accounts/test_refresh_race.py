"""E3: two concurrent refreshes of one refresh token: at most one succeeds."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.support.clients import login


@pytest.mark.django_db(transaction=True)
def test_it_lets_at_most_one_of_two_concurrent_refreshes_through():
    UserFactory(username="racer")
    for _round in range(4):  # logins stay under 5/min
        refresh = login("racer").json()["data"]["refresh"]
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def attempt(token=refresh, barrier=barrier, statuses=statuses):
            try:
                barrier.wait()
                response = APIClient().post("/api/auth/refresh", {"refresh": token}, format="json")
                statuses.append(response.status_code)
            finally:
                connection.close()

        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(statuses) == [200, 401], statuses
