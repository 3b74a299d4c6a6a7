"""Print docs/capacity.md from the capacity plan's own code and price list.

  .venv/bin/python scripts/capacity_doc.py            print the document
  .venv/bin/python scripts/capacity_doc.py --write    rewrite docs/capacity.md
  .venv/bin/python scripts/capacity_doc.py --check    exit 1 when docs/capacity.md differs (tests/unit/test_capacity_doc.py does the same)
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))  # scripts/setup links this checkout as smartcity.iot_analytics

from ansible_collections.smartcity.iot_analytics.plugins.module_utils import capacity  # noqa: E402

DOC = ROOT / "docs" / "capacity.md"
# The steps from the design before the columnar form to the default (see "How the default gets under 1 %").
OBJECT_FORM = {"reading_bytes": 160, "readings_per_message": 25, "sensors_per_connection": 25}
COLUMNAR_25 = {"readings_per_message": 25, "sensors_per_connection": 25}
LONG_IDS = {"reading_bytes": 80}  # sensor ids of ~40 characters


def smallest_gateway(prices: dict, naive_total: float) -> int:
    """The fewest sensors per gateway (one columnar message a second) that keep the default design under 1 %."""
    for size in range(1, 501):
        if capacity.plan({"readings_per_message": size, "sensors_per_connection": size}, prices)["total_monthly_usd"] <= 0.01 * naive_total:
            return size
    return 0


PRICES = ROOT / "files" / "pricing.yml"
TODAY_HISTORY = {"history_rollups": False}  # the default's messages with the history as it was before issue 17


def largest_refresh(history: dict) -> str:
    return capacity.gigabytes(max(r["scan_gb_pessimistic"] for r in history["refreshes"].values()))


def history_section(prices: dict, default: dict, naive: dict) -> str:
    """The "History" section: the two layouts, their scans against the budgets, their monthly cost."""
    today = capacity.plan(TODAY_HISTORY, prices)
    m = prices["model"]
    d, t, n = default["history"], today["history"], naive["history"]
    ath = prices["athena"]
    sh_rows, zw_rows = d["rollup_rows_per_month"]["sensor_hour"], d["rollup_rows_per_month"]["zone_window"]

    def with_year_of_history(result: dict) -> float:
        h = result["history"]
        return result["total_monthly_usd"] - h["s3_usd_month_after_1_month"] + h["s3_usd_month_after_12_months"]

    share_year = with_year_of_history(default) / with_year_of_history(naive)
    # the months of kept history (S3 Standard) for which the default stays within 1 % of the naive design
    growth = d["s3_usd_month_after_1_month"] - 0.01 * n["s3_usd_month_after_1_month"]
    months_within = 1 + math.floor((0.01 * naive["total_monthly_usd"] - default["total_monthly_usd"]) / growth)
    raw = d["raw_query"]
    per_query = raw["billed_gb"] / 1000 * ath["per_tb_scanned"]
    cutoff_cost = d["cutoff_gb"] / 1000 * ath["per_tb_scanned"]
    plans = {"default (rollups)": default, "default messages, today's history": today, "naive design": naive}
    return f"""## History at {default['readings_per_second']:,.0f} readings/s

Firehose reads the stream: one Firehose record per Kinesis record, that is per MQTT message. It bills ingestion per
record rounded up to 5 KB, and the conversion from JSON to Parquet on the same rounded GB: {d['firehose_billed_gb_month']:,.0f} GB
a month each in the default design ({default['messages_per_second']:,.0f} records/s of {default['message_bytes']:,.0f} bytes),
{n['firehose_billed_gb_month']:,.0f} GB in the naive one (a record per reading). The raw readings are kept (audit,
reprocessing) as Snappy Parquet: ~{m['parquet_bytes_per_reading']} bytes a reading (typical, for storage and cost;
{m['parquet_bytes_per_reading_pessimistic']} pessimistic, for the scan budgets), {d['raw_gb_per_hour']:.1f} GB an hour
({d['raw_gb_per_hour_pessimistic']:.1f} GB pessimistic), {d['raw_gb_per_day']:,.1f} GB a day, {d['raw_gb_per_month']:,.0f} GB a month.

