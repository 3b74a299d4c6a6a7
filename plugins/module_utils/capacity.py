# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Capacity and cost plan of one region's deployment: pure arithmetic over inputs and a list-price table.

``plan(inputs, prices)`` sizes the ingest path (IoT Core publish rate against the account quota, Kinesis shards,
Lambda invocations and concurrency, DynamoDB writes and write units as on-demand bills them) and the history (Firehose,
the raw Parquet in S3, the hourly rollup job and the Athena scans of the rollups and of QuickSight's refreshes, each
checked against its budget) and estimates the monthly cost per service from the prices in ``files/pricing.yml``.
``render_*`` turn plans into the text that deploy.yml prints and docs/capacity.md holds.
No AnsibleModule and no AWS call: the capacity_plan module, scripts/capacity_doc.py and the tests share this code.
"""

from __future__ import annotations

import math

MIB = 1024 * 1024
GB = 1000 ** 3
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400

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
    # The history: hourly raw partitions, an hourly rollup job and SPICE refreshes that read only the rollups (false:
    # daily partitions, every refresh reads raw readings, direct queries without a partition filter).
    "history_rollups": True,
    "raw_queries_per_day": 100,  # direct queries of the raw readings data set: an assumption, they depend on use
}

# The naive design the issue compares with: one message per reading (a JSON object), no Basic Ingest, one write per
# reading, and the history as it was before the rollups.
NAIVE_OVERRIDES = {
    "readings_per_message": 1,
    "sensors_per_connection": 1,
    "reading_bytes": 160,
    "basic_ingest": False,
    "aggregate_writes": False,
    "history_rollups": False,
}

SERVICES = ("iot_core", "kinesis", "lambda", "dynamodb", "firehose", "s3", "athena", "history_jobs", "cloudwatch", "kms")

# QuickSight's SPICE refreshes: (data set, refreshes per day, days read). With rollups, zone_hourly and sensor_daily
# read sensor_hour and zone_alerts reads zone_window; without, all three read the raw readings.
REFRESHES = (("zone_hourly", 24, 3, "sensor_hour"), ("sensor_daily", 1, 4, "sensor_hour"), ("zone_alerts", 24, 3, "zone_window"))
ROLLUPS = ("sensor_hour", "zone_window")  # one MERGE INTO each per hourly run


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
    if merged["raw_queries_per_day"] < 0:
        raise CapacityError("raw_queries_per_day must not be negative")
    if not isinstance(merged["history_rollups"], bool):
        raise CapacityError("history_rollups must be true or false")
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

    history = z["history"]
    costs["firehose"] = history["firehose_ingest_usd_month"] + history["format_conversion_usd_month"]
    costs["s3"] = history["s3_usd_month_after_1_month"]
    costs["athena"] = sum(history["athena_usd_month"].values())
    costs["history_jobs"] = history["stepfunctions_usd_month"] + history["scheduler_usd_month"]

    cw = prices["cloudwatch"]
    metrics = i["zones"] + i["custom_metrics"]
    emf_gb = batches * month * (zones_per_batch + 1) * model["emf_bytes_per_line"] / GB
    costs["cloudwatch"] = (metrics * cw["metric_month"] + emf_gb * cw["logs_ingest_gb"] + i["alarms"] * cw["alarm_month"]
                           + cw["dashboard_month"])
    costs["kms"] = prices["kms"]["key_month"]

    return {k: costs[k] for k in SERVICES}


def _scan(typical: float, pessimistic: float, budget: float, prices: dict) -> dict:
    """One Athena query's scan in GB (typical and pessimistic), its budget, and the GB it is billed for (typical): at
    least the per-query minimum, and a query past the workgroup's cutoff is cancelled there and billed for what it
    scanned until then, the cutoff."""
    cutoff = prices["model"]["athena_cutoff_bytes"]
    billed = cutoff if typical > cutoff else max(typical, prices["athena"]["min_bytes_per_query"])
    return {"scan_gb": typical / GB, "scan_gb_pessimistic": pessimistic / GB, "budget_gb": budget / GB,
            "within_budget": pessimistic <= budget, "exceeds_cutoff": pessimistic > cutoff, "fails": typical > cutoff,
            "billed_gb": billed / GB}


def _history(i: dict, prices: dict, z: dict) -> dict:
    """The history of a sized deployment ``z``: Firehose, raw Parquet and rollups in S3, the hourly rollup job, the
    Athena scans of rollup queries, SPICE refreshes and direct queries against their budgets, and their monthly cost.

    With rollups the raw readings are in hourly partitions (dh) and only the rollup job and the raw readings data set
    (one hour per query) read them; without, they are in daily partitions and every refresh reads days of them, and a
    direct query without a partition filter reads the whole history (here: its first month).
    """
    model = prices["model"]
    month = float(prices["seconds_per_month"])
    days_per_month = month / SECONDS_PER_DAY
    hours_per_month = month / SECONDS_PER_HOUR
    cutoff = model["athena_cutoff_bytes"]
    pessimism = model["parquet_bytes_per_reading_pessimistic"] / model["parquet_bytes_per_reading"]

    # Firehose: one record per Kinesis record, ingestion and format conversion both on the bytes rounded up to 5 KB
    firehose = prices["firehose"]
    billed_gb = z["messages"] * month * _units(z["message_bytes"], firehose["record_unit_bytes"]) * firehose["record_unit_bytes"] / GB

    raw_hour = z["readings"] * SECONDS_PER_HOUR * model["parquet_bytes_per_reading"]
    raw_hour_pessimistic = z["readings"] * SECONDS_PER_HOUR * model["parquet_bytes_per_reading_pessimistic"]
    rollups = i["history_rollups"]
    # rollup rows and bytes per delivery hour; pessimistic bytes: the row sizes scaled as the readings' (35/20)
    rows_per_hour = {
        "sensor_hour": i["sensors"] * model["sensor_hour_rows_per_sensor_hour"],
        "zone_window": i["zones"] * SECONDS_PER_HOUR / i["window_seconds"] * model["zone_window_rows_per_zone_window"],
    } if rollups else {}
    rollup_hour = {name: rows * model[f"{name}_row_bytes"] for name, rows in rows_per_hour.items()}

    rollup_queries = {
        name: _scan(raw_hour + model["rollup_target_hours_read"] * rollup_hour[name],
                    raw_hour_pessimistic + model["rollup_target_hours_read"] * rollup_hour[name] * pessimism,
                    model["rollup_query_budget_share"] * cutoff, prices)
        for name in (ROLLUPS if rollups else ())
    }
    refreshes = {}
    for name, per_day, days, source in REFRESHES:
        hour = rollup_hour[source] if rollups else raw_hour
        refreshes[name] = dict(_scan(days * 24 * hour, days * 24 * hour * pessimism, model["refresh_budget_bytes"], prices),
                               per_day=per_day, days=days, reads=source if rollups else "readings")
    # the raw readings data set: one hour per visual query, or (without a partition filter) the whole history
    raw_month = raw_hour * hours_per_month
    raw_query = (_scan(raw_hour, raw_hour_pessimistic, cutoff, prices) if rollups
                 else _scan(raw_month, raw_month * pessimism, cutoff, prices))
    raw_query.update(per_day=i["raw_queries_per_day"], reads="one hour of readings" if rollups else "the whole history (one month here)")

    athena = prices["athena"]
    per_tb = athena["per_tb_scanned"]
    daily_gb = {
        "rollups": 24 * sum(q["billed_gb"] for q in rollup_queries.values()),
        "refreshes": sum(r["per_day"] * r["billed_gb"] for r in refreshes.values()),
        "raw_queries": raw_query["per_day"] * raw_query["billed_gb"],
    }
    minimum_gb = athena["min_bytes_per_query"] / GB
    unbounded_gb = {  # what the same queries would scan if the workgroup let them finish
        "rollups": 24 * sum(max(q["scan_gb"], minimum_gb) for q in rollup_queries.values()),
        "refreshes": sum(r["per_day"] * max(r["scan_gb"], minimum_gb) for r in refreshes.values()),
        "raw_queries": raw_query["per_day"] * max(raw_query["scan_gb"], minimum_gb),
    }
    runs = hours_per_month if rollups else 0.0

    rollup_gb_month = {name: size * hours_per_month / GB for name, size in rollup_hour.items()}
    s3_gb_month = raw_month / GB + sum(rollup_gb_month.values())
    checks = ([q["within_budget"] for q in rollup_queries.values()] + [r["within_budget"] for r in refreshes.values()]
              + [raw_query["within_budget"]])
    headroom = {}
    if rollups:
        # the reading rate at which a budget is reached, the other terms of the scan kept as they are
        per_reading_hour = SECONDS_PER_HOUR * model["parquet_bytes_per_reading_pessimistic"]
        rollup_room = min(model["rollup_query_budget_share"] * cutoff - (q["scan_gb_pessimistic"] * GB - raw_hour_pessimistic)
                          for q in rollup_queries.values())
        headroom = {"rollup_query_max_readings_per_second": rollup_room / per_reading_hour,
                    "raw_query_max_readings_per_second": cutoff / per_reading_hour}
    return {
        "rollups": rollups,
        "raw_partitions": "hourly" if rollups else "daily",
        "raw_partition_key": "dh=yyyy-MM-dd-HH" if rollups else "dt=yyyy-MM-dd",
        "firehose_billed_gb_month": billed_gb,
        "format_conversion_gb_month": billed_gb,
        "firehose_ingest_usd_month": _tiered(billed_gb, firehose["ingest_tiers_per_gb"]),
        "format_conversion_usd_month": billed_gb * firehose["format_conversion_per_gb"],
        "raw_gb_per_hour": raw_hour / GB,
        "raw_gb_per_hour_pessimistic": raw_hour_pessimistic / GB,
        "raw_gb_per_day": 24 * raw_hour / GB,
        "raw_gb_per_month": raw_month / GB,
        "rollup_target_hours": model["rollup_target_hours_read"] if rollups else 0,
        "rollup_rows_per_month": {name: rows * hours_per_month for name, rows in rows_per_hour.items()},
        "rollup_gb_per_month": rollup_gb_month,
        "s3_gb_added_per_month": s3_gb_month,
        "s3_usd_month_after_1_month": s3_gb_month * prices["s3"]["standard_gb_month"],
        "s3_usd_month_after_12_months": 12 * s3_gb_month * prices["s3"]["standard_gb_month"],
        "cutoff_gb": cutoff / GB,
        "rollup_queries": rollup_queries,
        "refreshes": refreshes,
        "raw_query": raw_query,
        "budgets_hold": all(checks),
        **headroom,
        "athena_gb_per_day": daily_gb,
        "athena_usd_month": {k: gb / 1000 * per_tb * days_per_month for k, gb in daily_gb.items()},
        "athena_usd_month_without_cutoff": {k: gb / 1000 * per_tb * days_per_month for k, gb in unbounded_gb.items()},
        "rollup_runs_per_month": runs,
        "stepfunctions_usd_month": runs * model["rollup_state_transitions"] * prices["stepfunctions"]["standard"]["per_thousand_transitions"] / 1000,
        "scheduler_usd_month": runs * prices["scheduler"]["per_million_invocations"] / 1e6,
    }


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
    history = _history(i, prices, sizing)
    sizing["history"] = history
    costs = _monthly_costs(i, prices, sizing)
    costs = {k: round(v, 2) for k, v in costs.items()}
    warnings = []
    if messages > quota:
        warnings.append(f"IoT Core publishes {messages:,.0f}/s exceed the default account quota of {quota:,}/s: request an increase")
    if i["stream_mode"] == "PROVISIONED" and i["shard_count"] is not None and i["shard_count"] < shards_needed:
        warnings.append(f"ShardCount {i['shard_count']} is below the {shards_needed} shards this load needs (with {i['shard_headroom']:.0%} headroom)")
    scans = {**history["rollup_queries"], **history["refreshes"], "raw readings query": history["raw_query"]}
    over = [f"{name} {q['scan_gb_pessimistic']:,.1f} GB" for name, q in scans.items() if not q["within_budget"]]
    if over:
        warnings.append(f"History scans over their budgets (pessimistic; Athena cancels a query at {history['cutoff_gb']:.1f} GB): {', '.join(over)}")
    history["monthly_usd"] = round(sum(costs[k] for k in ("firehose", "s3", "athena", "history_jobs")), 2)
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
        "history": history,
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
        render_history_line(result["history"]),
        "Monthly estimate: " + ", ".join(f"{k} {money(v)}" for k, v in result["monthly_cost_usd"].items())
        + f"; total {money(result['total_monthly_usd'])} (list prices {result['prices_region']}, {result['prices_as_of']})",
    ]
    lines.extend(f"WARNING: {w}" for w in result["warnings"])
    return lines


def gigabytes(value: float) -> str:
    """GB with two decimals below 100 GB, none above."""
    return f"{value:.2f} GB" if value < 100 else f"{value:,.0f} GB"


def render_history_line(history: dict) -> str:
    """The history in one line: layout, raw growth, the largest scans against their budgets, Athena's monthly cost."""
    refresh = max(history["refreshes"].values(), key=lambda r: r["scan_gb_pessimistic"])
    athena = money(sum(history["athena_usd_month"].values()))
    head = (f"History: {history['raw_partitions']} raw partitions, "
            f"{'SPICE refreshes read hourly rollups' if history['rollups'] else 'SPICE refreshes read raw readings'}, "
            f"raw {history['raw_gb_per_day']:,.0f} GB/day; pessimistic scans: ")
    scans = []
    if history["rollup_queries"]:
        rollup = max(history["rollup_queries"].values(), key=lambda q: q["scan_gb_pessimistic"])
        scans.append(f"rollup query {gigabytes(rollup['scan_gb_pessimistic'])} (budget {gigabytes(rollup['budget_gb'])})")
    scans.append(f"refresh up to {gigabytes(refresh['scan_gb_pessimistic'])} (budget {gigabytes(refresh['budget_gb'])})")
    scans.append(f"raw query {gigabytes(history['raw_query']['scan_gb_pessimistic'])} (cutoff {gigabytes(history['cutoff_gb'])})")
    verdict = "budgets hold" if history["budgets_hold"] else "OVER BUDGET, queries past the cutoff fail"
    return head + ", ".join(scans) + f": {verdict}; Athena {athena}/month"


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
    dh, nh = default["history"], naive["history"]

    def layout(h: dict) -> str:
        return f"{h['raw_partitions']} partitions, " + ("refreshes read rollups" if h["rollups"] else "refreshes read raw readings")

    def largest_refresh(h: dict) -> str:
        return gigabytes(max(r["scan_gb_pessimistic"] for r in h["refreshes"].values()))

    rows += [
        ("history layout", layout(dh), layout(nh)),
        ("largest SPICE refresh scan (pessimistic; budget 1 GB)", largest_refresh(dh), largest_refresh(nh)),
        (f"history scan budgets hold (Athena cutoff {dh['cutoff_gb']:.2f} GB)", "yes" if dh["budgets_hold"] else "no",
         "yes" if nh["budgets_hold"] else "no"),
    ]
    rows += [(f"{k} (USD/month)", money(default["monthly_cost_usd"][k]), money(naive["monthly_cost_usd"][k])) for k in SERVICES]
    rows.append(("**total (USD/month)**", f"**{money(default['total_monthly_usd'])}**", f"**{money(naive['total_monthly_usd'])}**"))
    share = default["total_monthly_usd"] / naive["total_monthly_usd"]
    rows.append(("default as share of naive", f"{share:.2%}", "100%"))
    lines = ["| | default design | naive design |", "| --- | ---: | ---: |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def render_history_scans(plans: dict[str, dict]) -> str:
    """Markdown table: each history query of each named plan, its scan against its budget and what it is billed for."""
    lines = ["| design | query | runs a day | reads | scan (typical) | scan (pessimistic) | budget | holds | billed per run |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: |"]
    for design, result in plans.items():
        h = result["history"]
        queries = [(f"rollup MERGE INTO {name}", 24, f"1 hour of raw readings + {h['rollup_target_hours']} h of {name}", q)
                   for name, q in h["rollup_queries"].items()]
        queries += [(f"SPICE refresh {name}", r["per_day"], f"{r['days']} days of {r['reads']}", r) for name, r in h["refreshes"].items()]
        raw = h["raw_query"]
        queries.append(("raw readings visual query", f"{raw['per_day']:g} (assumed)", raw["reads"], raw))
        for name, runs, reads, q in queries:
            holds = "yes" if q["within_budget"] else ("no: cancelled at the cutoff" if q["fails"] else "no")
            lines.append(f"| {design} | {name} | {runs} | {reads} | {gigabytes(q['scan_gb'])} | {gigabytes(q['scan_gb_pessimistic'])} "
                         f"| {gigabytes(q['budget_gb'])} | {holds} | {gigabytes(q['billed_gb'])} |")
    return "\n".join(lines)


def render_history_costs(plans: dict[str, dict]) -> str:
    """Markdown table: the monthly cost of the history of each named plan, line by line."""
    names = list(plans)
    hs = [plans[n]["history"] for n in names]

    def row(label: str, values: list[float], bold: bool = False) -> str:
        cells = [f"**{money(v)}**" if bold else money(v) for v in values]
        return f"| {f'**{label}**' if bold else label} | " + " | ".join(cells) + " |"

    raw_queries = {plans[n]["inputs"]["raw_queries_per_day"] for n in names}
    lines = ["| USD/month | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    lines += [
        row("Firehose ingestion (5 KB per record)", [h["firehose_ingest_usd_month"] for h in hs]),
        row("Firehose format conversion (the same GB)", [h["format_conversion_usd_month"] for h in hs]),
        row("S3, one month of history (raw Parquet and rollups)", [h["s3_usd_month_after_1_month"] for h in hs]),
        row("Athena, rollup job (2 queries an hour)", [h["athena_usd_month"]["rollups"] for h in hs]),
        row("Athena, SPICE refreshes", [h["athena_usd_month"]["refreshes"] for h in hs]),
        row(f"Athena, raw readings queries ({' / '.join(f'{q:g}' for q in sorted(raw_queries))} a day, assumed)",
            [h["athena_usd_month"]["raw_queries"] for h in hs]),
        row("Step Functions and EventBridge Scheduler (history_jobs)", [h["stepfunctions_usd_month"] + h["scheduler_usd_month"] for h in hs]),
        row("history total", [h["monthly_usd"] for h in hs], bold=True),
        row("S3 after 12 months (not in the total)", [h["s3_usd_month_after_12_months"] for h in hs]),
        row("Athena if no query were cancelled at the cutoff (not in the total)", [sum(h["athena_usd_month_without_cutoff"].values()) for h in hs]),
    ]
    return "\n".join(lines)
