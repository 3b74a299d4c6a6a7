# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""iot_certificate_rotation's verdict: the failures weighed against max_failed and max_failed_percent."""

from __future__ import annotations

import pytest

from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot_rotation import verdict


def results(**counts: int) -> list[dict]:
    return [{"thing_name": f"{status}-{n}", "status": status} for status, count in counts.items() for n in range(count)]


@pytest.mark.parametrize(
    ("counts", "max_failed", "max_percent", "over", "percent"),
    [
        ({"rotated": 5}, 0, None, False, 0.0),
        ({"rotated": 4, "failed": 1}, 0, None, True, 20.0),
        ({"rotated": 7, "failed": 3}, 3, None, False, 30.0),  # at the threshold is within it
        ({"rotated": 6, "failed": 4}, 3, None, True, 40.0),
        ({"rotated": 96, "failed": 4}, 3, 5.0, False, 4.0),  # over the count, under the percentage
        ({"rotated": 94, "failed": 6}, 3, 5.0, True, 6.0),
        ({"failed": 2, "pending": 1, "not_due": 100, "deferred": 50}, 1, 50.0, True, 66.67),  # not_due and deferred are not worked on
        ({"failed": 2, "pending": 8}, 2, 0.0, False, 20.0),  # max_failed is the floor for small runs
        ({"pending": 3}, 0, None, False, 0.0),  # pending is not failed
        ({"not_due": 3}, 0, 10.0, False, 0.0),
    ],
)
def test_verdict(counts, max_failed, max_percent, over, percent) -> None:
    found = verdict(results(**counts), max_failed, max_percent)
    assert found["over_threshold"] is over and found["failed_percent"] == percent
    assert found["failed"] == counts.get("failed", 0)
    assert found["worked_on"] == sum(count for status, count in counts.items() if status not in ("not_due", "deferred"))
    assert found["failed_devices"] == [f"failed-{n}" for n in range(counts.get("failed", 0))]
    assert (found["max_failed"], found["max_failed_percent"]) == (max_failed, max_percent)


def test_the_threshold_in_words() -> None:
    assert verdict([], 0)["threshold"] == "more than 0 failed device(s)"
    assert verdict(results(rotated=3, failed=1), 2, 1.5)["threshold"] == "more than 2 failed device(s) and more than 1.5 % of the 4 devices worked on"
