"""The pipeline benchmark: the simulator against the running local data plane, measured end to end.

It publishes a fleet (default 50,000 sensors at 1 Hz in gateway batches of 500, 100 zones) for a fixed time through
the broker, the bridge, Kinesis, the poller and the real handler, and prints:

- readings acknowledged by the broker, readings stored (sum of the zone window counts), lost (must be 0) and
  counted twice (must be 0);
- sustained rates: published readings/s and stored readings/s over the whole run;
- latency from publish to the zone item being readable (p50/p95/p99), sampled on a few zones that are read ten
  times a second, and from publish to the CongestionAlert of one congested zone (through the alert probe queue);
- where the time goes: the bridge's and the poller's own figures (batch sizes, handler time, PutRecords and
  GetRecords time, waiting in the broker and the batching window, function errors and timeouts), started afresh
  when the run starts (``mark_stats``), so that they cover the run only.

Its zones are named ``smoke-b<time>-z<nnn>`` (synthetic traffic: routed to the probe queue, never to people) and
are removed afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import bisect
import json
import threading
import time
from pathlib import Path
from typing import Any

from ..devices.simulator import Congestion, MqttTransport, Scenario, Simulator
from ..shared import DependencyError, aws_client, percentiles
from .smoke import cleanup, drain, stack_outputs, zone_totals


class Watcher(threading.Thread):
    """Reads the sampled zones' totals ten times a second and the probe queue twice a second."""

    def __init__(self, dynamodb: Any, sqs: Any, table: str, probe_url: str, zones: list[str], alert_zone: str) -> None:
        super().__init__(daemon=True)
        self.dynamodb, self.sqs, self.table, self.probe_url = dynamodb, sqs, table, probe_url
        self.zones = zones
        self.alert_zone = alert_zone
        self.polls: dict[str, list[tuple[float, int]]] = {z: [] for z in zones}
        self.alert_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        next_probe = 0.0
        while not self.stop.is_set():
            for zone in self.zones:
                total = zone_totals(self.dynamodb, self.table, zone)["count"]
                self.polls[zone].append((time.time(), total))
            if self.alert_at is None and time.monotonic() >= next_probe:
                next_probe = time.monotonic() + 0.5
                got = drain(
                    self.sqs, self.probe_url, lambda b: (b.get("detail") or {}).get("zone") == self.alert_zone and b.get("detail-type") == "CongestionAlert"
                )
                if got:
                    self.alert_at = time.time()
            self.stop.wait(0.1)


def publish_to_visible(published: dict[str, list[tuple[float, int]]], polls: dict[str, list[tuple[float, int]]]) -> list[float]:
    """For every publish (time, cumulative readings of its zone), the time until a read first saw that many."""
    latencies = []
    for zone, events in published.items():
        seen = polls.get(zone, [])
        totals = [total for _at, total in seen]
        # totals only grow; the first poll at or after the publish whose total covers the publish
        for t_pub, cumulative in events:
            index = bisect.bisect_left(totals, cumulative)
            while index < len(seen) and seen[index][0] < t_pub:
                index += 1
            if index < len(seen):
                latencies.append(seen[index][0] - t_pub)
    return latencies