- **Default (rollups)**: raw partitions by delivery hour (`{d['raw_partition_key']}`). An hourly job (EventBridge
  Scheduler, 24 invocations a day -> Step Functions STANDARD, ~{m['rollup_state_transitions']} state transitions a run ->
  Athena) runs two `MERGE INTO` queries, each reading one delivery hour of raw readings and ~{d['rollup_target_hours']} hours
  of its target, into two Iceberg tables: `sensor_hour`, one row per sensor, reading hour and delivery hour
  (~{m['sensor_hour_rows_per_sensor_hour']:g} rows per sensor-hour: a reading hour's readings arrive in that hour or the next;
  ~{m['sensor_hour_row_bytes']} bytes a row; {sh_rows / 1e6:,.1f} million rows, {d['rollup_gb_per_month']['sensor_hour']:.1f} GB a month),
  and `zone_window`, one row per zone, {default['inputs']['window_seconds']} s window and delivery hour
  (~{m['zone_window_rows_per_zone_window']:g} per zone-window, ~{m['zone_window_row_bytes']} bytes a row; {zw_rows / 1e6:,.1f} million rows,
  {d['rollup_gb_per_month']['zone_window']:.1f} GB a month). Its two `CREATE TABLE IF NOT EXISTS` a run are DDL, which
  Athena does not bill. The SPICE data sets read only the rollups: `zone_hourly` every hour (3 days of `sensor_hour`),
  `sensor_daily` every day (4 days of `sensor_hour`), `zone_alerts` every hour (3 days of `zone_window`). The raw
  `readings` data set is a direct query with a required hour: each visual query reads one hour of raw readings.
- **Today (before issue 17)**: daily partitions (`{t['raw_partition_key']}`), and every SPICE refresh reads the raw
  readings: `zone_hourly` and `zone_alerts` 3 days each hour, `sensor_daily` 4 days each day. The `readings` data set has
  no partition filter, so a visual query reads the whole history (its first month here).

Budgets: the workgroup cancels any query at its `BytesScannedCutoffPerQuery` of 10 GiB ({d['cutoff_gb']:.2f} GB). At the
pessimistic bytes, each rollup query may scan at most {m['rollup_query_budget_share']:.0%} of it, each SPICE refresh at most
{m['refresh_budget_bytes'] / 1e9:g} GB, and the raw set's one-hour query at most the cutoff (a rollup row's pessimistic size is its
typical size scaled as the readings', {m['parquet_bytes_per_reading_pessimistic']}/{m['parquet_bytes_per_reading']}). Athena bills
${ath['per_tb_scanned']:g} per TB scanned, at least {ath['min_bytes_per_query'] / 1e6:g} MB a query. A query cancelled at the
cutoff fails, and Athena bills what it scanned until then: the plan bills each failing query at the cutoff
(${cutoff_cost:.3f}). Costs use the typical bytes.

{capacity.render_history_scans({"default": default, "today": today})}

The default's budgets hold up to ~{d['rollup_query_max_readings_per_second']:,.0f} readings/s for the rollup queries and
~{d['raw_query_max_readings_per_second']:,.0f} readings/s for the one-hour query; past that, a rollup query has to read less
than one delivery hour. Today's refreshes scan hundreds of GB each and never finish: every one is cancelled at the
cutoff, and QuickSight keeps the data set's old rows.

