"""AWS edges: DynamoDB, EventBridge and SQS through boto3's low-level clients, with bounded retries.

Transient failures (throttling, 5xx, connection errors) are retried with capped exponential backoff and full
jitter; what still fails raises ``EdgeError`` and the processor reports the affected records as batch item
failures. boto3's own retries are switched off so that there is one retry policy, the one tested here.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable
from typing import Any, Callable, TypeVar

from botocore.config import Config

from .aggregate import Contribution, seq_key
from .alerts import SOURCE, Alert, ZoneState
from .live_model import LIVE_PK, SWEEP_SK, ZONE_PREFIX, window_sk
from .live_state import PAGE_PREFIX, SILENT_PREFIX, SensorPage, page_from_item, page_item_attributes
from .ports import EdgeError, Publisher, Quarantine, Store, WindowResult

T = TypeVar("T")

TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "TransactionConflictException",
        "RequestThrottled",
        "KMSThrottlingException",
    }
)
_CONNECTION_ERRORS = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError")


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def is_transient(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error_code(exc) in TRANSIENT_CODES or status >= 500
    return type(exc).__name__ in _CONNECTION_ERRORS


class Retry:
    """Capped exponential backoff with full jitter, a bounded number of attempts."""

    def __init__(
        self, attempts: int = 5, base: float = 0.05, cap: float = 1.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self.sleep = sleep

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * (2**attempt)))

    def call(self, what: str, fn: Callable[..., T], **kwargs: Any) -> T:
        for attempt in range(self.attempts):
            try:
                return fn(**kwargs)
            except Exception as exc:
                if not is_transient(exc) or attempt == self.attempts - 1:
                    raise EdgeError(f"{what}: {type(exc).__name__}: {exc}") from exc
                self.sleep(self.delay(attempt))
        raise EdgeError(f"{what}: no attempt made")  # pragma: no cover - attempts >= 1


def client_config() -> Any:
    """botocore Config for the processor's clients: short timeouts, no built-in retries (``Retry`` does them)."""
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=2,
        read_timeout=5,
        max_pool_connections=16,
        tcp_keepalive=True,
    )


def _n(value: Any) -> dict[str, str]:
    if isinstance(value, float):
        return {"N": format(value, ".6f")}
    return {"N": str(value)}


def _num(item: dict[str, Any], name: str, default: Any = 0) -> Any:
    value = item.get(name)
    if not value or "N" not in value:
        return default
    text = value["N"]
    return float(text) if ("." in text or "e" in text or "E" in text) else int(text)


