"""The smoke test's scenario and probe: publish a known scenario, then wait (bounded) until the system shows it.

The scenario uses a zone of its own, ``smoke-<run id>``: a few sensors publish congested readings (enough for one
CongestionAlert) and a few malformed messages of known kinds. The probe then waits until

- the zone's window items count exactly the valid readings that the broker acknowledged (nothing lost, nothing
  counted twice),
- the CongestionAlert of the zone arrived in the alert probe queue (an EventBridge rule that passes only smoke zones),
- each malformed message is in the quarantine queue with its reason,

and finally removes what the run stored (its zone, its sensors), so that later sweeps do not report the smoke
sensors as silent. Smoke zones never reach the alert topic or Slack (the template's rules leave them out).
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..devices.simulator import Congestion, Scenario
from ..shared import DependencyError, aws_client


def stack_outputs(region: str, endpoint_url: str | None, stack_name: str) -> dict[str, str]:
    """The deployed stack's outputs (table, queues, rule): what a probe reads and where it publishes."""
    cfn = aws_client("cloudformation", region, endpoint_url)
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except Exception as exc:
        raise DependencyError(f"cannot read stack {stack_name} in {region}: {exc}") from exc
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}


def smoke_scenario(run_id: str, sensors: int = 6, readings_per_sensor: int = 2) -> Scenario:
    """One zone, ``smoke-<run id>-z001``, congested from the first reading; run_id: up to 21 of [a-z0-9]."""
    prefix = f"smoke-{run_id}"
    return Scenario(
        sensors=sensors,
        zones=1,
        rate_hz=2.0,
        duration_s=readings_per_sensor / 2.0,
        gateway_size=0,
        seed=7,
        prefix=prefix,
        malformed={"bad_json": 1, "vehicle_count": 1},
        congestions=[Congestion(f"{prefix}-z001", 0.0, 60.0)],
    )


def zone_totals(dynamodb: Any, table: str, zone: str) -> dict[str, int]:
    """Sum of the zone's window items: readings and items, read consistently."""
    totals = {"count": 0, "items": 0}
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :w)",
        "ExpressionAttributeValues": {":pk": {"S": f"ZONE#{zone}"}, ":w": {"S": "W#"}},
        "ExpressionAttributeNames": {"#c": "count"},
        "ProjectionExpression": "#c",
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.query(**kwargs)
        for item in page.get("Items", []):
            totals["count"] += int(item.get("count", {}).get("N", "0"))
            totals["items"] += 1
        if not page.get("LastEvaluatedKey"):
            return totals
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def drain(sqs: Any, queue_url: str, keep: Any, max_messages: int = 500) -> list[dict]:
    """Receive what is visible; delete and return the bodies that ``keep`` accepts, release the others at once."""
    taken: list[dict] = []
    seen = 0
    while seen < max_messages:
        page = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30)
        messages = page.get("Messages", [])
        if not messages:
            break
        seen += len(messages)
        for message in messages:
            try:
                body = json.loads(message["Body"])
            except ValueError:
                body = None
            if isinstance(body, dict) and keep(body):
                taken.append(body)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:  # somebody else's message: make it visible again right away
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return taken


def probe(
    dynamodb: Any,
    sqs: Any,
    outputs: dict[str, str],
    zone: str,
    expected_readings: int,
    expected_alert: str | None,
    expected_reasons: dict[str, int],
    timeout: float = 60.0,
    poll: float = 0.5,
) -> dict[str, Any]:
    """Wait until everything expected is there, or the timeout; returns what was seen and what is missing."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    alerts: list[dict] = []
    quarantined: dict[str, int] = {}
    totals = {"count": 0, "items": 0}
    seen_at: dict[str, float] = {}
    while True:
        totals = zone_totals(dynamodb, outputs["TableName"], zone)
        if totals["count"] >= expected_readings and "readings" not in seen_at:
            seen_at["readings"] = round(time.monotonic() - started, 2)
        alerts += drain(sqs, outputs["AlertProbeQueueUrl"], lambda b: (b.get("detail") or {}).get("zone") == zone)
        for body in drain(sqs, outputs["QuarantineQueueUrl"], lambda b: b.get("partition_key") == zone):
            quarantined[body.get("reason", "?")] = quarantined.get(body.get("reason", "?"), 0) + 1
        alert_types = [a.get("detail-type") for a in alerts]
        if expected_alert and expected_alert in alert_types and "alert" not in seen_at:
            seen_at["alert"] = round(time.monotonic() - started, 2)
        missing = missing_parts(totals, expected_readings, alert_types, expected_alert, quarantined, expected_reasons)
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    return {
        "zone": zone,
        "ok": not missing,
        "missing": missing,
        "readings_expected": expected_readings,
        "readings_stored": totals["count"],
        "window_items": totals["items"],
        "alerts": alert_types,
        "quarantined": quarantined,
        "quarantine_expected": expected_reasons,
        "seconds": seen_at,
        "waited_s": round(time.monotonic() - started, 2),
    }


def missing_parts(
    totals: dict[str, int], expected_readings: int, alert_types: list, expected_alert: str | None, quarantined: dict[str, int], expected_reasons: dict[str, int]
) -> list[str]:
    missing = []
    if totals["count"] != expected_readings:
        missing.append(f"zone window items count {totals['count']} readings, expected exactly {expected_readings}")
    if expected_alert and expected_alert not in alert_types:
        missing.append(f"no {expected_alert} event in the alert probe queue (got: {alert_types or 'none'})")
    for reason, count in expected_reasons.items():
        if quarantined.get(reason, 0) < count:
            missing.append(f"quarantine holds {quarantined.get(reason, 0)} record(s) with reason {reason}, expected {count}")
    return missing


def cleanup(dynamodb: Any, table: str, zone: str, sensor_ids: list[str]) -> int:
    """Remove what the smoke run stored: its zone's items (window items, alert state, the sensor pages that hold its
    sensors' state, silences reported) and the zone from the zone list. ``sensor_ids`` are not needed any more: the
    sensors' state lives in the zone's pages. A page whose turn comes after the cleanup is written once more by the
    processor and expires with the table's TTL; the sweep does not visit it (the zone is off the zone list)."""
    keys = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": f"ZONE#{zone}"}},
        "ProjectionExpression": "pk, sk",
    }
    while True:
        page = dynamodb.query(**kwargs)
        keys.extend({"pk": i["pk"], "sk": i["sk"]} for i in page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    for start in range(0, len(keys), 25):
        requests = [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]
        pending: dict[str, Any] = {table: requests}
        for _attempt in range(10):
            result = dynamodb.batch_write_item(RequestItems=pending)
            pending = result.get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(0.2)
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": "META"}, "sk": {"S": "ZONES"}},
        UpdateExpression="DELETE #zs :z",
        ExpressionAttributeNames={"#zs": "zones"},
        ExpressionAttributeValues={":z": {"SS": [zone]}},
    )
    return len(keys)