def cmd_bench(args: argparse.Namespace) -> int:
    try:
        outputs = stack_outputs(args.region, args.endpoint_url, args.stack_name)
    except DependencyError as exc:
        print(f"bench: {exc}")
        return 3
    run = time.strftime("%H%M%S", time.gmtime())
    prefix = f"smoke-b{run}"
    alert_zone = f"{prefix}-z001"
    scenario = Scenario(
        sensors=args.sensors,
        zones=args.zones,
        rate_hz=args.rate,
        duration_s=args.duration,
        gateway_size=args.gateway_size,
        gateway_format=args.gateway_format,
        seed=11,
        prefix=prefix,
        congestions=[Congestion(alert_zone, 0.0, args.duration / 60 + 1)],
    )
    sampled = [f"{prefix}-z{i + 1:03d}" for i in range(min(args.latency_zones, args.zones))]
    published: dict[str, list[tuple[float, int]]] = {z: [] for z in sampled}
    cumulative = dict.fromkeys(sampled, 0)
    first_publish: dict[str, float] = {}

    def on_publish(zone: str, at: float, count: int) -> None:
        first_publish.setdefault(zone, at)
        if zone in cumulative:
            cumulative[zone] += count
            published[zone].append((at, cumulative[zone]))

    simulator = Simulator(scenario, rule_name=outputs.get("TopicRuleName") if args.basic_ingest else None, on_publish=on_publish)
    print(
        f"bench: {args.sensors} sensors in {args.zones} zones at {args.rate} Hz, gateways of {args.gateway_size}, "
        f"{args.duration:.0f}s; issuing {len(simulator.devices)} device certificates",
        flush=True,
    )

    # each device's certificate registered and attached to its thing, as the gate (like IoT Core) requires: the
    # local CA's, which the CLI hands in (args.device_identity)
    ca_file, cert_for = args.device_identity(args)
    transport = MqttTransport(args.mqtt_host, args.mqtt_port, ca_file, cert_for, simulator.ack)
    dynamodb = aws_client("dynamodb", args.region, args.endpoint_url)
    watcher = Watcher(
        aws_client("dynamodb", args.region, args.endpoint_url),
        aws_client("sqs", args.region, args.endpoint_url),
        outputs["TableName"],
        outputs["AlertProbeQueueUrl"],
        sampled,
        alert_zone,
    )
    # the bridge's and the poller's figures start afresh here: they cover this run, not the traffic before it
    unmarked = mark_stats(Path(args.state_dir), f"bench-{run}-{time.time():.3f}")
    watcher.start()
    report = simulator.run(transport)
    published_at = time.time()
    print(
        f"bench: published {report.readings_acked} readings ({report.messages_acked} messages) in {report.duration_s:.1f}s; waiting for the pipeline to drain",
        flush=True,
    )
    zones = simulator.zones
    stored, drained_at = wait_drained(dynamodb, outputs["TableName"], zones, report.readings_acked, watcher, args.settle)
    time.sleep(0.3)
    watcher.stop.set()
    watcher.join(5)
    latencies = publish_to_visible(published, watcher.polls)
    lat = {k: (round(v * 1000) if v is not None else None) for k, v in percentiles(latencies).items()}
    alert_latency = None
    if watcher.alert_at is not None and alert_zone in first_publish:
        alert_latency = round((watcher.alert_at - first_publish[alert_zone]) * 1000)
    stats = component_stats(Path(args.state_dir))
    end = drained_at or time.time()
    result = {
        "sensors": args.sensors,
        "zones": args.zones,
        "gateway_size": args.gateway_size,
        "gateway_format": args.gateway_format,
        "rate_hz": args.rate,
        "duration_s": report.duration_s,
        "readings_published": report.readings_acked,
        "messages_published": report.messages_acked,
        "messages_refused": report.messages_refused,
        "readings_stored": stored,
        # missing when the wait ended: lost if the pipeline drained, else still on its way (the run fails either way)
        "readings_lost": max(0, report.readings_acked - stored),
        "drained": drained_at is not None,
        "settle_s": args.settle,
        "readings_double_counted": max(0, stored - report.readings_acked),
        "published_per_s": round(report.readings_acked / report.duration_s) if report.duration_s else 0,
        "stored_per_s": round(stored / (end - report.started_at)) if end > report.started_at else 0,
        "drain_after_publish_s": round(drained_at - published_at, 2) if drained_at else None,
        "publish_to_zone_item_ms": lat,
        "latency_samples": len(latencies),
        "publish_to_alert_ms": alert_latency,
        "publisher_lag_ms": report.publish_lag_ms,
        "bridge": stats.get("bridge"),
        "poller": stats.get("poller"),
        "component_figures_cover_this_run_only": not unmarked,
    }
    if not args.keep:
        remove_fleet(dynamodb, outputs["TableName"], simulator)
        cert_for.remove_all()  # and its devices' things and certificates at the endpoint
    print_result(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, sort_keys=True))
    ok = result["readings_lost"] == 0 and result["readings_double_counted"] == 0 and not report.messages_refused
    return 0 if ok else 1


def mark_stats(state: Path, token: str, wait: float = 15.0, components: tuple[str, ...] = ("bridge", "poller")) -> list[str]:
    """Asks the bridge and the poller to start new figures (their stats file's ``.mark``) and waits until their stats
    name the token; returns the components that did not in ``wait`` seconds (not running, or busy)."""
    for name in components:
        mark = state / f"{name}.stats.json.mark"
        tmp = mark.with_name(f".{mark.name}.tmp")
        tmp.write_text(token, encoding="utf-8")
        tmp.replace(mark)
    deadline = time.monotonic() + wait
    pending = list(components)
    while pending and time.monotonic() < deadline:
        pending = [name for name in pending if component_stats(state, (name,)).get(name, {}).get("mark") != token]
        if pending:
            time.sleep(0.2)
    if pending:
        print(f"bench: {', '.join(pending)} did not start new figures in time: their figures include earlier traffic", flush=True)
    return pending


