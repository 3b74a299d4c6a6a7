#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: capacity_plan
short_description: Size one region's traffic-analytics deployment and estimate its monthly cost
version_added: 0.1.0
description:
  - Computes the capacity and cost plan of one region of the traffic-analytics system from the sensor fleet and
    the stack's settings, without calling AWS.
  - It sizes the ingest path. It compares the IoT Core publish rate with the account's default quota of
    publishes per second and flags when an increase is needed, computes the Kinesis shards the load needs (1,000
    records/s and 1 MiB/s per shard, plus O(shard_headroom)), the Lambda invocations per second and concurrency
    of the event source mapping, and the DynamoDB writes per second.
  - It sizes the history. Firehose ingestion and format conversion are billed per record rounded up to 5 KB; the raw
    Parquet grows in S3 every month; with O(history_rollups) an hourly job (EventBridge Scheduler, Step Functions,
    two Athena C(MERGE INTO) queries) fills the rollup tables that QuickSight's SPICE refreshes read. Each Athena scan
    (rollup query, SPICE refresh, a direct query of the raw readings) is checked against its budget with pessimistic
    bytes; a query past the workgroup's cutoff fails and is billed at the cutoff.
  - It estimates the monthly cost per service (IoT Core, Kinesis, Lambda, DynamoDB, Firehose, S3, Athena, the
    history's jobs, CloudWatch, KMS) from list prices in O(prices), normally the collection's C(files/pricing.yml),
    which carries its date and region.
  - Gateway batching in the columnar form (O(readings_per_message), O(reading_bytes)), Basic Ingest
    (O(basic_ingest)), aggregated writes (O(aggregate_writes)) and the history's rollups (O(history_rollups)) are
    what make the default design cheap; set them to 1, 160, V(false), V(false) and V(false) for the naive design (one
    JSON message per reading, no Basic Ingest, one DynamoDB write per reading, SPICE refreshes reading raw readings).
  - The module only computes; it never reports a change and behaves the same in check mode.
author:
  - Smart City Platform Team (@smartcity)
options:
  prices:
    description:
      - List prices and model assumptions, as in the collection's C(files/pricing.yml), for example
        C("{{ lookup('ansible.builtin.file', 'pricing.yml') | from_yaml }}").
      - Needs the keys C(as_of), C(region), C(seconds_per_month), C(iot_core), C(kinesis), C(lambda), C(dynamodb),
        C(firehose), C(s3), C(athena), C(stepfunctions), C(scheduler), C(cloudwatch), C(kms) and C(model).
    type: dict
    required: true
  label:
    description: Name of the plan in the summary lines, for example the environment.
    type: str
    default: ""
  sensors:
    description: Road sensors in the region.
    type: int
    default: 50000
  readings_per_sensor_per_second:
    description: Readings each sensor sends per second.
    type: float
    default: 1.0
  readings_per_message:
    description: Readings per MQTT message (gateway batching, at most 500 by the telemetry contract).
    type: int
    default: 50
  sensors_per_connection:
    description: Sensors behind one MQTT connection (a gateway); 1 when each sensor connects itself.
    type: int
    default: 50
  basic_ingest:
    description: Whether devices publish to the rule's Basic Ingest topic, which carries no messaging charge.
    type: bool
    default: true
  zones:
    description: Traffic zones (partition keys of the stream; one congestion metric each).
    type: int
    default: 500
  reading_bytes:
    description:
      - Bytes one reading takes in a message. About 50-60 in a columnar gateway message (the zone and the field
        names once per message; sensor ids of up to about 20 characters), about 150-160 as a JSON object of its own
        (a single reading, or an element of a C(readings) batch).
      - A gateway message adds the model's C(message_envelope_bytes) to its readings.
    type: int
    default: 60
  aggregate_writes:
    description:
      - V(true) for the processor's design, one conditional write per zone window touched by a batch plus each
        sensor's live state at most once per window; V(false) for one DynamoDB write per reading.
    type: bool
    default: true
  stream_mode:
    description: The template's C(StreamMode).
    type: str
    choices: [PROVISIONED, ON_DEMAND]
    default: PROVISIONED
  shard_count:
    description:
      - The template's C(ShardCount); omit it to plan with the shards the load needs.
      - A value below the need adds a warning.
    type: int
  shard_headroom:
    description: Spare capacity kept on the stream, as a fraction of the load (0.25 = 25 %).
    type: float
    default: 0.25
  batch_size:
    description: The C(BatchSize) the environment passes to the template (the template's own default is 500).
    type: int
    default: 2000
  max_batching_window_seconds:
    description: The template's C(MaxBatchingWindowSeconds).
    type: int
    default: 5
  parallelization_factor:
    description: The template's C(ParallelizationFactor).
    type: int
    default: 1
  window_seconds:
    description: The template's C(WindowSeconds) (sensor state is written at most once per window).
    type: int
    default: 60
  lambda_memory_mb:
    description: The template's C(LambdaMemorySize).
    type: int
    default: 1024
  lambda_architecture:
    description: The template's C(LambdaArchitecture).
    type: str
    choices: [arm64, x86_64]
    default: arm64
  custom_metrics:
    description: Custom metrics besides the per-zone congestion index.
    type: int
    default: 15
  alarms:
    description: CloudWatch alarms of the stack.
    type: int
    default: 8
  history_rollups:
    description:
      - V(true) for the history with rollups, raw readings in hourly partitions, an hourly job that merges each
        delivery hour into the C(sensor_hour) and C(zone_window) tables, SPICE refreshes that read only those, and a
        raw readings data set that reads one hour per query.
      - V(false) for the history before them, daily partitions and SPICE refreshes that read days of raw readings,
        and a raw readings data set without a partition filter. At tens of thousands of readings per second these
        queries pass the workgroup's cutoff and fail.
    type: bool
    default: true
  raw_queries_per_day:
    description:
      - Direct queries of the raw readings data set per day (QuickSight visuals), an assumption, as they depend on use.
    type: int
    default: 100
attributes:
  check_mode:
    description: Can run in check mode and return the same plan; it never changes anything.
    support: full
  diff_mode:
    description: Returns no diff; there is nothing to change.
    support: none
"""

EXAMPLES = r"""
- name: Plan prod's capacity and cost from its settings
  smartcity.iot_analytics.capacity_plan:
    prices: "{{ lookup('ansible.builtin.file', 'pricing.yml') | from_yaml }}"
    label: prod
    sensors: 50000
    readings_per_message: 25
    shard_count: 10
    lambda_memory_mb: 1024
  register: plan

- name: Show it
  ansible.builtin.debug:
    msg: "{{ plan.summary }}"

- name: The naive design for comparison
  smartcity.iot_analytics.capacity_plan:
    prices: "{{ lookup('ansible.builtin.file', 'pricing.yml') | from_yaml }}"
    readings_per_message: 1
    sensors_per_connection: 1
    reading_bytes: 160
    basic_ingest: false
    aggregate_writes: false
    history_rollups: false
"""

RETURN = r"""
summary:
  description: The plan in a few lines, for a playbook's output; warnings last.
  returned: always
  type: list
  elements: str
  sample:
    - "IoT Core: 2,000 publishes/s of 20,000/s quota (within quota), 2,000 connections"
    - "History: hourly raw partitions, SPICE refreshes read hourly rollups, raw 86 GB/day; pessimistic scans: rollup query 6.46 GB
      (budget 8.59 GB), refresh up to 0.65 GB (budget 1.00 GB), raw query 6.30 GB (cutoff 10.74 GB): budgets hold; Athena $83/month"
plan:
  description: The plan.
  returned: always
  type: dict
  contains:
    inputs:
      description: The inputs the plan used, defaults filled in.
      type: dict
      returned: always
    readings_per_second:
      description: Readings per second of the whole fleet.
      type: float
      returned: always
    messages_per_second:
      description: MQTT messages (and Kinesis records) per second.
      type: float
      returned: always
    iot:
      description: C(publishes_per_second), C(quota_per_second), C(quota_increase_needed), C(connections), C(message_units).
      type: dict
      returned: always
    kinesis:
      description: C(shards_needed), C(shard_count) (planned), C(records_per_second).
      type: dict
      returned: always
    lambda:
      description: C(invocations_per_second), C(concurrency), C(readings_per_batch), C(duration_ms) (model estimate).
      type: dict
      returned: always
    dynamodb:
      description:
        - C(writes_per_second); C(write_units_per_second) as DynamoDB on-demand bills them (one per started KB of the
          larger of the item before and after each write); C(peak_write_units_per_second) (the busiest second, at a
          window boundary) and C(peak_to_average).
        - For the default design also the parts (C(zone_window_units_per_second), C(digest_units_per_second),
          C(sensor_page_units_per_second)) and the live sensor state's C(sensor_pages_per_zone) and C(sensor_page_bytes).
      type: dict
      returned: always
    history:
      description:
        - The history. C(rollups), C(raw_partitions) (V(hourly) or V(daily)) and C(raw_partition_key).
        - Firehose, C(firehose_billed_gb_month) and C(format_conversion_gb_month) (the same GB, records rounded up to
          5 KB), C(firehose_ingest_usd_month) and C(format_conversion_usd_month).
        - Raw Parquet, C(raw_gb_per_hour), C(raw_gb_per_hour_pessimistic), C(raw_gb_per_day), C(raw_gb_per_month).
        - Rollups, C(rollup_rows_per_month) and C(rollup_gb_per_month) per table, C(rollup_target_hours), and
          C(rollup_runs_per_month).
        - S3, C(s3_gb_added_per_month), C(s3_usd_month_after_1_month) (in RV(plan.monthly_cost_usd)) and
          C(s3_usd_month_after_12_months) (S3 Standard; no lifecycle to cheaper classes).
        - Scans. C(cutoff_gb) is the workgroup's cutoff. C(rollup_queries) (per rollup table), C(refreshes) (per SPICE
          data set, with C(per_day), C(days) and C(reads)) and C(raw_query) (with C(per_day) and C(reads)) each have
          C(scan_gb), C(scan_gb_pessimistic), C(budget_gb), C(within_budget) (pessimistic scan within the budget),
          C(exceeds_cutoff) (pessimistic), C(fails) (typical scan past the cutoff) and C(billed_gb) (at least the
          per-query minimum; the cutoff for a query that fails).
        - C(budgets_hold) is whether every scan is within its budget. With rollups,
          C(rollup_query_max_readings_per_second) and C(raw_query_max_readings_per_second) are the rates up to which
          those budgets hold.
        - Cost, C(athena_gb_per_day) and C(athena_usd_month) per kind (C(rollups), C(refreshes), C(raw_queries)),
          C(athena_usd_month_without_cutoff) (the same if no query were cancelled), C(stepfunctions_usd_month),
          C(scheduler_usd_month) and C(monthly_usd) (Firehose, S3, Athena and the history's jobs).
      type: dict
      returned: always
    monthly_cost_usd:
      description:
        - Estimated monthly cost per service in USD, C(iot_core), C(kinesis), C(lambda), C(dynamodb), C(firehose),
          C(s3), C(athena), C(history_jobs) (Step Functions and EventBridge Scheduler), C(cloudwatch), C(kms).
      type: dict
      returned: always
      sample: {"iot_core": 1584.0, "kinesis": 183.5, "dynamodb": 2190.0, "athena": 82.97}
    total_monthly_usd:
      description: Sum of RV(plan.monthly_cost_usd).
      type: float
      returned: always
    prices_as_of:
      description: Date of the price list.
      type: str
      returned: always
    prices_region:
      description: Region of the price list.
      type: str
      returned: always
    warnings:
      description: Quota increases needed, too few shards, history scans over their budgets.
      type: list
      elements: str
      returned: always
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.smartcity.iot_analytics.plugins.module_utils.capacity import CapacityError, plan, render_summary

ARGUMENT_SPEC = dict(
    prices=dict(type="dict", required=True),
    label=dict(type="str", default=""),
    sensors=dict(type="int", default=50000),
    readings_per_sensor_per_second=dict(type="float", default=1.0),
    readings_per_message=dict(type="int", default=50),
    sensors_per_connection=dict(type="int", default=50),
    basic_ingest=dict(type="bool", default=True),
    zones=dict(type="int", default=500),
    reading_bytes=dict(type="int", default=60),
    aggregate_writes=dict(type="bool", default=True),
    stream_mode=dict(type="str", choices=["PROVISIONED", "ON_DEMAND"], default="PROVISIONED"),
    shard_count=dict(type="int"),
    shard_headroom=dict(type="float", default=0.25),
    batch_size=dict(type="int", default=2000),
    max_batching_window_seconds=dict(type="int", default=5),
    parallelization_factor=dict(type="int", default=1),
    window_seconds=dict(type="int", default=60),
    lambda_memory_mb=dict(type="int", default=1024),
    lambda_architecture=dict(type="str", choices=["arm64", "x86_64"], default="arm64"),
    custom_metrics=dict(type="int", default=15),
    alarms=dict(type="int", default=8),
    history_rollups=dict(type="bool", default=True),
    raw_queries_per_day=dict(type="int", default=100),
)

PRICE_KEYS = ("as_of", "region", "seconds_per_month", "iot_core", "kinesis", "lambda", "dynamodb", "firehose", "s3", "athena", "stepfunctions",
              "scheduler", "cloudwatch", "kms", "model")


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = dict(module.params)
    prices = params.pop("prices")
    label = params.pop("label")
    missing = [k for k in PRICE_KEYS if k not in prices]
    if missing:
        module.fail_json(msg=f"prices lacks {', '.join(missing)} (see the collection's files/pricing.yml)")
    try:
        result = plan(params, prices)
    except CapacityError as e:
        module.fail_json(msg=f"Cannot plan capacity: {e}")
    except (KeyError, TypeError, ValueError) as e:
        module.fail_json(msg=f"Cannot plan capacity, the price list is incomplete or malformed: {e!r}")
    module.exit_json(changed=False, plan=result, summary=render_summary(result, label))


if __name__ == "__main__":
    main()
