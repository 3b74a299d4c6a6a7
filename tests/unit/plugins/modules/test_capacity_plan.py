# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for smartcity.iot_analytics.capacity_plan and its arithmetic (module_utils/capacity.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.smartcity.iot_analytics.plugins.module_utils import capacity
from ansible_collections.smartcity.iot_analytics.plugins.modules import capacity_plan
from conftest import ROOT

PRICES = yaml.safe_load((ROOT / "files" / "pricing.yml").read_text())
MONTH = PRICES["seconds_per_month"]
CUTOFF = 10 * 1024 ** 3  # the workgroup's BytesScannedCutoffPerQuery
TODAY_HISTORY = {"history_rollups": False}  # the default's messages, the history as it was before the rollups


def run_module(capsys, **args: Any) -> tuple[int, dict[str, Any]]:
    with patch_module_args({"prices": PRICES, **args}), pytest.raises(SystemExit) as exit_info:
        capacity_plan.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def test_default_design_costs_at_most_one_percent_of_the_naive_one() -> None:
    default = capacity.plan({}, PRICES)
    naive = capacity.plan(capacity.NAIVE_OVERRIDES, PRICES)
    assert default["readings_per_second"] == naive["readings_per_second"] == 50000
    assert default["total_monthly_usd"] <= 0.01 * naive["total_monthly_usd"]
    assert default["total_monthly_usd"] == round(sum(default["monthly_cost_usd"].values()), 2)
    assert naive["message_bytes"] == 160  # a reading as its own JSON object, no gateway envelope


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"reading_bytes": 160}, "readings as JSON objects: 50 of them take two 5 KB units"),
        ({"readings_per_message": 25, "sensors_per_connection": 25}, "gateways of 25: each message still takes a whole unit"),
    ],
)
def test_the_one_percent_needs_both_the_columnar_form_and_gateways_of_fifty(change: dict[str, Any], why: str) -> None:
    naive = capacity.plan(capacity.NAIVE_OVERRIDES, PRICES)["total_monthly_usd"]
    assert capacity.plan(change, PRICES)["total_monthly_usd"] > 0.01 * naive, why


def test_a_columnar_gateway_message_of_fifty_readings_fits_one_5_kb_unit() -> None:
    default = capacity.plan({}, PRICES)
    assert default["message_bytes"] == 50 * 60 + PRICES["model"]["message_envelope_bytes"] <= PRICES["iot_core"]["message_unit_bytes"]
    assert default["iot"]["message_units"] == 1


def test_naive_design_needs_a_publish_quota_increase_and_one_write_per_reading() -> None:
    naive = capacity.plan(capacity.NAIVE_OVERRIDES, PRICES)
    assert naive["iot"]["publishes_per_second"] == 50000
    assert naive["iot"]["quota_increase_needed"] is True
    assert naive["dynamodb"]["writes_per_second"] == 50000
    assert any("quota" in w for w in naive["warnings"])
    default = capacity.plan({}, PRICES)
    assert default["iot"]["quota_increase_needed"] is False and default["warnings"] == []


def test_dynamodb_is_billed_by_write_units_within_the_budget_and_without_bursts() -> None:
    default = capacity.plan({}, PRICES)
    ddb = default["dynamodb"]
    # zone windows (500 zones / 5 s batching) + digests + one write per sensor page and window, billed by size
    assert ddb["zone_window_units_per_second"] == 100
    assert ddb["sensor_pages_per_zone"] == 1 and 5000 < ddb["sensor_page_bytes"] < 6144
    assert ddb["sensor_page_units_per_second"] == 500 * 6 / 60
    assert ddb["write_units_per_second"] * 1000 / default["readings_per_second"] <= 5.0
    assert ddb["peak_to_average"] <= 2.0
    month = PRICES["seconds_per_month"] * PRICES["dynamodb"]["write_request_units_per_million"] / 1e6
    assert default["monthly_cost_usd"]["dynamodb"] == round(ddb["write_units_per_second"] * month, 2)
    naive = capacity.plan(capacity.NAIVE_OVERRIDES, PRICES)
    assert naive["dynamodb"]["write_units_per_second"] == 50000 and naive["dynamodb"]["peak_to_average"] == 1.0