def component_stats(state: Path, names: tuple[str, ...] = ("bridge", "poller")) -> dict[str, Any]:
    """The bridge's and the poller's own figures (their stats files, refreshed every second)."""
    stats = {}
    for name in names:
        path = state / f"{name}.stats.json"
        try:
            stats[name] = json.loads(path.read_text())
        except (OSError, ValueError):  # not there (yet)
            continue
    return stats


def wait_drained(dynamodb: Any, table: str, zones: list[str], expected: int, watcher: Watcher, settle: float) -> tuple[int, float | None]:
    """Until every published reading is stored (and the alert seen), at most ``settle`` seconds."""
    stored = 0
    drained_at = None
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        stored = sum(zone_totals(dynamodb, table, z)["count"] for z in zones)
        if stored >= expected:
            drained_at = drained_at or time.time()
            if watcher.alert_at is not None:
                break
        time.sleep(0.5)
    return stored, drained_at


def remove_fleet(dynamodb: Any, table: str, simulator: Simulator) -> None:
    """The benchmark's zones and sensors out of the table, so that later sweeps do not report them silent."""
    by_zone: dict[str, list[str]] = {}
    for device in simulator.devices:
        by_zone.setdefault(device.zone, []).extend(s.sensor_id for s in device.sensors)
    for zone in simulator.zones:
        cleanup(dynamodb, table, zone, sorted(set(by_zone.get(zone, []))))


def print_result(r: dict[str, Any]) -> None:
    lat = r["publish_to_zone_item_ms"]
    lines = [
        "",
        f"pipeline benchmark: {r['sensors']} sensors, {r['zones']} zones, gateways of {r['gateway_size']} ({r.get('gateway_format', 'readings')}),"
        f" {r['rate_hz']} Hz, {r['duration_s']:.1f}s",
        f"  readings published (broker acked) {r['readings_published']:>12,}   ({r['published_per_s']:,}/s)",
        f"  readings stored (zone windows)    {r['readings_stored']:>12,}   ({r['stored_per_s']:,}/s end to end)",
        (
            f"  lost {r['readings_lost']}, counted twice {r['readings_double_counted']}, refused messages {r['messages_refused']}"
            if r["drained"]
            else f"  NOT DRAINED: {r['readings_lost']:,} readings not stored {r['settle_s']:.0f}s after the last publish (still in the "
            f"pipeline, or lost: raise --settle to tell); counted twice {r['readings_double_counted']}, refused messages {r['messages_refused']}"
        ),
        f"  publish -> zone item readable     p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 {lat['p99']} ms ({r['latency_samples']} samples)",
        f"  publish -> CongestionAlert        {r['publish_to_alert_ms']} ms",
        f"  pipeline drained {r['drain_after_publish_s']} s after the last publish; publisher lag {r['publisher_lag_ms']}",
    ]
    bridge, poller = r.get("bridge") or {}, r.get("poller") or {}
    if bridge:
        lines.append(
            f"  bridge: {bridge.get('forwarded')} messages in {bridge.get('put_calls')} PutRecords calls, put {_ms(bridge.get('put_ms'))} ms, "
            f"receive->put {_ms(bridge.get('receive_to_put_ms'))} ms, entry retries {bridge.get('entry_retries')}"
        )
    if poller:
        lines.append(
            f"  poller: {poller.get('invocations')} invocations ({poller.get('function_errors')} function errors, "
            f"{poller.get('timeouts')} timeouts), {poller.get('records')} records, batch {_ms(poller.get('batch_size'))} records, "
            f"handler {_ms(poller.get('handler_ms'))} ms, GetRecords {_ms(poller.get('get_records_ms'))} ms, "
            f"batching wait {_ms(poller.get('batch_wait_ms'))} ms"
        )
    if not r.get("component_figures_cover_this_run_only", True):
        lines.append("  (the bridge's and poller's figures include traffic from before this run)")
    print("\n".join(lines), flush=True)


def _ms(values: dict[str, Any] | None) -> str:
    """p50/p95/p99 of a component's figures, rounded for reading."""
    if not values:
        return "-"
    return " / ".join(f"{k} {round(v) if v is not None else '-'}" for k, v in values.items())