Monthly cost of the history (Firehose, S3, Athena, Step Functions and Scheduler; the naive design has today's history):

{capacity.render_history_costs(plans)}

- Before and after, on the default's messages: today's history costs {capacity.money(t['monthly_usd'])} a month and none of
  its SPICE refreshes succeeds; with the rollups it costs {capacity.money(d['monthly_usd'])} and no refresh reads more than
  {largest_refresh(d)} (pessimistic). Letting today's refreshes finish (no cutoff) would cost
  {capacity.money(t['athena_usd_month_without_cutoff']['refreshes'])} a month in Athena, the refreshes alone.
- The raw `readings` queries are an assumption: {raw['per_day']:g} a day, {raw['billed_gb']:.1f} GB and ${per_query:.3f} each
  (input `raw_queries_per_day`). They are most of the default's Athena cost; the rollup job costs
  {capacity.money(d['athena_usd_month']['rollups'])} a month, the refreshes {capacity.money(d['athena_usd_month']['refreshes'])}.
- S3 grows by {d['s3_gb_added_per_month']:,.0f} GB a month (raw {d['raw_gb_per_month']:,.0f} GB, rollups
  {sum(d['rollup_gb_per_month'].values()):.1f} GB). In S3 Standard that is {capacity.money(d['s3_usd_month_after_1_month'])} a month
  after one month and {capacity.money(d['s3_usd_month_after_12_months'])} a month after twelve; a lifecycle to cheaper storage
  classes is not modelled. The comparison table carries one month of history. Both designs keep the same raw bytes,
  so the storage adds about the same dollars to each: the default stays within 1 % of the naive design while the
  history holds up to {months_within} months of data in S3 Standard, and with twelve months it is {share_year:.2%}.
"""


def document() -> str:
    prices = yaml.safe_load(PRICES.read_text())
    default = capacity.plan({}, prices)
    naive = capacity.plan(capacity.NAIVE_OVERRIDES, prices)
    d = default["inputs"]
    m = prices["model"]
    ddb = default["dynamodb"]
    per_zone = d["sensors"] // d["zones"]
    dense_pages, dense_bytes = capacity.sensor_pages(20000, m)
    # what the default design would cost with one item per sensor per window (the live state before the pages)
    before = (d["sensors"] / d["window_seconds"] + ddb["zone_window_units_per_second"] + ddb["digest_units_per_second"]) * float(
        prices["seconds_per_month"]) * prices["dynamodb"]["write_request_units_per_million"] / 1e6
    steps = [capacity.plan(step, prices) for step in (OBJECT_FORM, COLUMNAR_25, LONG_IDS)]
    share = {name: plan["total_monthly_usd"] / naive["total_monthly_usd"] for name, plan in zip(("object", "columnar_25", "long_ids"), steps)}
    gateway_min = smallest_gateway(prices, naive["total_monthly_usd"])
    return f"""# Capacity and cost plan

<!-- Generated by scripts/capacity_doc.py from plugins/module_utils/capacity.py and files/pricing.yml; do not edit.
     tests/unit/test_capacity_doc.py fails when this file and the code disagree. -->

The plan sizes one region for a sensor fleet and estimates its monthly cost from list prices. The same code runs
in three places: `deploy.yml` prints the plan of the chosen environment before the rollout (module
`smartcity.iot_analytics.capacity_plan`, inputs from the environment's `iot_env_capacity` and
`iot_env_stack_parameters`), this page is generated from it, and the unit tests check both.

Prices: {prices['region']} on-demand list prices recorded on {prices['as_of']} in `files/pricing.yml` (no free tier,
no savings plans). The model's work assumptions (bytes per reading, milliseconds per write, ...) are in the same file
under `model`. Estimates, not quotes: check the prices before budgeting.

## 50,000 sensors at 1 reading per second: default design and naive design

- **Default**: gateways of {d['sensors_per_connection']} sensors send their readings once a second in one columnar
  MQTT message ({d['readings_per_message']} readings of ~{d['reading_bytes']} bytes: the zone and the field names once
  per message, see docs/contracts.md), publish to the rule's Basic Ingest topic (no messaging charge), and the processor writes one
  conditional update per zone window per batch plus one write per sensor page (a zone's sensors' newest
  readings) per {d['window_seconds']} s window. Stream: {default['kinesis']['shard_count']} provisioned shards (the load plus
  {d['shard_headroom']:.0%} headroom), batch size {d['batch_size']}, batching window
  {d['max_batching_window_seconds']} s, {d['lambda_memory_mb']} MB {d['lambda_architecture']} processor, {d['zones']} zones.
- **Naive**: one MQTT message per reading (a JSON object of ~{naive['inputs']['reading_bytes']} bytes) from each
  sensor's own connection, the normal topic (messaging charged), one DynamoDB write per reading; the rest as in the
  default.

{capacity.render_comparison(default, naive)}

What drives the difference:

- IoT Core messaging, rules and actions are charged per message in 5 KB units; a columnar message of
  {d['readings_per_message']} readings of ~{d['reading_bytes']} bytes ({default['message_bytes']:,.0f} bytes) fits one
  unit, and Basic Ingest removes the messaging charge (rules and actions are still charged). The naive design also
  needs an increase of the 20,000 publishes/s account quota.
- DynamoDB on-demand bills write units: one per started KB of the larger of the item before and after the write,
  at least one per write. The naive design writes one item per reading ({naive['dynamodb']['write_units_per_second']:,.0f}
  units/s). The default writes {ddb['write_units_per_second']:,.0f} units/s
  ({1000 * ddb['write_units_per_second'] / default['readings_per_second']:.2f} per 1,000 readings):
  - zone windows, {ddb['zone_window_units_per_second']:,.0f} units/s: one conditional update per zone and batch, a
    {m['zone_window_item_bytes']}-byte item;
  - the live view's digests, {ddb['digest_units_per_second']:,.0f} units/s: one update per batch and shard;
  - live sensor state, {ddb['sensor_page_units_per_second']:,.0f} units/s: each zone's sensors share pages
    ({per_zone} sensors of ~{m['sensor_entry_bytes']} bytes: {ddb['sensor_pages_per_zone']} page(s) of
    {ddb['sensor_page_bytes'] / 1024:.1f} KB per zone), and each page is rewritten once per
    {d['window_seconds']} s window at its own moment, so the bill follows the bytes of state, not the number of
    sensors. One item per sensor and window instead, as this design did before, is {d['sensors'] / d['window_seconds']:,.0f}
    writes/s for the state alone (DynamoDB {capacity.money(before)} a month instead of {capacity.money(default['monthly_cost_usd']['dynamodb'])}),
    all in the first seconds of each window. A zone of 20,000 sensors has {dense_pages} pages of
    {dense_bytes / 1024:.0f} KB, far below DynamoDB's 400 KB item limit.
- The busiest second: on-demand tables take up to twice their previous peak at once and throttle beyond it, so the
  peak matters as well as the average. In the default design it comes at a window boundary, where for one
  batching window the batches straddle two windows and write two zone-window items per zone; the pages take their
  turns outside the first tenth of each window so that they do not add to it: {ddb['peak_write_units_per_second']:,.0f}
  units/s, {ddb['peak_to_average']:.2f} times the average (`scripts/bench-processor` measures 1.75 with 8 shards
  whose batches land on whole seconds). Writing each sensor's state when its reading enters a new window put
  {d['sensors']:,} writes into the first batching window of every minute: 13.9 times the average.
- Firehose bills each record rounded up to 5 KB, for ingestion and again for the conversion to Parquet, so one record
  per reading costs about 30 times its size.
- The history: the naive design keeps today's layout (every SPICE refresh reads days of raw readings, and fails at the
  workgroup's cutoff), the default reads hourly rollups; see "History" below.

## How the default gets under 1 %

The default costs {default['total_monthly_usd'] / naive['total_monthly_usd']:.2%} of the naive design
({capacity.money(default['total_monthly_usd'])} against {capacity.money(naive['total_monthly_usd'])}). Most of what is left after the
DynamoDB writes is billed by message bytes in 5 KB units: IoT Core rules and actions and Firehose ingestion and format
conversion (Firehose reads the stream: one record per message). Two changes of the design got it there, and each
alone is not enough:

- **The columnar gateway message** (a change of the telemetry contract, docs/contracts.md). As JSON objects a
  reading is ~160 bytes, most of it the six field names repeated in every reading; in columns it is ~{d['reading_bytes']} bytes
  (the simulator's 15-character sensor ids measure 53). With gateways of 25 sensors as before, the default was
  {share['object']:.2%} of the naive design (2.0 % before the sensor pages); the columnar form alone gives
  {share['columnar_25']:.2%}, because a message of 25 readings still takes a whole 5 KB unit.
- **Gateways of {d['sensors_per_connection']} sensors** (a fleet assumption, an input of each environment's plan):
  twice the readings in the same unit. The smallest gateway that keeps the default under 1 % is {gateway_min} sensors;
  with sensor ids of ~40 characters (~{LONG_IDS['reading_bytes']} bytes a reading) the default is {share['long_ids']:.2%}.

The readings batch (`{{"readings": [...]}}`) and single readings stay valid (gateways of 25 sending readings batches
cost the {share['object']:.2%} above). The history keeps every form (the Glue table has a column for each), and the
rollup job and QuickSight's raw readings data set read all three. An environment's plan takes its own fleet (`iot_env_capacity`): set
`reading_bytes: 160` there for a fleet that sends JSON objects.

Not included: data transfer out of the region, QuickSight's users and SPICE capacity (docs/quicksight.md), S3
requests, SNS/EventBridge alert traffic (small), DynamoDB storage and the history's growth after its first month (S3
shows one month of data; "History" shows twelve).

{history_section(prices, default, naive)}
## Per environment

`ansible-playbook playbooks/deploy.yml -e env=NAME` prints the plan of that environment first. Its inputs are the
environment's `iot_env_capacity` (fleet: sensors, readings per sensor and second, readings per message, sensors per
connection, Basic Ingest, zones, bytes per reading) and the sizing parameters of `iot_env_stack_parameters` (`ShardCount`,
`BatchSize`, `MaxBatchingWindowSeconds`, `ParallelizationFactor`, `WindowSeconds`, `LambdaMemorySize`, `StreamMode`).
It warns when `ShardCount` is below what the load needs or when the publish rate needs a quota increase.
"""


def main(argv: list[str]) -> int:
    text = document()
    if argv[1:] == ["--write"]:
        DOC.write_text(text)
    elif argv[1:] == ["--check"]:
        if not DOC.is_file() or DOC.read_text() != text:
            print(f"{DOC.relative_to(ROOT)} is out of date: run scripts/capacity_doc.py --write", file=sys.stderr)
            return 1
    elif argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