@pytest.mark.parametrize(("sensors", "pages"), [(100, 1), (500, 1), (1000, 2), (20000, 64)])
def test_sensor_pages_split_before_the_split_size(sensors: int, pages: int) -> None:
    count, size = capacity.sensor_pages(sensors, PRICES["model"])
    assert count == pages and size <= PRICES["model"]["page_split_bytes"]


@pytest.mark.parametrize(
    ("inputs", "shards"),
    [
        ({"sensors": 800, "readings_per_message": 1, "sensors_per_connection": 1}, 1),  # 800 records/s x 1.25 -> 1
        ({"sensors": 1000, "readings_per_message": 1, "sensors_per_connection": 1}, 2),  # 1,000 records/s x 1.25 -> 2
        ({"sensors": 50000, "readings_per_message": 1, "sensors_per_connection": 1, "shard_headroom": 0}, 50),
        ({"sensors": 50000, "readings_per_message": 25, "reading_bytes": 160}, 10),  # bytes: 50,000 x 160 B + envelopes = 7.9 MiB/s
        ({"sensors": 50000}, 4),  # bytes bound: 1,000 columnar messages/s of 3,120 B = 3.0 MiB/s
    ],
)
def test_shards_follow_the_record_and_byte_limits(inputs: dict[str, Any], shards: int) -> None:
    assert capacity.plan(inputs, PRICES)["kinesis"]["shards_needed"] == shards


def test_too_few_shards_warn_and_concurrency_follows_shards_and_parallelization() -> None:
    result = capacity.plan({"shard_count": 2, "parallelization_factor": 3}, PRICES)
    assert result["kinesis"]["shard_count"] == 2
    assert result["warnings"] == ["ShardCount 2 is below the 4 shards this load needs (with 25% headroom)"]
    assert result["lambda"]["concurrency"] == 2 * 3 + 1  # one batch per shard and slot, plus the sweep


def test_basic_ingest_removes_the_messaging_charge() -> None:
    with_ingest = capacity.plan({}, PRICES)["monthly_cost_usd"]["iot_core"]
    without = capacity.plan({"basic_ingest": False}, PRICES)["monthly_cost_usd"]["iot_core"]
    messages = 1000 * PRICES["seconds_per_month"]  # 1,000 messages/s of 3 KB: one 5 KB unit each
    assert without - with_ingest == pytest.approx(capacity._tiered(messages, PRICES["iot_core"]["messaging_tiers_per_million"]) / 1e6, abs=0.02)