class DynamoStore(Store):
    """The table of the data contract (``pk``/``sk``, TTL ``expires_at``)."""

    def __init__(self, client: Any, table: str, retry: Retry | None = None) -> None:
        self.client = client
        self.table = table
        self.retry = retry or Retry()
        self.writes = 0  # items written (each counts as a write request unit or more)

    # -- stream path -------------------------------------------------------------------------------------------
    def add_window(
        self, zone: str, window_start: int, shard: str, contribution: Contribution, expires_at: int, now_s: int
    ) -> WindowResult:
        request = {
            "TableName": self.table,
            "Key": {"pk": {"S": "ZONE#" + zone}, "sk": {"S": f"W#{window_start}#{shard}"}},
            "UpdateExpression": (
                "ADD #c :c, vehicle_count_sum :v, speed_sum :s, congestion_sum :g "
                "SET #z = :z, window_start = :w, #sh = :sh, last_seq = :hi, expires_at = :e, updated_at = :u"
            ),
            "ConditionExpression": "attribute_not_exists(last_seq) OR last_seq < :lo",
            # Every name a placeholder: DynamoDB reserves hundreds of words (COUNT, ZONE, SHARD, STATE, ...).
            "ExpressionAttributeNames": {"#c": "count", "#z": "zone", "#sh": "shard"},
            "ExpressionAttributeValues": {
                ":c": _n(contribution.count),
                ":v": _n(contribution.vehicles),
                ":s": _n(contribution.speed),
                ":g": _n(contribution.congestion),
                ":z": {"S": zone},
                ":w": _n(window_start),
                ":sh": {"S": shard},
                ":hi": {"S": seq_key(contribution.high_seq)},
                ":lo": {"S": seq_key(contribution.low_seq)},
                ":e": _n(expires_at),
                ":u": _n(now_s),
            },
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            response = self.retry.call("DynamoDB UpdateItem (zone window)", self.client.update_item, **request)
        except EdgeError as exc:
            cause = exc.__cause__
            if error_code(cause) != "ConditionalCheckFailedException":
                raise
            old = getattr(cause, "response", {}).get("Item") or self._get(request["Key"])
            return _window_result(False, old)
        self.writes += 1
        return _window_result(True, response.get("Attributes", {}))

    def _get(self, key: dict[str, Any]) -> dict[str, Any]:
        response = self.retry.call(
            "DynamoDB GetItem", self.client.get_item, TableName=self.table, Key=key, ConsistentRead=True
        )
        return response.get("Item", {})

    # -- live sensor state (live_state) --------------------------------------------------------------------------
    def load_sensor_pages(self, zone: str) -> list[SensorPage]:
        return [page_from_item(item) for item in self._query_prefix(zone, PAGE_PREFIX, "DynamoDB Query (sensor pages)")]

    def _query_prefix(self, zone: str, prefix: str, what: str) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": "ZONE#" + zone}, ":p": {"S": prefix}},
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while True:
            response = self.retry.call(what, self.client.query, **request)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def put_sensor_page(self, zone: str, page: SensorPage, expected_version: int, expires_at: int) -> bool:
        request: dict[str, Any] = {"TableName": self.table, "Item": page_item_attributes(zone, page, expires_at)}
        if expected_version:
            request.update(ConditionExpression="v = :v", ExpressionAttributeValues={":v": _n(expected_version)})
        else:
            request["ConditionExpression"] = "attribute_not_exists(pk)"
        if not self._write_if("DynamoDB PutItem (sensor page)", self.client.put_item, request):
            return False
        self.writes += 1
        return True

    def delete_sensor_page(self, zone: str, page: SensorPage, expected_version: int) -> bool:
        return self._write_if("DynamoDB DeleteItem (sensor page)", self.client.delete_item, {
            "TableName": self.table,
            "Key": {"pk": {"S": "ZONE#" + zone}, "sk": {"S": page.sk}},
            "ConditionExpression": "v = :v",
            "ExpressionAttributeValues": {":v": _n(expected_version)},
        })

    def _write_if(self, what: str, call: Callable[..., Any], request: dict[str, Any]) -> bool:
        """A conditional write; False when its condition does not hold."""
        try:
            self.retry.call(what, call, **request)
        except EdgeError as exc:
            if error_code(exc.__cause__) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def add_zones(self, zones: Iterable[str]) -> None:
        zone_list = sorted(set(zones))
        if not zone_list:
            return
        self.retry.call(
            "DynamoDB UpdateItem (zone list)",
            self.client.update_item,
            TableName=self.table,
            Key={"pk": {"S": "META"}, "sk": {"S": "ZONES"}},
            UpdateExpression="ADD #zs :z",
            ExpressionAttributeNames={"#zs": "zones"},
            ExpressionAttributeValues={":z": {"SS": zone_list}},
        )
        self.writes += 1

    # -- the live view's digests ---------------------------------------------------------------------------------
    LIVE_ZONES_PER_UPDATE = 150  # keeps each UpdateExpression well under DynamoDB's 4 KB

    def put_live_window(self, window_start: int, shard: str, zones: dict[str, str], expires_at: int, now_ms: int) -> None:
        items = sorted(zones.items())
        for start in range(0, len(items), self.LIVE_ZONES_PER_UPDATE):
            chunk = items[start : start + self.LIVE_ZONES_PER_UPDATE]
            names = {f"#z{i}": ZONE_PREFIX + zone for i, (zone, _value) in enumerate(chunk)}
            values: dict[str, Any] = {f":z{i}": {"S": value} for i, (_zone, value) in enumerate(chunk)}
            values.update({":w": _n(window_start), ":e": _n(expires_at), ":u": _n(now_ms)})
            sets = ", ".join(f"#z{i} = :z{i}" for i in range(len(chunk)))
            self.retry.call(
                "DynamoDB UpdateItem (live view digest)",
                self.client.update_item,
                TableName=self.table,
                Key={"pk": {"S": LIVE_PK}, "sk": {"S": window_sk(window_start, shard)}},
                UpdateExpression=f"SET {sets}, window_start = :w, expires_at = :e, updated_ms = :u",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            self.writes += 1

    def put_live_sweep(self, window_start: int, zones: dict[str, str], expires_at: int, now_ms: int) -> None:
        item: dict[str, Any] = {ZONE_PREFIX + zone: {"S": value} for zone, value in zones.items()}
        item.update({
            "pk": {"S": LIVE_PK}, "sk": {"S": SWEEP_SK}, "window_start": _n(window_start), "expires_at": _n(expires_at),
            "updated_ms": _n(now_ms),
        })
        self.retry.call("DynamoDB PutItem (live view sweep digest)", self.client.put_item, TableName=self.table, Item=item)
        self.writes += 1

    def get_zone_state(self, zone: str) -> ZoneState:
        item = self._get({"pk": {"S": "ZONE#" + zone}, "sk": {"S": "ALERT"}})
        if not item:
            return ZoneState()
        return ZoneState(
            state=item.get("state", {}).get("S", "CLEAR"),
            since=_num(item, "since"),
            window_start=_num(item, "window_start", -1),
            drop_state=item.get("drop_state", {}).get("S", "NORMAL"),
            drop_window=_num(item, "drop_window", -1),
            drop_baseline=float(_num(item, "drop_baseline", 0.0)),
        )

    def set_congestion(self, zone: str, new: ZoneState, expected: ZoneState, now_s: int) -> bool:
        if expected.window_start < 0:
            condition = "attribute_not_exists(window_start)"
            values: dict[str, Any] = {}
        else:
            condition = "window_start = :ew AND #st = :es"
            values = {":ew": _n(expected.window_start), ":es": {"S": expected.state}}
        values.update({":st": {"S": new.state}, ":since": _n(new.since), ":w": _n(new.window_start)})
        return self._conditional(
            "DynamoDB UpdateItem (zone alert state)",
            zone,
            now_s,
            "#st = :st, #si = :since, window_start = :w",
            condition,
            {"#st": "state", "#si": "since"},
            values,
        )

    def set_drop(self, zone: str, new: ZoneState, expected: ZoneState, now_s: int) -> bool:
        if expected.drop_window < 0:
            condition = "attribute_not_exists(drop_window)"
            values: dict[str, Any] = {}
        else:
            condition = "drop_window = :edw"
            values = {":edw": _n(expected.drop_window)}
        values.update({":ds": {"S": new.drop_state}, ":dw": _n(new.drop_window), ":db": _n(float(new.drop_baseline))})
        return self._conditional(
            "DynamoDB UpdateItem (zone data-drop state)",
            zone,
            now_s,
            "drop_state = :ds, drop_window = :dw, drop_baseline = :db",
            condition,
            {},
            values,
        )

    def _conditional(
        self,
        what: str,
        zone: str,
        now_s: int,
        sets: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> bool:
        """Conditionally SET ``sets`` (plus the zone and the update time) on the zone's ALERT item; False when the
        condition does not hold."""
        names = dict(names, **{"#z": "zone"})
        values = dict(values, **{":z": {"S": zone}, ":u": _n(now_s)})
        written = self._write_if(what, self.client.update_item, {
            "TableName": self.table,
            "Key": {"pk": {"S": "ZONE#" + zone}, "sk": {"S": "ALERT"}},
            "UpdateExpression": f"SET {sets}, #z = :z, updated_at = :u",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        })
        self.writes += written
        return written

    # -- sweep ---------------------------------------------------------------------------------------------------
    def list_zones(self) -> list[str]:
        item = self._get({"pk": {"S": "META"}, "sk": {"S": "ZONES"}})
        return sorted(item.get("zones", {}).get("SS", []))

    def window_totals(self, zone: str, first_window: int, last_window: int) -> dict[int, tuple[int, float]]:
        totals: dict[int, tuple[int, float]] = {}
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
            "ProjectionExpression": "window_start, #c, congestion_sum",
            "ExpressionAttributeNames": {"#c": "count"},
            "ExpressionAttributeValues": {
                ":pk": {"S": "ZONE#" + zone},
                ":a": {"S": f"W#{first_window}"},
                ":b": {"S": f"W#{last_window}#~"},
            },
            "ConsistentRead": True,
        }
        while True:
            response = self.retry.call("DynamoDB Query (zone windows)", self.client.query, **request)
            for item in response.get("Items", []):
                window_start = _num(item, "window_start")
                count, congestion = totals.get(window_start, (0, 0.0))
                totals[window_start] = (count + _num(item, "count"), congestion + _num(item, "congestion_sum", 0.0))
            if "LastEvaluatedKey" not in response:
                return totals
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def get_silence(self, zone: str) -> dict[str, tuple[int, int]]:
        items = self._query_prefix(zone, SILENT_PREFIX, "DynamoDB Query (silence reported)")
        return {
            item["sk"]["S"][len(SILENT_PREFIX) :]: (_num(item, "window_start"), _num(item, "reported_window", _num(item, "window_start") + 1))
            for item in items
        }

    def mark_silent(self, zone: str, reported: dict[str, tuple[int, int]], expires_at: int) -> None:
        self._batch_write("silence reported", [
            {"PutRequest": {"Item": {
                "pk": {"S": "ZONE#" + zone}, "sk": {"S": SILENT_PREFIX + sensor_id}, "window_start": _n(last_window),
                "reported_window": _n(report_window), "expires_at": _n(expires_at),
            }}}
            for sensor_id, (last_window, report_window) in sorted(reported.items())
        ])

    def forget_silence(self, zone: str, sensor_ids: list[str]) -> None:
        self._batch_write("silence reported", [
            {"DeleteRequest": {"Key": {"pk": {"S": "ZONE#" + zone}, "sk": {"S": SILENT_PREFIX + s}}}} for s in sorted(sensor_ids)
        ])

    def _batch_write(self, what: str, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending = requests[start : start + 25]
            for attempt in range(self.retry.attempts):
                response = self.retry.call(
                    f"DynamoDB BatchWriteItem ({what})", self.client.batch_write_item, RequestItems={self.table: pending}
                )
                unprocessed = response.get("UnprocessedItems", {}).get(self.table, [])
                self.writes += len(pending) - len(unprocessed)
                pending = unprocessed
                if not pending:
                    break
                self.retry.sleep(self.retry.delay(attempt))
            if pending:
                raise EdgeError(f"DynamoDB BatchWriteItem ({what}): {len(pending)} item(s) not written after retries")


def _window_result(applied: bool, item: dict[str, Any]) -> WindowResult:
    return WindowResult(
        applied, _num(item, "count"), _num(item, "congestion_sum", 0.0), _last_seq(item),
        _num(item, "vehicle_count_sum"), float(_num(item, "speed_sum", 0.0)),
    )


def _last_seq(item: dict[str, Any]) -> int:
    value = item.get("last_seq", {}).get("S")
    return int(value) if value else -1


class EventBridgePublisher(Publisher):
    def __init__(self, client: Any, bus: str, retry: Retry | None = None) -> None:
        self.client = client
        self.bus = bus
        self.retry = retry or Retry()

    def publish(self, alerts: list[Alert]) -> None:
        entries = [
            {
                "Source": SOURCE,
                "DetailType": alert.detail_type,
                "Detail": json.dumps(alert.detail, separators=(",", ":"), sort_keys=True),
                "EventBusName": self.bus,
            }
            for alert in alerts
        ]
        for start in range(0, len(entries), 10):
            pending = entries[start : start + 10]
            for attempt in range(self.retry.attempts):
                response = self.retry.call("EventBridge PutEvents", self.client.put_events, Entries=pending)
                if not response.get("FailedEntryCount"):
                    pending = []
                    break
                pending = [e for e, r in zip(pending, response.get("Entries", [])) if r.get("ErrorCode")]
                self.retry.sleep(self.retry.delay(attempt))
            if pending:
                raise EdgeError(f"EventBridge PutEvents: {len(pending)} alert(s) not accepted after retries")


class SqsQuarantine(Quarantine):
    MAX_BATCH_BYTES = 200_000

    def __init__(self, client: Any, queue_url: str, retry: Retry | None = None) -> None:
        self.client = client
        self.queue_url = queue_url
        self.retry = retry or Retry()

    def send(self, messages: list[dict]) -> None:
        bodies = [json.dumps(m, separators=(",", ":"), sort_keys=True) for m in messages]
        batch: list[str] = []
        size = 0
        for body in bodies:
            if batch and (len(batch) == 10 or size + len(body) > self.MAX_BATCH_BYTES):
                self._send(batch)
                batch, size = [], 0
            batch.append(body)
            size += len(body)
        if batch:
            self._send(batch)

    def _send(self, bodies: list[str]) -> None:
        pending = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
        for attempt in range(self.retry.attempts):
            response = self.retry.call(
                "SQS SendMessageBatch (quarantine)", self.client.send_message_batch, QueueUrl=self.queue_url,
                Entries=pending,
            )
            failed = {f["Id"] for f in response.get("Failed", [])}
            pending = [e for e in pending if e["Id"] in failed]
            if not pending:
                return
            self.retry.sleep(self.retry.delay(attempt))
        raise EdgeError(f"SQS SendMessageBatch (quarantine): {len(pending)} message(s) not accepted after retries")
