# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The bulk helpers: the token bucket paces every HTTP request (retries included), one device's failure is its own."""

from __future__ import annotations

import threading
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

from ansible_collections.smartcity.iot_analytics.plugins.module_utils import iot_bulk
from conftest import local_endpoint


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_bucket_allows_the_burst_then_paces_at_the_rate() -> None:
    clock = FakeClock()
    bucket = iot_bulk.TokenBucket(10, burst=5, clock=clock, sleep=clock.sleep)
    for _round in range(5):
        bucket.acquire()
    assert clock.now == 0.0  # the burst is free
    for _round in range(20):
        bucket.acquire()
    # 20 more at 10/s take 2 s of (fake) waiting, not less
    assert clock.now == pytest.approx(2.0, abs=1e-6)
    assert bucket.acquired == 25


def test_bucket_never_exceeds_the_rate_over_any_long_window() -> None:
    clock = FakeClock()
    bucket = iot_bulk.TokenBucket(8, clock=clock, sleep=clock.sleep)
    stamps = []
    for _round in range(200):
        bucket.acquire()
        stamps.append(clock.now)
    # any 1 s window holds at most rate + burst acquisitions
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s < start + 1.0]
        assert len(in_window) <= 8 + 8


@pytest.mark.parametrize("rate", [0, -1])
def test_bucket_rejects_a_rate_that_is_not_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="rate_limit: must be > 0"):
        iot_bulk.TokenBucket(rate)


def test_run_each_keeps_order_and_isolates_failures() -> None:
    def work(n: int) -> dict:
        if n % 3 == 0:
            raise botocore.exceptions.ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "CreateThing")
        return {"status": "ok", "n": n}

    results = iot_bulk.run_each(list(range(1, 10)), work, workers=4)
    assert [r.get("n") for r in results] == [1, 2, None, 4, 5, None, 7, 8, None]
    failed = [r for r in results if r["status"] == "failed"]
    assert len(failed) == 3
    assert all("ThrottlingException" in r["error"] for r in failed)
    assert iot_bulk.summarize(results) == {"ok": 6, "failed": 3}


def test_every_http_request_passes_the_bucket(tmp_path: Path) -> None:
    with local_endpoint(tmp_path) as url:
        client = boto3.client("iot", region_name="us-east-1", endpoint_url=url, aws_access_key_id="x", aws_secret_access_key="x")
        bucket = iot_bulk.TokenBucket(1000)
        iot_bulk.rate_limited(client, bucket)
        for n in range(7):
            client.create_thing(thingName=f"bulk-{n}")
        assert bucket.acquired == 7
        # a paginated listing is paced page by page
        pages = list(client.get_paginator("list_things").paginate(PaginationConfig={"PageSize": 2}))
        assert bucket.acquired == 7 + len(pages)
        assert len(pages) >= 4
