# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Capacity and cost plan of one region's deployment: pure arithmetic over inputs and a list-price table.

``plan(inputs, prices)`` sizes the ingest path (IoT Core publish rate against the account quota, Kinesis shards,
Lambda invocations and concurrency, DynamoDB writes and write units as on-demand bills them) and estimates the monthly cost per service from the prices in
``files/pricing.yml``. ``render_*`` turn plans into the text that deploy.yml prints and docs/capacity.md holds.
No AnsibleModule and no AWS call: the capacity_plan module, scripts/capacity_doc.py and the tests share this code.
"""

from __future__ import annotations

import math

MIB = 1024 * 1024
GB = 1000 ** 3
SECONDS_PER_MINUTE = 60

# Inputs with their defaults: the default design (gateways of 50 sensors sending one columnar message a second, Basic
# Ingest, aggregated writes). A reading takes ~50-60 bytes in a columnar gateway message (sensor ids of up to ~20
# characters; the zone and the field names once per message), ~150-160 as a JSON object of its own.
DEFAULT_INPUTS = {
    "sensors": 50000,
    "readings_per_sensor_per_second": 1.0,
    "readings_per_message": 50,
    "sensors_per_connection": 50,
    "basic_ingest": True,
    "zones": 500,
    "reading_bytes": 60,
    "aggregate_writes": True,
    "stream_mode": "PROVISIONED",
    "shard_count": None,
    "shard_headroom": 0.25,
    "batch_size": 2000,
    "max_batching_window_seconds": 5,
    "parallelization_factor": 1,
    "window_seconds": 60,
    "lambda_memory_mb": 1024,
    "lambda_architecture": "arm64",
    "custom_metrics": 15,
    "alarms": 8,
}

# The naive design the issue compares with: one message per reading (a JSON object), no Basic Ingest, one write per
# reading.
NAIVE_OVERRIDES = {
    "readings_per_message": 1,
    "sensors_per_connection": 1,
    "reading_bytes": 160,
    "basic_ingest": False,
    "aggregate_writes": False,
}

SERVICES = ("iot_core", "kinesis", "lambda", "dynamodb", "firehose", "s3", "cloudwatch", "kms")


class CapacityError(ValueError):
    """An input is outside what the plan can size (the message names it)."""


def _tiered(quantity: float, tiers: list[list[float | None]]) -> float:
    """Cost of ``quantity`` units under cumulative tiers ``[[upper bound or None, price per unit], ...]``."""
    cost = 0.0
    lower = 0.0
    for upper, price in tiers:
        top = quantity if upper is None else min(quantity, float(upper))
        if top > lower:
            cost += (top - lower) * float(price)
        if upper is None or quantity <= float(upper):
            break
        lower = float(upper)
    return cost


def _units(size_bytes: float, unit_bytes: float) -> int:
    return max(1, math.ceil(size_bytes / unit_bytes))


def validate(inputs: dict) -> dict:
    """Inputs merged over the defaults, checked; raises CapacityError naming the first bad input."""
    unknown = sorted(set(inputs) - set(DEFAULT_INPUTS))
    if unknown:
        raise CapacityError(f"unknown inputs: {', '.join(unknown)}")
    merged = dict(DEFAULT_INPUTS)
    merged.update({k: v for k, v in inputs.items() if v is not None or k == "shard_count"})
    positive = ("sensors", "readings_per_sensor_per_second", "readings_per_message", "sensors_per_connection", "zones",
                "reading_bytes", "batch_size", "parallelization_factor", "window_seconds", "lambda_memory_mb")
    for key in positive:
        if not merged[key] or merged[key] <= 0:
            raise CapacityError(f"{key} must be greater than 0")
    if merged["readings_per_message"] > 500:
        raise CapacityError("readings_per_message must be at most 500 (the telemetry contract's gateway batch)")
    if not 1 <= merged["parallelization_factor"] <= 10:
        raise CapacityError("parallelization_factor must be between 1 and 10")
    if merged["stream_mode"] not in ("PROVISIONED", "ON_DEMAND"):
        raise CapacityError("stream_mode must be PROVISIONED or ON_DEMAND")
    if merged["lambda_architecture"] not in ("arm64", "x86_64"):
        raise CapacityError("lambda_architecture must be arm64 or x86_64")
    if merged["max_batching_window_seconds"] < 0 or merged["shard_headroom"] < 0:
        raise CapacityError("max_batching_window_seconds and shard_headroom must not be negative")
    return merged


def _monthly_costs(i: dict, prices: dict, z: dict) -> dict:
    """Monthly cost per service of a sized deployment ``z`` (see plan())."""
    model = prices["model"]
    month = float(prices["seconds_per_month"])
    iot, kinesis = prices["iot_core"], prices["kinesis"]
    messages, message_bytes, bytes_per_second = z["messages"], z["message_bytes"], z["bytes_per_second"]
    batches, zones_per_batch = z["batches"], z["zones_per_batch"]
    costs = {}
    minutes = month / SECONDS_PER_MINUTE
    monthly_messages = messages * month
    iot_cost = z["connections"] * minutes * iot["connectivity_per_million_minutes"] / 1e6
    if not i["basic_ingest"]:
        iot_cost += _tiered(monthly_messages * z["iot_units"], iot["messaging_tiers_per_million"]) / 1e6
    iot_cost += monthly_messages * z["iot_units"] * (iot["rules_triggered_per_million"] + iot["actions_executed_per_million"]) / 1e6
    costs["iot_core"] = iot_cost

    monthly_records = monthly_messages
    if i["stream_mode"] == "ON_DEMAND":
        gb_in = bytes_per_second * month / GB
        costs["kinesis"] = (month / 3600 * kinesis["on_demand_stream_hour"] + gb_in * kinesis["on_demand_gb_in"]
                            + gb_in * model["stream_consumers"] * kinesis["on_demand_gb_out"])
    else:
        costs["kinesis"] = (z["shards"] * month / 3600 * kinesis["shard_hour"]
                            + monthly_records * _units(message_bytes, kinesis["put_unit_bytes"]) * kinesis["put_units_per_million"] / 1e6)

    lam = prices["lambda"]
    sweeps = month / SECONDS_PER_MINUTE
    gb_seconds = (batches * month * z["duration_ms"] + sweeps * model["sweep_ms"]) / 1000 * i["lambda_memory_mb"] / 1024
    costs["lambda"] = (batches * month + sweeps) * lam["requests_per_million"] / 1e6 + gb_seconds * lam[f"gb_second_{i['lambda_architecture']}"]

    ddb = prices["dynamodb"]
    costs["dynamodb"] = z["write_units"] * month * ddb["write_request_units_per_million"] / 1e6

    firehose = prices["firehose"]
    billed_gb = monthly_records * _units(message_bytes, firehose["record_unit_bytes"]) * firehose["record_unit_bytes"] / GB
    converted_gb = bytes_per_second * month / GB
    costs["firehose"] = _tiered(billed_gb, firehose["ingest_tiers_per_gb"]) + converted_gb * firehose["format_conversion_per_gb"]

    history_gb = z["readings"] * month * model["parquet_bytes_per_reading"] / GB
    costs["s3"] = history_gb * prices["s3"]["standard_gb_month"]

    cw = prices["cloudwatch"]
    metrics = i["zones"] + i["custom_metrics"]
    emf_gb = batches * month * (zones_per_batch + 1) * model["emf_bytes_per_line"] / GB
    costs["cloudwatch"] = (metrics * cw["metric_month"] + emf_gb * cw["logs_ingest_gb"] + i["alarms"] * cw["alarm_month"]
                           + cw["dashboard_month"])
    costs["kms"] = prices["kms"]["key_month"]

    return costs


def sensor_pages(sensors_per_zone: float, model: dict) -> tuple[int, float]:
    """Pages per zone and bytes per page of the live sensor state: a zone's pages double until none passes the
    split size (the processor's live_state.PAGE_SPLIT_BYTES), sensors spread evenly over them by hash."""
    zone_bytes = sensors_per_zone * model["sensor_entry_bytes"]
    pages = 1
    while zone_bytes / pages + model["page_overhead_bytes"] > model["page_split_bytes"]:
        pages *= 2
    return pages, zone_bytes / pages + model["page_overhead_bytes"]


def _aggregated_writes(i: dict, model: dict, batches: float, zones_per_batch: float, lanes: int) -> dict:
    """DynamoDB writes and write units per second of the default design, as on-demand bills them (one unit per
    started KB of the larger of the item before and after the write), and the busiest second's units.

    - zone windows: one conditional UpdateItem per zone and batch (a small item: one unit);
    - the live view's digests: one UpdateItem per batch and shard (per 150 zones), billed by the digest's size;
    - sensor pages: each page of each zone rewritten once per window at its turn, billed by the page's size.

    The busiest second comes at a window boundary: for one batching window, batches straddle two windows and write
    two zone-window items per zone; pages take their turns outside the window's first tenth, so they are not there.
    """
    zone_writes = batches * zones_per_batch
    zone_units = zone_writes * _units(model["zone_window_item_bytes"], 1024)
    digest_writes = batches * math.ceil(zones_per_batch / 150)
    digest_bytes = i["zones"] / lanes * model["digest_zone_bytes"] + model["page_overhead_bytes"]
    digest_units = digest_writes * _units(digest_bytes, 1024)
    pages, page_bytes = sensor_pages(i["sensors"] / i["zones"], model)
    page_writes = i["zones"] * pages / i["window_seconds"]
    page_units = page_writes * _units(page_bytes, 1024)
    units = zone_units + digest_units + page_units
    peak = max(2 * zone_units + digest_units, zone_units + digest_units + page_units / 0.9)
    return {
        "writes_per_second": zone_writes + digest_writes + page_writes,
        "write_units_per_second": units,
        "peak_write_units_per_second": peak,
        "zone_window_units_per_second": zone_units,
        "digest_units_per_second": digest_units,
        "sensor_page_units_per_second": page_units,
        "sensor_pages_per_zone": pages,
        "sensor_page_bytes": page_bytes,
    }


def plan(inputs: dict, prices: dict) -> dict:
    """Size the deployment and estimate its monthly cost. ``inputs`` override DEFAULT_INPUTS."""
    i = validate(inputs)
    model = prices["model"]

    readings = i["sensors"] * i["readings_per_sensor_per_second"]
    messages = readings / i["readings_per_message"]
    # A gateway message adds its envelope (the zone and the column names) to its readings; a single reading is its own.
    message_bytes = i["readings_per_message"] * i["reading_bytes"] + (model["message_envelope_bytes"] if i["readings_per_message"] > 1 else 0)
    bytes_per_second = messages * message_bytes
    connections = math.ceil(i["sensors"] / i["sensors_per_connection"])

    quota = prices["iot_core"]["publish_quota_per_second"]
    iot_units = _units(message_bytes, prices["iot_core"]["message_unit_bytes"])

    kinesis = prices["kinesis"]
    by_records = messages / kinesis["records_per_shard_per_second"]
    by_bytes = bytes_per_second / (kinesis["mib_per_shard_per_second"] * MIB)
    shards_needed = max(1, math.ceil(max(by_records, by_bytes) * (1 + i["shard_headroom"])))
    # A ShardCount below 1 is the template's to refuse; the plan warns and sizes with one shard.
    shards = shards_needed if i["shard_count"] is None else max(1, int(i["shard_count"]))
    if i["stream_mode"] == "ON_DEMAND":
        shards = shards_needed  # Kinesis scales the stream; the mapping still reads one batch per shard

    # One record per message (partition key = zone). The mapping reads each shard in up to ParallelizationFactor
    # concurrent batches; a batch closes when full or when the batching window (at least ~1 s of polling) ends.
    records_per_shard = messages / shards
    window = max(float(i["max_batching_window_seconds"]), 1.0)
    pf = i["parallelization_factor"]
    batches_per_shard = pf * max(1.0 / window, records_per_shard / pf / i["batch_size"])
    batches = shards * batches_per_shard
    records_per_batch = messages / batches
    readings_per_batch = records_per_batch * i["readings_per_message"]
    zones_per_batch = min(i["zones"] / (shards * pf), readings_per_batch)

    if i["aggregate_writes"]:
        ddb = _aggregated_writes(i, model, batches, zones_per_batch, shards * pf)
        write_requests_per_batch = ddb["writes_per_second"] / batches
    else:
        # one PutItem per reading, each item a reading with its keys: one unit per started KB, evenly over time
        units = readings * _units(i["reading_bytes"] + model["key_bytes"], 1024)
        ddb = {"writes_per_second": readings, "write_units_per_second": units, "peak_write_units_per_second": units}
        write_requests_per_batch = readings_per_batch / model["batch_write_items"]
    duration_ms = (model["lambda_base_ms"] + model["lambda_ms_per_reading"] * readings_per_batch
                   + model["lambda_ms_per_write_request"] * write_requests_per_batch)
    concurrency = shards * pf + 1  # one batch per shard and parallelization slot, plus the sweep

    sizing = {"readings": readings, "messages": messages, "message_bytes": message_bytes, "bytes_per_second": bytes_per_second,
              "connections": connections, "iot_units": iot_units, "shards": shards, "batches": batches,
              "duration_ms": duration_ms, "write_units": ddb["write_units_per_second"], "zones_per_batch": zones_per_batch}
    costs = _monthly_costs(i, prices, sizing)
    costs = {k: round(v, 2) for k, v in costs.items()}
    warnings = []
    if messages > quota:
        warnings.append(f"IoT Core publishes {messages:,.0f}/s exceed the default account quota of {quota:,}/s: request an increase")
    if i["stream_mode"] == "PROVISIONED" and i["shard_count"] is not None and i["shard_count"] < shards_needed:
        warnings.append(f"ShardCount {i['shard_count']} is below the {shards_needed} shards this load needs (with {i['shard_headroom']:.0%} headroom)")
    return {
        "inputs": i,
        "readings_per_second": readings,
        "messages_per_second": messages,
        "message_bytes": message_bytes,
        "ingest_mib_per_second": bytes_per_second / MIB,
        "iot": {"publishes_per_second": messages, "quota_per_second": quota, "quota_increase_needed": messages > quota,
                "connections": connections, "message_units": iot_units},
        "kinesis": {"shards_needed": shards_needed, "shard_count": shards, "records_per_second": messages},
        "lambda": {"invocations_per_second": batches, "concurrency": concurrency, "readings_per_batch": readings_per_batch,
                   "duration_ms": duration_ms},
        "dynamodb": dict(ddb, peak_to_average=ddb["peak_write_units_per_second"] / ddb["write_units_per_second"]),
        "monthly_cost_usd": costs,
        "total_monthly_usd": round(sum(costs.values()), 2),
        "prices_as_of": prices["as_of"],
        "prices_region": prices["region"],
        "warnings": warnings,
    }


def money(value: float) -> str:
    return f"${value:,.0f}"


def render_summary(result: dict, label: str = "") -> list[str]:
    """The plan as short lines for a playbook's output."""
    i = result["inputs"]
    head = f"Capacity and cost plan{' for ' + label if label else ''}"
    lines = [
        f"{head}: {i['sensors']:,} sensors x {i['readings_per_sensor_per_second']:g}/s = {result['readings_per_second']:,.0f} readings/s, "
        f"{i['readings_per_message']} per message, Basic Ingest {'on' if i['basic_ingest'] else 'off'}, {i['zones']:,} zones",
        f"IoT Core: {result['iot']['publishes_per_second']:,.0f} publishes/s of {result['iot']['quota_per_second']:,}/s quota "
        f"({'increase needed' if result['iot']['quota_increase_needed'] else 'within quota'}), {result['iot']['connections']:,} connections",
        f"Kinesis: shards needed {result['kinesis']['shards_needed']}, planned {result['kinesis']['shard_count']} ({i['stream_mode']}), "
        f"{result['ingest_mib_per_second']:.2f} MiB/s",
        f"Lambda: {result['lambda']['invocations_per_second']:,.1f} invocations/s, concurrency {result['lambda']['concurrency']}, "
        f"~{result['lambda']['readings_per_batch']:,.0f} readings per batch",
        f"DynamoDB: {result['dynamodb']['writes_per_second']:,.0f} writes/s, {result['dynamodb']['write_units_per_second']:,.0f} write units/s "
        f"(busiest second {result['dynamodb']['peak_write_units_per_second']:,.0f}, {result['dynamodb']['peak_to_average']:.2f}x the average)",
        "Monthly estimate: " + ", ".join(f"{k} {money(v)}" for k, v in result["monthly_cost_usd"].items())
        + f"; total {money(result['total_monthly_usd'])} (list prices {result['prices_region']}, {result['prices_as_of']})",
    ]
    lines.extend(f"WARNING: {w}" for w in result["warnings"])
    return lines


def render_comparison(default: dict, naive: dict) -> str:
    """Markdown table: the default design beside the naive one."""
    rows = [
        ("readings/s", f"{default['readings_per_second']:,.0f}", f"{naive['readings_per_second']:,.0f}"),
        ("readings per MQTT message", str(default["inputs"]["readings_per_message"]), str(naive["inputs"]["readings_per_message"])),
        ("Basic Ingest", "on" if default["inputs"]["basic_ingest"] else "off", "on" if naive["inputs"]["basic_ingest"] else "off"),
        ("IoT Core publishes/s (quota 20,000)", f"{default['iot']['publishes_per_second']:,.0f}"
         + (" (increase needed)" if default["iot"]["quota_increase_needed"] else ""),
         f"{naive['iot']['publishes_per_second']:,.0f}" + (" (increase needed)" if naive["iot"]["quota_increase_needed"] else "")),
        ("device connections", f"{default['iot']['connections']:,}", f"{naive['iot']['connections']:,}"),
        ("Kinesis shards", str(default["kinesis"]["shard_count"]), str(naive["kinesis"]["shard_count"])),
        ("Lambda invocations/s", f"{default['lambda']['invocations_per_second']:,.1f}", f"{naive['lambda']['invocations_per_second']:,.1f}"),
        ("Lambda concurrency", str(default["lambda"]["concurrency"]), str(naive["lambda"]["concurrency"])),
        ("DynamoDB writes/s", f"{default['dynamodb']['writes_per_second']:,.0f}", f"{naive['dynamodb']['writes_per_second']:,.0f}"),
        ("DynamoDB write units/s (billed)", f"{default['dynamodb']['write_units_per_second']:,.0f}",
         f"{naive['dynamodb']['write_units_per_second']:,.0f}"),
        ("DynamoDB write units per 1,000 readings", f"{1000 * default['dynamodb']['write_units_per_second'] / default['readings_per_second']:.2f}",
         f"{1000 * naive['dynamodb']['write_units_per_second'] / naive['readings_per_second']:.2f}"),
        ("DynamoDB busiest second (write units, x average)",
         f"{default['dynamodb']['peak_write_units_per_second']:,.0f} ({default['dynamodb']['peak_to_average']:.2f}x)",
         f"{naive['dynamodb']['peak_write_units_per_second']:,.0f} ({naive['dynamodb']['peak_to_average']:.2f}x)"),
    ]
    rows += [(f"{k} (USD/month)", money(default["monthly_cost_usd"][k]), money(naive["monthly_cost_usd"][k])) for k in SERVICES]
    rows.append(("**total (USD/month)**", f"**{money(default['total_monthly_usd'])}**", f"**{money(naive['total_monthly_usd'])}**"))
    share = default["total_monthly_usd"] / naive["total_monthly_usd"]
    rows.append(("default as share of naive", f"{share:.1%}", "100%"))
    lines = ["| | default design | naive design |", "| --- | ---: | ---: |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)
