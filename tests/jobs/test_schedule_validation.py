"""schedule_validate: cleaned output, and field-level messages for every kind of bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.schedule import ScheduleError, schedule_validate

NOW = datetime(2026, 1, 10, 12, tzinfo=UTC)


def errors_of(data: dict, tz: str = "UTC") -> dict[str, list[str]]:
    with pytest.raises(ScheduleError) as caught:
        schedule_validate(data, tz, now=NOW)
    return caught.value.errors


def test_it_cleans_lists_sorted_unique_and_empty_to_any():
    cleaned = schedule_validate({"minutes": [30, 0, 30], "hours": [], "days": None}, "UTC", now=NOW)
    assert cleaned == {
        "years": None,
        "months": None,
        "days": None,
        "weekdays": None,
        "hours": None,
        "minutes": [0, 30],
        "cron_expr": "",
    }


def test_it_normalizes_cron_whitespace_and_names():
    cleaned = schedule_validate({"cron_expr": "  0  9 * *   mon-fri "}, "Europe/Berlin", now=NOW)
    assert cleaned["cron_expr"] == "0 9 * * MON-FRI"


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"minutes": [60]}, "minutes", "Minute 60 is out of range 0-59"),
        ({"hours": [24]}, "hours", "Hour 24 is out of range 0-23"),
        ({"months": [13]}, "months", "Month 13 is out of range 1-12"),
        ({"months": [0]}, "months", "Month 0 is out of range 1-12"),
        ({"days": [32]}, "days", "Day 32 is out of range 1-31"),
        ({"weekdays": [7]}, "weekdays", "Sunday is 0, not 7"),
        ({"minutes": ["5"]}, "minutes", "is not a whole number"),
        ({"minutes": [True]}, "minutes", "is not a whole number"),
        ({"minutes": 5}, "minutes", "Must be a list"),
        ({"months": [2], "days": [30, 31]}, "days", "occurs in February"),
        ({"years": [2020, 2024]}, "years", "in the past"),
        ({"cron_expr": "60 * * * *"}, "cron_expr", "Bad minute field '60'"),
        ({"cron_expr": "0 0 * 13 *"}, "cron_expr", "Bad month field '13'"),
        ({"cron_expr": "0 0 * * 8"}, "cron_expr", "Bad day-of-week field '8'"),
        ({"cron_expr": "0 0 * * FOO"}, "cron_expr", "Bad day-of-week field 'FOO'"),
        ({"cron_expr": "* * * *"}, "cron_expr", "5 fields"),
        ({"cron_expr": "0 0 0 * * *"}, "cron_expr", "got 6"),
        ({"cron_expr": "@often"}, "cron_expr", "Unknown macro"),
        ({"cron_expr": "0 0 30 2 *"}, "cron_expr", "never fires"),
        ({"cron_expr": "*/0 * * * *"}, "cron_expr", "Bad minute field"),
        ({"cron_expr": "0 0 * * *", "hours": [1]}, "cron_expr", "not both"),
        ({"cron_expr": 5}, "cron_expr", "Must be a string"),
        ({"bogus": 1}, "bogus", "Unknown schedule field"),
    ],
)
def test_it_names_the_field_and_the_problem(data, field, fragment):
    errors = errors_of(data)
    assert field in errors
    assert any(fragment in message for message in errors[field]), errors


def test_it_reports_every_bad_field_at_once():
    errors = errors_of({"minutes": [60], "months": [13], "weekdays": [7]})
    assert set(errors) == {"minutes", "months", "weekdays"}


def test_it_rejects_an_unknown_zone_under_timezone():  # B9 (the API maps this to 400)
    assert "Unknown time zone" in errors_of({}, "Mars/Olympus_Mons")["timezone"][0]
    assert "timezone" in errors_of({}, "")
    assert "timezone" in errors_of({}, "../../etc/passwd")


def test_it_rejects_a_grid_that_can_never_fire():
    # Feb 29 that is also a Monday, only in years without one
    errors = errors_of({"years": [2027], "months": [2], "days": [29]})
    assert "never fires" in errors["schedule"][0]


def test_it_accepts_a_past_year_list_that_still_has_a_future_slot():
    cleaned = schedule_validate({"years": [2025, 2026], "months": [12]}, "UTC", now=NOW)
    assert cleaned["years"] == [2025, 2026]


def test_it_accepts_or_rule_dates_that_exist():
    # day 30 never occurs in February, but with a weekday restricted cron ORs them
    assert schedule_validate({"cron_expr": "0 0 30 2 MON"}, "UTC", now=NOW)["cron_expr"]
