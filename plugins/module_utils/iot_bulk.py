# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fleet-sized work in one module call: a client-side rate limit below the IoT quotas, and a result per device.

Enrolling or rotating 50,000 devices cannot be 50,000 Ansible tasks. The bulk modules take a list, run it on a few
threads (boto3 clients are thread-safe), and pace every HTTP request, retries included, through one token bucket
hooked into botocore's ``before-send`` event, so the call rate stays below the account's control-plane quota however
many threads there are. Throttling that still happens is retried with jitter (``AWSRetry.jittered_backoff``). One
device's failure is that device's result, not the run's.
"""

from __future__ import annotations

import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.smartcity.iot_analytics.plugins.module_utils.errors import error_code

# AWS IoT Core throttles its control plane per account and region, per API, typically at 10-15 requests/s for the
# certificate and attachment calls a rotation makes (see "AWS IoT Core endpoints and quotas" and the account's Service
# Quotas console: the values differ by API and region and can be raised). The default stays below the lowest of them.
DEFAULT_RATE_LIMIT = 8.0


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts of up to ``burst``; thread-safe."""

    def __init__(self, rate, burst=None, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0:
            raise ValueError("rate_limit: must be > 0 requests per second")
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else max(1.0, rate))
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.updated = clock()
        self.lock = threading.Lock()
        self.acquired = 0
        self.waited = 0.0

    def acquire(self):
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1.0 - 1e-9:  # float rounding must not leave a waiter short of a whole token
                    self.tokens = max(0.0, self.tokens - 1.0)
                    self.acquired += 1
                    return
                wait = (1.0 - self.tokens) / self.rate
                self.waited += wait
            self.sleep(wait)


def rate_limited(client, bucket):
    """Pace every HTTP request of ``client`` (a boto3 client or amazon.aws's retrying wrapper) through ``bucket``."""
    raw = getattr(client, "client", client)

    def _before_send(**kwargs):
        bucket.acquire()

    raw.meta.events.register("before-send", _before_send)
    return client


def describe_error(error):
    """One line for a device's result: the AWS error code and message, or the exception text."""
    message = getattr(error, "message", None) or str(error)
    inner = getattr(error, "exception", None)
    code = error_code(error)
    if inner is not None and str(inner) not in message:
        message = f"{message}: {inner}"
    return f"{message} ({code})" if code and code not in message else message


def run_each(items, work, workers=4):
    """``work(item)`` for every item on ``workers`` threads; returns results in item order.

    ``work`` returns a dict; an exception becomes ``{"status": "failed", "error": ...}`` for that item only.
    """

    def _one(item):
        try:
            return work(item)
        except Exception as error:  # pylint: disable=broad-exception-caught  # one device's failure is its result
            result = {"status": "failed", "error": describe_error(error)}
            if not getattr(error, "message", None) and not error_code(error):
                result["traceback"] = traceback.format_exc(limit=5)
            return result

    if workers <= 1 or len(items) <= 1:
        return [_one(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_one, items))


def summarize(results, key="status"):
    counts = {}
    for result in results:
        counts[result[key]] = counts.get(result[key], 0) + 1
    return counts