def test_tiers_are_cumulative() -> None:
    tiers = [[10, 2.0], [20, 1.0], [None, 0.5]]
    assert capacity._tiered(5, tiers) == 10
    assert capacity._tiered(15, tiers) == 25
    assert capacity._tiered(30, tiers) == 35


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"sensors": 0}, "sensors must be greater than 0"),
        ({"readings_per_message": 501}, "at most 500"),
        ({"parallelization_factor": 11}, "between 1 and 10"),
        ({"stream_mode": "SOMETIMES"}, "PROVISIONED or ON_DEMAND"),
        ({"colour": "red"}, "unknown inputs: colour"),
        ({"raw_queries_per_day": -1}, "raw_queries_per_day must not be negative"),
        ({"history_rollups": "yes"}, "history_rollups must be true or false"),
    ],
)
def test_invalid_inputs_are_named(inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(capacity.CapacityError, match=message):
        capacity.plan(inputs, PRICES)


def test_on_demand_stream_is_priced_per_gb() -> None:
    result = capacity.plan({"stream_mode": "ON_DEMAND"}, PRICES)
    gb = 50000 * 60 * PRICES["seconds_per_month"] / 1e9
    assert result["monthly_cost_usd"]["kinesis"] > gb * PRICES["kinesis"]["on_demand_gb_in"]


def test_module_returns_plan_and_summary_without_change(capsys) -> None:
    code, result = run_module(capsys, label="prod", shard_count=10, _ansible_check_mode=True)
    assert code == 0
    assert result["changed"] is False
    assert result["plan"]["kinesis"]["shard_count"] == 10
    assert result["summary"][0].startswith("Capacity and cost plan for prod: 50,000 sensors")
    assert any(line.startswith("Monthly estimate:") for line in result["summary"])
    history = [line for line in result["summary"] if line.startswith("History:")]
    assert len(history) == 1 and "hourly raw partitions" in history[0] and "budgets hold" in history[0]


def test_module_plans_the_history_before_the_rollups_and_warns(capsys) -> None:
    code, result = run_module(capsys, history_rollups=False, raw_queries_per_day=0)
    assert code == 0
    assert result["plan"]["history"]["budgets_hold"] is False
    assert result["plan"]["history"]["athena_usd_month"]["raw_queries"] == 0
    assert any("OVER BUDGET" in line for line in result["summary"])
    assert result["summary"][-1].startswith("WARNING: History scans over their budgets")


def test_module_fails_on_bad_input_and_incomplete_prices(capsys) -> None:
    code, result = run_module(capsys, parallelization_factor=20)
    assert code == 1 and "Cannot plan capacity: parallelization_factor" in result["msg"]
    with patch_module_args({"prices": {"as_of": "x"}}), pytest.raises(SystemExit):
        capacity_plan.main()
    assert "prices lacks region" in json.loads(capsys.readouterr().out)["msg"]


@pytest.mark.parametrize("env", ["local", "dev", "staging", "prod"])
def test_every_environment_has_enough_shards_for_its_fleet(env: str) -> None:
    settings = yaml.safe_load((ROOT / "playbooks" / "vars" / "environments" / f"{env}.yml").read_text())
    params = settings["iot_env_stack_parameters"]
    result = capacity.plan({**settings["iot_env_capacity"], "shard_count": params["ShardCount"],
                            "lambda_memory_mb": params["LambdaMemorySize"]}, PRICES)
    assert result["warnings"] == [], result["warnings"]


# The history (issue 17): Firehose, the raw Parquet, the hourly rollup job and the Athena scans against their budgets.


def test_format_conversion_is_billed_on_the_same_rounded_bytes_as_ingestion() -> None:
    result = capacity.plan({}, PRICES)
    history, firehose = result["history"], PRICES["firehose"]
    # 1,000 records/s of 3,120 bytes, each billed as 5 KB, for ingestion and for the conversion to Parquet
    billed_gb = 1000 * 5120 * MONTH / 1e9
    assert history["firehose_billed_gb_month"] == pytest.approx(billed_gb)
    assert history["format_conversion_gb_month"] == pytest.approx(billed_gb)
    assert history["format_conversion_gb_month"] > 1000 * result["message_bytes"] * MONTH / 1e9  # not the raw bytes
    assert history["format_conversion_usd_month"] == pytest.approx(billed_gb * firehose["format_conversion_per_gb"])
    expected = capacity._tiered(billed_gb, firehose["ingest_tiers_per_gb"]) + billed_gb * firehose["format_conversion_per_gb"]
    assert result["monthly_cost_usd"]["firehose"] == round(expected, 2)
    naive = capacity.plan(capacity.NAIVE_OVERRIDES, PRICES)["history"]
    assert naive["format_conversion_gb_month"] == pytest.approx(50000 * 5120 * MONTH / 1e9)  # a 160-byte record billed as 5 KB


def test_history_budgets_hold_for_the_default_at_50000_readings_per_second() -> None:
    result = capacity.plan({}, PRICES)
    history = result["history"]
    assert result["readings_per_second"] == 50000
    assert history["cutoff_gb"] * 1e9 == CUTOFF
    assert history["raw_gb_per_hour_pessimistic"] == pytest.approx(50000 * 3600 * 35 / 1e9)  # 6.3 GB
    assert set(history["rollup_queries"]) == {"sensor_hour", "zone_window"}
    for name, query in history["rollup_queries"].items():
        assert query["scan_gb_pessimistic"] * 1e9 <= 0.8 * CUTOFF, name
        assert query["scan_gb_pessimistic"] > history["raw_gb_per_hour_pessimistic"], "one raw hour plus part of the target"
        assert query["within_budget"] is True
    assert set(history["refreshes"]) == {"zone_hourly", "sensor_daily", "zone_alerts"}
    for name, refresh in history["refreshes"].items():
        assert refresh["scan_gb_pessimistic"] <= 1.0, name
        assert refresh["reads"] in ("sensor_hour", "zone_window") and refresh["within_budget"] is True
    # zone_hourly: 3 days of sensor_hour rows, 1.1 per sensor-hour of 70 bytes
    assert history["refreshes"]["zone_hourly"]["scan_gb"] == pytest.approx(3 * 24 * 50000 * 1.1 * 70 / 1e9)
    raw = history["raw_query"]
    assert raw["scan_gb"] == pytest.approx(3.6) and raw["scan_gb_pessimistic"] * 1e9 <= CUTOFF and raw["within_budget"] is True
    assert history["budgets_hold"] is True and result["warnings"] == []
    assert history["rollup_query_max_readings_per_second"] > 50000


@pytest.mark.parametrize("inputs", [TODAY_HISTORY, capacity.NAIVE_OVERRIDES])
def test_history_budgets_fail_without_the_rollups_and_failed_scans_are_billed_at_the_cutoff(inputs: dict[str, Any]) -> None:
    result = capacity.plan(inputs, PRICES)
    history = result["history"]
    assert history["rollups"] is False and history["raw_partitions"] == "daily" and history["rollup_queries"] == {}
    zone_hourly = history["refreshes"]["zone_hourly"]
    assert zone_hourly["reads"] == "readings" and zone_hourly["days"] == 3 and zone_hourly["per_day"] == 24
    assert zone_hourly["scan_gb"] == pytest.approx(3 * 86.4)  # 3 days of raw readings at 20 bytes each
    assert zone_hourly["scan_gb_pessimistic"] > 1.0 and zone_hourly["scan_gb_pessimistic"] * 1e9 > CUTOFF
    for refresh in history["refreshes"].values():
        assert refresh["within_budget"] is False and refresh["fails"] is True
        assert refresh["billed_gb"] * 1e9 == CUTOFF
    assert history["raw_query"]["fails"] is True and history["raw_query"]["billed_gb"] * 1e9 == CUTOFF
    assert history["budgets_hold"] is False
    assert any(w.startswith("History scans over their budgets") for w in result["warnings"])
    per_day = (24 + 1 + 24) * CUTOFF / 1e9
    assert history["athena_gb_per_day"]["refreshes"] == pytest.approx(per_day)
    days = MONTH / 86400
    assert history["athena_usd_month"]["refreshes"] == pytest.approx(per_day / 1000 * 5.0 * days)
    assert history["athena_usd_month_without_cutoff"]["refreshes"] > 20 * history["athena_usd_month"]["refreshes"]
    assert history["stepfunctions_usd_month"] == history["scheduler_usd_month"] == 0


def test_s3_grows_by_the_raw_parquet_and_the_rollups_every_month() -> None:
    history = capacity.plan({}, PRICES)["history"]
    raw_gb = 50000 * 20 * MONTH / 1e9  # 2,628 GB
    assert history["raw_gb_per_month"] == pytest.approx(raw_gb)
    assert history["raw_gb_per_day"] == pytest.approx(86.4)
    hours = MONTH / 3600
    assert history["rollup_rows_per_month"]["sensor_hour"] == pytest.approx(50000 * 1.1 * hours)
    assert history["rollup_rows_per_month"]["zone_window"] == pytest.approx(500 * 60 * 1.02 * hours)
    rollup_gb = (50000 * 1.1 * 70 + 500 * 60 * 1.02 * 50) * hours / 1e9
    assert history["rollup_gb_per_month"]["sensor_hour"] + history["rollup_gb_per_month"]["zone_window"] == pytest.approx(rollup_gb)
    assert history["s3_gb_added_per_month"] == pytest.approx(raw_gb + rollup_gb)
    price = PRICES["s3"]["standard_gb_month"]
    assert history["s3_usd_month_after_1_month"] == pytest.approx((raw_gb + rollup_gb) * price)
    assert history["s3_usd_month_after_12_months"] == pytest.approx(12 * history["s3_usd_month_after_1_month"])
    assert capacity.plan({}, PRICES)["monthly_cost_usd"]["s3"] == round(history["s3_usd_month_after_1_month"], 2)
    assert capacity.plan(TODAY_HISTORY, PRICES)["history"]["s3_gb_added_per_month"] == pytest.approx(raw_gb)  # no rollups


def test_athena_bills_at_least_10_mb_per_query() -> None:
    history = capacity.plan({"sensors": 200, "zones": 4}, PRICES)["history"]
    minimum_gb = PRICES["athena"]["min_bytes_per_query"] / 1e9
    for name, refresh in history["refreshes"].items():
        assert refresh["scan_gb"] < minimum_gb, name
        assert refresh["billed_gb"] == minimum_gb
    assert history["athena_gb_per_day"]["refreshes"] == pytest.approx((24 + 1 + 24) * minimum_gb)
    big = capacity.plan({}, PRICES)["history"]["refreshes"]["zone_hourly"]
    assert big["billed_gb"] == big["scan_gb"] > minimum_gb


def test_rollup_job_runs_hourly_two_queries_and_eight_transitions() -> None:
    history = capacity.plan({}, PRICES)["history"]
    hours = MONTH / 3600
    assert history["rollup_runs_per_month"] == pytest.approx(hours)  # 24 a day
    assert history["athena_gb_per_day"]["rollups"] == pytest.approx(24 * sum(q["billed_gb"] for q in history["rollup_queries"].values()))
    assert history["stepfunctions_usd_month"] == pytest.approx(hours * 8 * 0.025 / 1000)
    assert history["scheduler_usd_month"] == pytest.approx(hours * 1.00 / 1e6)


@pytest.mark.parametrize("inputs", [{}, TODAY_HISTORY, capacity.NAIVE_OVERRIDES, {"sensors": 200, "zones": 4}])
def test_monthly_totals_add_up(inputs: dict[str, Any]) -> None:
    result = capacity.plan(inputs, PRICES)
    costs, history = result["monthly_cost_usd"], result["history"]
    assert tuple(costs) == capacity.SERVICES
    assert result["total_monthly_usd"] == round(sum(costs.values()), 2)
    assert costs["athena"] == round(sum(history["athena_usd_month"].values()), 2)
    assert costs["history_jobs"] == round(history["stepfunctions_usd_month"] + history["scheduler_usd_month"], 2)
    assert costs["firehose"] == round(history["firehose_ingest_usd_month"] + history["format_conversion_usd_month"], 2)
    assert history["monthly_usd"] == round(sum(costs[k] for k in ("firehose", "s3", "athena", "history_jobs")), 2)


def test_the_rollups_cost_less_than_the_history_before_them_and_the_default_stays_within_one_percent() -> None:
    default = capacity.plan({}, PRICES)
    today = capacity.plan(TODAY_HISTORY, PRICES)
    naive = capacity.plan(capacity.NAIVE_OVERRIDES, PRICES)
    assert default["history"]["monthly_usd"] < today["history"]["monthly_usd"]
    assert default["monthly_cost_usd"]["athena"] > 0 and default["monthly_cost_usd"]["history_jobs"] > 0
    assert default["total_monthly_usd"] <= 0.01 * naive["total_monthly_usd"]
