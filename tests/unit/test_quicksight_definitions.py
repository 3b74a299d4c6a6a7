"""The QuickSight definitions the collection ships (files/quicksight/), checked offline before they reach AWS.

- (a) Each data set file, rendered as the quicksight role renders it (Jinja, StrictUndefined), holds valid options of
  smartcity.iot_analytics.quicksight_data_set (its documented options and its validate()), and the requests the module
  builds from them (build_request, build_schedule, build_refresh_properties) validate against botocore's QuickSight model.
- (b) The dashboard, with DataSetIdentifierDeclarations filled by quicksight_dashboard.build_definition, validates
  against CreateDashboard's Definition; its ids are unique and every id it refers to exists.
- (c) Every DataSetIdentifier and column the dashboard uses exists in the data set files, with a type that fits its use.
- (d) Every Glue column the SQL reads exists in the template's HistoryTable with the type the SQL expects, the gateway
  UNNEST names the struct's fields in their Glue order, the columns struct (columnar gateway messages) holds every
  reading field the processor takes as a column as an array of the right type and the SQL reads each, and the
  readings data set exposes every reading field.
- (e) The SQL runs: sqlglot transpiles the Athena (Trino) SQL to DuckDB, which runs it against a table built from the
  template's Glue schema, holding telemetry messages (single readings, gateway batches, columnar gateway messages) as
  Firehose would write them; the results are compared with what the stream processor itself (parse_batch,
  congestion_decision) makes of the same messages.

What (e) cannot show: that Athena accepts the SQL (DuckDB and sqlglot stand in for Trino; the dialect rewrites are
the UNNEST of a row array and Trino's own sequence and element_at, see to_duckdb), how Firehose's JSON-to-Parquet
conversion coerces a value of the wrong JSON type or an empty columns object, and that partition projection prunes on
the dt filter.
"""

from __future__ import annotations

import base64
import copy
import importlib
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import botocore.session
import duckdb
import jinja2
import pytest
import sqlglot
import yaml
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from botocore.validate import ParamValidator
from processor_support import SHARD, columnar  # first: it puts files/lambda on sys.path for stream_processor
from sqlglot import exp
from stream_processor.alerts import CONGESTION_ALERT, ZoneState, congestion_decision
from stream_processor.readings import COLUMN_FIELDS, Caches, parse_batch

from ansible_collections.smartcity.iot_analytics.plugins.modules import quicksight_dashboard, quicksight_data_set
from conftest import ROOT

DEFINITIONS = ROOT / "files" / "quicksight"
DATA_SET_DIR = DEFINITIONS / "data_sets"
DASHBOARD_FILE = DEFINITIONS / "dashboards" / "traffic_history.yml"
TEMPLATE_FILE = ROOT / "files" / "iot-analytics-system.yaml"

VARIABLES = {"quicksight_glue_database": "smartcity_test_history", "quicksight_glue_table": "telemetry"}
ACCOUNT_ID = "123456789012"
REGION = "eu-west-1"
DATA_SOURCE_ARN = f"arn:aws:quicksight:{REGION}:{ACCOUNT_ID}:datasource/smartcity-test-athena"

# The shared data contract (.work brief, "Shared data contract"): keys, import modes, columns and refresh settings.
CONTRACT: dict[str, dict[str, Any]] = {
    "readings": {
        "import_mode": "DIRECT_QUERY",
        "columns": [
            ("sensor_id", "STRING"), ("zone", "STRING"), ("reading_time", "DATETIME"), ("vehicle_count", "INTEGER"),
            ("avg_speed_kmh", "DECIMAL"), ("occupancy", "DECIMAL"), ("congestion_index", "DECIMAL"), ("dh", "STRING"),
        ],
        "incremental": None,
        "schedule": None,
    },
    "zone_hourly": {
        "import_mode": "SPICE",
        "columns": [
            ("zone", "STRING"), ("hour", "DATETIME"), ("hour_of_day", "INTEGER"), ("weekday", "INTEGER"), ("readings", "INTEGER"),
            ("sensors", "INTEGER"), ("vehicle_count", "INTEGER"), ("avg_speed_kmh", "DECIMAL"), ("congestion_index", "DECIMAL"),
            ("congestion_max", "DECIMAL"),
        ],
        "incremental": ("hour", 1, "DAY"),
        "schedule": ("HOURLY", "INCREMENTAL_REFRESH"),
    },
    "sensor_daily": {
        "import_mode": "SPICE",
        "columns": [("sensor_id", "STRING"), ("zone", "STRING"), ("day", "DATETIME"), ("readings", "INTEGER"), ("last_reading", "DATETIME")],
        "incremental": ("day", 2, "DAY"),
        "schedule": ("DAILY", "INCREMENTAL_REFRESH"),
    },
    "zone_alerts": {
        "import_mode": "SPICE",
        "columns": [("zone", "STRING"), ("window_start", "DATETIME"), ("day", "DATETIME"), ("congestion_index", "DECIMAL"), ("readings", "INTEGER")],
        "incremental": ("window_start", 1, "DAY"),
        "schedule": ("HOURLY", "INCREMENTAL_REFRESH"),
    },
}
KEYS = list(CONTRACT)
# The options the role passes from a definition file to quicksight_data_set; any other key would be dropped silently.
ROLE_KEYS = {"name", "import_mode", "custom_sql", "relational_table", "columns", "refresh_schedule", "incremental_refresh", "parameters"}
# The CTEs the raw readings data set and the rollup job's queries share (the row source); "history" differs only in
# the hour it reads.
ROW_SOURCE = ("records", "timed", "accepted")
# What each SPICE data set reads instead of raw readings: a rollup table of the hourly job (in the history database).
ROLLUP_OF = {"zone_hourly": "sensor_hour", "sensor_daily": "sensor_hour", "zone_alerts": "zone_window"}
# QuickSight's data set parameters in custom SQL, <<$name>>; for parsing, the parameter's default value stands in.
PARAMETER = re.compile(r"<<\$(\w+)>>")

QUICKSIGHT = botocore.session.get_session().get_service_model("quicksight")


def input_shape(operation: str):
    return QUICKSIGHT.operation_model(operation).input_shape


def model_errors(params: dict[str, Any], shape) -> str:
    """botocore's own validation (types, required members, unknown keys, minimums) and what it leaves out: enum
    values, maximum lengths and sizes, and numeric ranges."""
    report = ParamValidator().validate(params, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    problems.extend(model_limits(params, shape, "params"))
    return "\n".join(problems)


def model_limits(value: Any, shape, path: str) -> Iterator[str]:
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in value.items():
            if name in shape.members:
                yield from model_limits(member, shape.members[name], f"{path}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            yield f"{path}: {len(value)} items, the model allows at most {shape.metadata['max']}"
        for index, item in enumerate(value):
            yield from model_limits(item, shape.member, f"{path}[{index}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from model_limits(item, shape.value, f"{path}[{key!r}]")
    else:
        yield from scalar_limits(value, shape, path)


def scalar_limits(value: Any, shape, path: str) -> Iterator[str]:
    metadata = shape.metadata
    if shape.type_name == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            yield f"{path}: {value!r} is not one of {shape.enum}"
        if "max" in metadata and len(value) > metadata["max"]:
            yield f"{path}: {len(value)} characters, the model allows at most {metadata['max']}"
    elif shape.type_name in ("integer", "long", "double", "float") and isinstance(value, (int, float)):
        if "min" in metadata and value < metadata["min"]:
            yield f"{path}: {value} is below the model's minimum {metadata['min']}"
        if "max" in metadata and value > metadata["max"]:
            yield f"{path}: {value} is above the model's maximum {metadata['max']}"


def render(key: str) -> str:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return environment.from_string((DATA_SET_DIR / f"{key}.yml").read_text()).render(**VARIABLES)


def data_set(key: str) -> dict[str, Any]:
    return yaml.safe_load(render(key))


def with_parameters(sql: str, **values: str) -> str:
    """``sql`` with each data set parameter <<$name>> replaced by a string literal: the value given, else the
    parameter's default in the definitions (QuickSight inserts a string parameter's value as a quoted literal)."""
    defaults = {parameter["name"]: parameter["default_values"][0] for key in KEYS for parameter in data_set(key).get("parameters", [])}

    def literal(match: re.Match[str]) -> str:
        return "'" + {**defaults, **values}[match.group(1)].replace("'", "''") + "'"

    return PARAMETER.sub(literal, sql)


def parse_sql(sql: str) -> exp.Expression:
    return sqlglot.parse_one(with_parameters(sql) if PARAMETER.search(sql) else sql, read="trino")


def ctes(tree: exp.Expression) -> dict[str, exp.Expression]:
    return {cte.alias: cte.this for cte in tree.find_all(exp.CTE)}


def lookback_days(key: str) -> int:
    """Whole days of the incremental refresh's look-back window."""
    _column, size, unit = CONTRACT[key]["incremental"]
    hours = size * {"HOUR": 1, "DAY": 24, "WEEK": 168}[unit]
    return math.ceil(hours / 24)


@pytest.fixture(scope="module")
def data_sets() -> dict[str, dict[str, Any]]:
    return {key: data_set(key) for key in KEYS}


# The hourly rollup job (the template's rollup state machine): its four Athena statements, by the state machine
# variable that holds each; the job replaces DELIVERY_HOUR with the hour it rolls up (yyyy-MM-dd-HH).
ROLLUP_STATEMENTS = {
    "create_sensor_hour": "createSensorHourSql",
    "create_zone_window": "createZoneWindowSql",
    "merge_sensor_hour": "mergeSensorHourSql",
    "merge_zone_window": "mergeZoneWindowSql",
}
ROLLUP_JOB = ("merge_sensor_hour", "merge_zone_window")
DELIVERY_HOUR = "__DELIVERY_HOUR__"
RAW_READERS = ("readings", *ROLLUP_JOB)  # what reads raw readings: the readings data set and the job's MERGEs
SAMPLE_BUCKET = "smartcity-test-history"


def _assigned(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("Assign"), dict):
            yield node["Assign"]
        for value in node.values():
            yield from _assigned(value)
    elif isinstance(node, list):
        for value in node:
            yield from _assigned(value)


def rollup_statements() -> dict[str, str]:
    """The job's statements as the template holds them, with the bucket that DefinitionSubstitutions fills in."""
    resources = yaml.safe_load(TEMPLATE_FILE.read_text())["Resources"]
    machines = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    found = {}
    for machine in machines:
        for assign in _assigned(machine.get("Definition")):
            found.update({key: assign[name] for key, name in ROLLUP_STATEMENTS.items() if name in assign})
    assert sorted(found) == sorted(ROLLUP_STATEMENTS), f"the template's rollup state machine lacks {set(ROLLUP_STATEMENTS) - set(found)}"
    return {key: text.replace("${HistoryBucket}", SAMPLE_BUCKET) for key, text in found.items()}


def raw_sql(key: str, data_sets: dict[str, dict[str, Any]]) -> str:
    """The SQL of a raw reader: the readings data set's custom SQL, or one of the job's MERGE statements."""
    return data_sets[key]["custom_sql"] if key in data_sets else rollup_statements()[key]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return yaml.safe_load(DASHBOARD_FILE.read_text())


# ---- the files ----


def test_the_definition_directory_holds_exactly_the_contract_data_sets():
    assert sorted(path.stem for path in DATA_SET_DIR.glob("*.yml")) == sorted(KEYS)


@pytest.mark.parametrize("path", [*(DATA_SET_DIR / f"{key}.yml" for key in KEYS), DASHBOARD_FILE], ids=lambda path: path.name)
def test_each_file_starts_with_a_comment_that_says_what_it_serves(path):
    lines = [line for line in path.read_text().splitlines() if line != "---"]
    assert re.fullmatch(rf"# {path.stem}: \S.{{20,}}", lines[0]), f"{path.name}: first line must be '# {path.stem}: <what it serves>'"


@pytest.mark.parametrize("key", KEYS)
def test_data_set_file_holds_the_contract(key, data_sets):
    options = data_sets[key]
    contract = CONTRACT[key]
    assert set(options) <= ROLE_KEYS, f"keys the role does not pass: {set(options) - ROLE_KEYS}"
    assert options["import_mode"] == contract["import_mode"]
    assert [(column["name"], column["type"]) for column in options["columns"]] == contract["columns"]
    if contract["incremental"] is None:
        assert "incremental_refresh" not in options and "refresh_schedule" not in options
    else:
        incremental = options["incremental_refresh"]
        assert (incremental["column"], incremental["size"], incremental["unit"]) == contract["incremental"]
        schedule = options["refresh_schedule"]
        assert (schedule["interval"], schedule["refresh_type"]) == contract["schedule"]


def test_rendering_needs_the_variables_each_definition_uses():
    """The raw readings set needs the database and the raw table; the rollup-based sets need the database (the rollup
    tables' names are the job's, not variables)."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for key in KEYS:
        template = environment.from_string((DATA_SET_DIR / f"{key}.yml").read_text())
        with pytest.raises(jinja2.UndefinedError):
            template.render(quicksight_glue_table="only_the_table")
        if key == "readings":
            with pytest.raises(jinja2.UndefinedError):
                template.render(quicksight_glue_database="only_the_database")
        rendered = yaml.safe_load(template.render(**VARIABLES))["custom_sql"]
        assert f'"smartcity_test_history"."{ROLLUP_OF.get(key, "telemetry")}"' in rendered


# ---- (a) the module's rules and botocore's model ----


class DocFragments:
    """The ``fragment_loader`` that ``add_fragments`` asks: ``NAMESPACE.COLLECTION.FRAGMENT`` from the collections on
    sys.path (None for anything else, so that it retries with the last part as the fragment's variable)."""

    def get(self, name: str) -> Any:
        parts = name.split(".")
        if len(parts) != 3:
            return None
        try:
            source = importlib.import_module(f"ansible_collections.{parts[0]}.{parts[1]}.plugins.doc_fragments.{parts[2]}")
        except ImportError:
            return None
        return type("Fragment", (source.ModuleDocFragment,), {"ansible_name": name})()


def documented_spec(module) -> dict[str, Any]:
    """An argument spec from the module's DOCUMENTATION with its doc fragments merged in, as ansible-doc and
    validate-modules see it (validate-modules keeps it equal to the real one)."""

    def convert(options: dict[str, Any]) -> dict[str, Any]:
        spec = {}
        for name, doc in options.items():
            entry = {key: doc[key] for key in ("type", "elements", "choices", "required", "default", "aliases") if key in doc}
            if "suboptions" in doc:
                entry["options"] = convert(doc["suboptions"])
            spec[name] = entry
        return spec

    doc = yaml.safe_load(module.DOCUMENTATION)
    # Importing ansible's controller code marks the whole process as the controller, and from then on every module
    # that another test runs in this process sends its warnings to the display instead of its result: restore it.
    was_controller = module_utils_internal.is_controller
    try:
        from ansible.utils.plugin_docs import add_fragments

        add_fragments(doc, module.__file__, DocFragments(), is_module=True)
    finally:
        module_utils_internal.is_controller = was_controller
    return convert(doc["options"])


def module_params(key: str, options: dict[str, Any]) -> dict[str, Any]:
    """What the role hands quicksight_data_set for this definition (the account-dependent options added)."""
    return {
        **options,
        "data_set_id": f"smartcity-test-{key.replace('_', '-')}",
        "data_source_arn": DATA_SOURCE_ARN,
        "permissions": [{"principal": "group/traffic-admins", "level": "owner"}],
        "tags": {"application": "smartcity-iot-analytics"},
    }


def option_errors(params: dict[str, Any]) -> list[str]:
    result = ArgumentSpecValidator(documented_spec(quicksight_data_set)).validate(params)
    return [str(error) for error in result.errors] + quicksight_data_set.validate(result.validated_parameters)


@pytest.mark.parametrize("key", KEYS)
def test_options_follow_the_data_set_module_rules(key, data_sets):
    assert option_errors(module_params(key, data_sets[key])) == []


@pytest.mark.parametrize("key", KEYS)
def test_requests_validate_against_the_quicksight_model(key, data_sets):
    params = ArgumentSpecValidator(documented_spec(quicksight_data_set)).validate(module_params(key, data_sets[key])).validated_parameters
    request = quicksight_data_set.build_request(params, ACCOUNT_ID)
    assert model_errors(request, input_shape("CreateDataSet")) == ""
    update = {k: v for k, v in request.items() if k in input_shape("UpdateDataSet").members}
    assert model_errors(update, input_shape("UpdateDataSet")) == ""
    schedule = quicksight_data_set.build_schedule(params)
    properties = quicksight_data_set.build_refresh_properties(params.get("incremental_refresh"))
    if CONTRACT[key]["import_mode"] == "DIRECT_QUERY":
        assert schedule is None and properties is None
        return
    assert model_errors({"AwsAccountId": ACCOUNT_ID, "DataSetId": params["data_set_id"], "Schedule": schedule}, input_shape("CreateRefreshSchedule")) == ""
    assert model_errors(
        {"AwsAccountId": ACCOUNT_ID, "DataSetId": params["data_set_id"], "DataSetRefreshProperties": properties}, input_shape("PutDataSetRefreshProperties")
    ) == ""


BROKEN_OPTIONS = [
    ("a column type QuickSight does not know", lambda options: options["columns"][0].update(type="FLOAT")),
    ("an unknown option", lambda options: options.update(refresh_every="1h")),
    ("an incremental refresh on a non-date column", lambda options: options["incremental_refresh"].update(column="readings")),
    ("an incremental refresh without its column", lambda options: options["incremental_refresh"].update(column="no_such_column")),
    ("a daily refresh at 25:00", lambda options: options["refresh_schedule"].update(time_of_day="25:00")),
    ("both SQL and a table", lambda options: options.update(relational_table={"database": "d", "table": "t"})),
]


@pytest.mark.parametrize(("what", "breaks"), BROKEN_OPTIONS, ids=[case[0] for case in BROKEN_OPTIONS])
def test_a_broken_data_set_definition_is_caught(what, breaks, data_sets):
    options = copy.deepcopy(data_sets["sensor_daily"])
    breaks(options)
    assert option_errors(module_params("sensor_daily", options)), f"{what} passed the checks"


# ---- (b) the dashboard against the model ----


def sample_arns() -> dict[str, str]:
    return {key: f"arn:aws:quicksight:{REGION}:{ACCOUNT_ID}:dataset/smartcity-test-{key.replace('_', '-')}" for key in KEYS}


def test_dashboard_definition_validates_against_the_quicksight_model(dashboard):
    assert "DataSetIdentifierDeclarations" not in dashboard, "the module fills the declarations; the file must not carry ARNs"
    built = quicksight_dashboard.build_definition(dashboard, sample_arns())
    assert {entry["Identifier"] for entry in built["DataSetIdentifierDeclarations"]} == set(KEYS)
    assert model_errors(built, input_shape("CreateDashboard").members["Definition"]) == ""
    request = {"AwsAccountId": ACCOUNT_ID, "DashboardId": "smartcity-test-traffic-history", "Name": "Traffic history", "Definition": built}
    assert model_errors(request, input_shape("CreateDashboard")) == ""
    assert model_errors(request, input_shape("UpdateDashboard")) == ""


BROKEN_DASHBOARDS = [
    ("an unknown key", lambda d: d["Sheets"][0]["Visuals"][0]["HeatMapVisual"].update(Colour="red")),
    ("a forecast 2,000 periods ahead", lambda d: forecast_properties(d).update(PeriodsForward=2000)),
    ("a sheet without an id", lambda d: d["Sheets"][0].pop("SheetId")),
    ("a granularity QuickSight does not know", lambda d: d["FilterGroups"][0]["Filters"][0]["RelativeDatesFilter"].update(TimeGranularity="DAYS")),
]


@pytest.mark.parametrize(("what", "breaks"), BROKEN_DASHBOARDS, ids=[case[0] for case in BROKEN_DASHBOARDS])
def test_a_malformed_dashboard_fails_the_model_check(what, breaks, dashboard):
    broken = copy.deepcopy(dashboard)
    breaks(broken)
    assert model_errors(quicksight_dashboard.build_definition(broken, sample_arns()), input_shape("CreateDashboard").members["Definition"]), what


def test_dashboard_without_a_data_set_it_uses_is_refused(dashboard):
    arns = sample_arns()
    del arns["sensor_daily"]
    with pytest.raises(ValueError, match="sensor_daily"):
        quicksight_dashboard.build_definition(dashboard, arns)


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def visuals(definition: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(sheet id, visual type, visual) of every visual."""
    for sheet in definition["Sheets"]:
        for visual in sheet.get("Visuals", []):
            (kind, body), = visual.items()
            yield sheet["SheetId"], kind, body


def filters(definition: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, dict[str, Any]]]:
    """(filter group, filter type, filter) of every filter."""
    for group in definition.get("FilterGroups", []):
        for entry in group["Filters"]:
            (kind, body), = entry.items()
            yield group, kind, body


def forecast_properties(definition: dict[str, Any]) -> dict[str, Any]:
    for _sheet, kind, visual in visuals(definition):
        if kind == "LineChartVisual" and visual["ChartConfiguration"].get("ForecastConfigurations"):
            return visual["ChartConfiguration"]["ForecastConfigurations"][0]["ForecastProperties"]
    raise AssertionError("no line chart with a forecast")


def dashboard_problems(definition: dict[str, Any]) -> list[str]:
    """Ids that are not unique, and references to ids that do not exist (QuickSight reports these only on creation)."""
    return id_problems(definition) + sheet_problems(definition) + scope_problems(definition) + visual_problems(definition)


def id_problems(definition: dict[str, Any]) -> list[str]:
    problems = []
    for id_key in ("SheetId", "VisualId", "FilterGroupId", "FilterId", "FilterControlId", "ParameterControlId", "FieldId"):
        defined = [node[id_key] for _path, node in walk(definition["Sheets"] + definition.get("FilterGroups", []))
                   if isinstance(node, dict) and id_key in node and not _is_reference(node, id_key)]
        duplicates = sorted({value for value in defined if defined.count(value) > 1})
        if duplicates:
            problems.append(f"{id_key} not unique: {duplicates}")
    return problems


def sheet_visual_ids(definition: dict[str, Any]) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {sheet["SheetId"]: set() for sheet in definition["Sheets"]}
    for sheet_id, _kind, visual in visuals(definition):
        ids[sheet_id].add(visual["VisualId"])
    return ids


def sheet_problems(definition: dict[str, Any]) -> list[str]:
    """Filter controls whose filter is missing, and layouts that do not place exactly the sheet's visuals and controls."""
    problems = []
    filter_ids = {body["FilterId"] for _group, _kind, body in filters(definition)}
    visual_ids = sheet_visual_ids(definition)
    for sheet in definition["Sheets"]:
        controls = {body["FilterControlId"]: body["SourceFilterId"] for control in sheet.get("FilterControls", []) for body in control.values()}
        problems.extend(f"filter control {control!r} refers to filter {source!r}, which does not exist"
                        for control, source in controls.items() if source not in filter_ids)
        laid_out = {element["ElementId"] for layout in sheet["Layouts"] for element in layout["Configuration"]["GridLayout"]["Elements"]}
        placed = visual_ids[sheet["SheetId"]] | set(controls)
        if laid_out != placed:
            problems.append(f"sheet {sheet['SheetId']!r}: layout places {sorted(laid_out)}, the sheet has {sorted(placed)}")
    return problems


def scope_problems(definition: dict[str, Any]) -> list[str]:
    problems = []
    visual_ids = sheet_visual_ids(definition)
    for group in definition.get("FilterGroups", []):
        for scope in group["ScopeConfiguration"].get("SelectedSheets", {}).get("SheetVisualScopingConfigurations", []):
            if scope["SheetId"] not in visual_ids:
                problems.append(f"filter group {group['FilterGroupId']!r} scopes sheet {scope['SheetId']!r}, which does not exist")
                continue
            unknown = set(scope.get("VisualIds", [])) - visual_ids[scope["SheetId"]]
            if unknown:
                problems.append(f"filter group {group['FilterGroupId']!r} scopes {sorted(unknown)}, not visuals of sheet {scope['SheetId']!r}")
    return problems


def visual_problems(definition: dict[str, Any]) -> list[str]:
    """Sorts by a field the visual does not have, and a missing title or subtitle."""
    problems = []
    for _sheet, _kind, visual in visuals(definition):
        configuration = visual["ChartConfiguration"]
        fields = {node["FieldId"] for _path, node in walk(configuration.get("FieldWells", {})) if isinstance(node, dict) and "FieldId" in node}
        for path, node in walk(configuration.get("SortConfiguration", {})):
            if isinstance(node, dict) and "FieldId" in node and node["FieldId"] not in fields:
                problems.append(f"visual {visual['VisualId']!r} sorts by field {node['FieldId']!r} ({path}), which it does not have")
        for label in ("Title", "Subtitle"):
            if not visual.get(label, {}).get("FormatText", {}).get("PlainText", "").strip():
                problems.append(f"visual {visual['VisualId']!r} has no {label.lower()} that says what it shows")
    return problems


def first_scope(definition: dict[str, Any]) -> dict[str, Any]:
    return definition["FilterGroups"][0]["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"][0]


def _is_reference(node: dict[str, Any], id_key: str) -> bool:
    """A FieldSort names a field, a scope names a sheet: those are references, not definitions."""
    return (id_key == "FieldId" and "Direction" in node) or (id_key == "SheetId" and "Scope" in node) or (id_key == "FieldId" and "SortBy" in node)


def test_dashboard_ids_are_unique_and_references_resolve(dashboard):
    assert dashboard_problems(dashboard) == []


BROKEN_REFERENCES = [
    ("a duplicate visual id", lambda d: d["Sheets"][1]["Visuals"][0]["LineChartVisual"].update(VisualId="zone-congestion-heatmap")),
    ("a filter scoped to a visual of another sheet", lambda d: first_scope(d).update(VisualIds=["zone-congestion-forecast"])),
    ("a control of a missing filter", lambda d: d["Sheets"][0]["FilterControls"][0]["RelativeDateTime"].update(SourceFilterId="gone")),
    ("a visual left out of the layout", lambda d: d["Sheets"][2]["Layouts"][0]["Configuration"]["GridLayout"]["Elements"].pop()),
    ("a visual without a subtitle", lambda d: d["Sheets"][2]["Visuals"][0]["TableVisual"].pop("Subtitle")),
]


@pytest.mark.parametrize(("what", "breaks"), BROKEN_REFERENCES, ids=[case[0] for case in BROKEN_REFERENCES])
def test_a_broken_reference_is_caught(what, breaks, dashboard):
    broken = copy.deepcopy(dashboard)
    breaks(broken)
    assert dashboard_problems(broken), what


def scoped_filters(definition: dict[str, Any], visual_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(filter type, filter) of the filters that apply to the visual."""
    sheet_id = next(sheet for sheet, _kind, visual in visuals(definition) if visual["VisualId"] == visual_id)
    found = []
    for group, kind, body in filters(definition):
        scopes = [scope for scope in group["ScopeConfiguration"].get("SelectedSheets", {}).get("SheetVisualScopingConfigurations", [])
                  if scope["SheetId"] == sheet_id]
        if "AllSheets" in group["ScopeConfiguration"] or any(scope["Scope"] == "ALL_VISUALS" or visual_id in scope.get("VisualIds", []) for scope in scopes):
            found.append((kind, body))
    return found


def field(well: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    (kind, body), = well[0].items()
    return kind, body


def column_of(body: dict[str, Any]) -> tuple[str, str]:
    return body["Column"]["DataSetIdentifier"], body["Column"]["ColumnName"]


def test_dashboard_shows_what_the_issue_asks_for(dashboard):
    by_id = {visual["VisualId"]: (kind, visual) for _sheet, kind, visual in visuals(dashboard)}
    assert 1 <= len(dashboard["Sheets"]) <= 3

    # Congestion by zone over time: a heat map zone x hour of the mean index, from zone_hourly.
    kind, heatmap = by_id["zone-congestion-heatmap"]
    wells = heatmap["ChartConfiguration"]["FieldWells"]["HeatMapAggregatedFieldWells"]
    assert kind == "HeatMapVisual"
    assert column_of(field(wells["Rows"])[1]) == ("zone_hourly", "zone")
    assert (column_of(field(wells["Columns"])[1]), field(wells["Columns"])[1]["DateGranularity"]) == (("zone_hourly", "hour"), "HOUR")
    _kind, value = field(wells["Values"])
    assert (column_of(value), value["AggregationFunction"]) == (("zone_hourly", "congestion_index"), {"SimpleNumericalAggregation": "AVERAGE"})

    # Hourly and weekday profiles per zone.
    for visual_id, column in (("zone-hourly-profile", "hour_of_day"), ("zone-weekday-profile", "weekday")):
        kind, profile = by_id[visual_id]
        wells = next(iter(profile["ChartConfiguration"]["FieldWells"].values()))
        assert kind in ("LineChartVisual", "BarChartVisual")
        assert column_of(field(wells["Category"])[1]) == ("zone_hourly", column)
        assert column_of(field(wells["Colors"])[1]) == ("zone_hourly", "zone")

    # The most congested zones this week: top 10 bars, filtered to the last 7 days on hour.
    kind, top = by_id["top-congested-zones-week"]
    assert kind == "BarChartVisual"
    assert top["ChartConfiguration"]["SortConfiguration"]["CategoryItemsLimit"]["ItemsLimit"] == 10
    assert top["ChartConfiguration"]["SortConfiguration"]["CategorySort"][0]["FieldSort"]["Direction"] == "DESC"
    week = [body for kind, body in scoped_filters(dashboard, "top-congested-zones-week") if kind == "RelativeDatesFilter"]
    assert [(column_of(body), body["RelativeDateType"], body["RelativeDateValue"], body["TimeGranularity"]) for body in week] == [
        (("zone_hourly", "hour"), "LAST", 7, "DAY")
    ]

    # Readings per sensor per day, from sensor_daily.
    kind, per_day = by_id["sensor-readings-per-day"]
    wells = per_day["ChartConfiguration"]["FieldWells"]["PivotTableAggregatedFieldWells"]
    assert column_of(field(wells["Rows"])[1]) == ("sensor_daily", "sensor_id")
    assert (column_of(field(wells["Columns"])[1]), field(wells["Columns"])[1]["DateGranularity"]) == (("sensor_daily", "day"), "DAY")
    assert column_of(field(wells["Values"])[1]) == ("sensor_daily", "readings")

    # Alert counts per day per zone, from zone_alerts.
    kind, alerts = by_id["alerts-per-day"]
    wells = alerts["ChartConfiguration"]["FieldWells"]["BarChartAggregatedFieldWells"]
    assert (column_of(field(wells["Category"])[1]), field(wells["Category"])[1]["DateGranularity"]) == (("zone_alerts", "day"), "DAY")
    assert field(wells["Values"])[1]["AggregationFunction"] == "COUNT" and column_of(field(wells["Values"])[1])[0] == "zone_alerts"
    assert column_of(field(wells["Colors"])[1]) == ("zone_alerts", "zone")

    # The forecast: a line over zone_hourly.hour by hour, one zone at a time (no colour field), with a zone control.
    kind, forecast = by_id["zone-congestion-forecast"]
    wells = forecast["ChartConfiguration"]["FieldWells"]["LineChartAggregatedFieldWells"]
    assert kind == "LineChartVisual" and not wells.get("Colors")
    category_kind, category = field(wells["Category"])
    assert (category_kind, column_of(category), category["DateGranularity"]) == ("DateDimensionField", ("zone_hourly", "hour"), "HOUR")
    properties = forecast_properties(dashboard)
    assert (properties["PeriodsForward"], properties["PeriodsBackward"], properties["PredictionInterval"]) == (24, 0, 90)
    assert "Seasonality" not in properties  # left out = automatic
    zone_filters = [body["FilterId"] for kind, body in scoped_filters(dashboard, "zone-congestion-forecast")
                    if kind == "CategoryFilter" and column_of(body) == ("zone_hourly", "zone")]
    controls = {body["SourceFilterId"] for sheet in dashboard["Sheets"] for control in sheet.get("FilterControls", []) for body in control.values()}
    assert zone_filters and set(zone_filters) <= controls


# ---- (c) the dashboard's columns against the data sets ----

# The column types each kind of field or filter takes.
FIELD_TYPES = {
    "DateDimensionField": {"DATETIME"}, "DateMeasureField": {"DATETIME"}, "RelativeDatesFilter": {"DATETIME"},
    "TimeRangeFilter": {"DATETIME"}, "TimeEqualityFilter": {"DATETIME"},
    "NumericalDimensionField": {"INTEGER", "DECIMAL"}, "NumericalMeasureField": {"INTEGER", "DECIMAL"},
    "NumericRangeFilter": {"INTEGER", "DECIMAL"}, "NumericEqualityFilter": {"INTEGER", "DECIMAL"},
    "CategoricalDimensionField": {"STRING"}, "CategoryFilter": {"STRING"},
}


def column_problems(definition: dict[str, Any], data_set_columns: dict[str, dict[str, str]]) -> list[str]:
    problems = []
    for path, node in walk(definition):
        if not isinstance(node, dict):
            continue
        if "DataSetIdentifier" in node and node["DataSetIdentifier"] not in data_set_columns:
            problems.append(f"{path}: data set {node['DataSetIdentifier']!r} is not one of {sorted(data_set_columns)}")
        elif "DataSetIdentifier" in node and "ColumnName" in node:
            columns = data_set_columns[node["DataSetIdentifier"]]
            if node["ColumnName"] not in columns:
                problems.append(f"{path}: {node['DataSetIdentifier']}.{node['ColumnName']} is not a column of that data set")
        for kind, allowed in FIELD_TYPES.items():
            body = node.get(kind)
            if isinstance(body, dict) and "Column" in body:
                identifier, name = column_of(body)
                column_type = data_set_columns.get(identifier, {}).get(name)
                if column_type is not None and column_type not in allowed:
                    problems.append(f"{path}.{kind}: {identifier}.{name} is {column_type}; a {kind} takes {sorted(allowed)}")
    return problems


def declared_columns(data_sets: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {key: {column["name"]: column["type"] for column in options["columns"]} for key, options in data_sets.items()}


def test_every_column_the_dashboard_uses_exists_with_a_fitting_type(dashboard, data_sets):
    assert column_problems(dashboard, declared_columns(data_sets)) == []
    used = {node["DataSetIdentifier"] for _path, node in walk(dashboard) if isinstance(node, dict) and "DataSetIdentifier" in node}
    assert used == set(KEYS) - {"readings"}  # readings is for ad-hoc analyses (direct query), not the dashboard


@pytest.mark.parametrize(
    ("key", "column", "change"),
    [("zone_hourly", "congestion_index", "rename"), ("sensor_daily", "day", "retype"), ("zone_alerts", "zone", "drop")],
)
def test_a_data_set_column_change_breaks_the_dashboard_check(key, column, change, dashboard, data_sets):
    columns = declared_columns(data_sets)
    if change == "rename":
        columns[key][f"{column}_mean"] = columns[key].pop(column)
    elif change == "retype":
        columns[key][column] = "STRING"
    else:
        del columns[key][column]
    assert column_problems(dashboard, columns)


# ---- (d) the SQL against the template's Glue table ----


def split_top_level(text: str, separator: str = ",") -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char == "<") - (char == ">")
        if char == separator and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current] if current else parts


def hive_type(text: str) -> Any:
    """A Hive type as data: "string", ("array", item) or ("struct", [(name, type), ...])."""
    text = text.strip().lower()
    if text.startswith("array<") and text.endswith(">"):
        return ("array", hive_type(text[6:-1]))
    if text.startswith("struct<") and text.endswith(">"):
        return ("struct", [(name.strip(), hive_type(kind)) for name, kind in (part.split(":", 1) for part in split_top_level(text[7:-1]))])
    return text


def glue_table() -> dict[str, Any]:
    table = yaml.safe_load(TEMPLATE_FILE.read_text())["Resources"]["HistoryTable"]["Properties"]["TableInput"]
    columns = {column["Name"]: hive_type(column["Type"]) for column in table["StorageDescriptor"]["Columns"]}
    partitions = {column["Name"]: hive_type(column["Type"]) for column in table["PartitionKeys"]}
    return {"name": table["Name"], "columns": columns, "partitions": partitions}


GLUE = glue_table()
# How the SQL treats each reading field (a family of Glue types it works with) and the field's column in readings.
INTEGER_TYPES = {"tinyint", "smallint", "int", "integer", "bigint"}
NUMBER_TYPES = {"double", "float"} | INTEGER_TYPES
READING_FIELDS = {
    "sensor_id": ({"string"}, "sensor_id"),
    "zone": ({"string"}, "zone"),
    "ts": ({"string"}, "reading_time"),  # parsed from its text (epoch milliseconds or RFC 3339)
    "vehicle_count": (INTEGER_TYPES, "vehicle_count"),
    "avg_speed_kmh": (NUMBER_TYPES, "avg_speed_kmh"),
    "occupancy": (NUMBER_TYPES, "occupancy"),
    "congestion_index": (NUMBER_TYPES, "congestion_index"),
}
QUICKSIGHT_TYPE = {"string": "STRING", **dict.fromkeys(INTEGER_TYPES, "INTEGER"), "double": "DECIMAL", "float": "DECIMAL"}
# The Glue columns that hold a gateway message's readings rather than a reading field: readings (an array of reading
# structs) and columns (a struct of one array per reading field, COLUMN_FIELDS of the processor; zone is the message's).
BATCH_COLUMNS = {"readings", "columns"}


def glue_problems(sql: str, glue: dict[str, Any]) -> list[str]:
    """What in ``sql`` does not fit the Glue table: columns and fields it reads that are not there, fields it does not
    read, a type the SQL does not handle, and an UNNEST whose names do not follow the struct's fields."""
    problems = []
    tree = parse_sql(sql)
    columns, partitions = glue["columns"], glue["partitions"]
    readings_type = columns.get("readings")
    if not (isinstance(readings_type, tuple) and readings_type[0] == "array" and readings_type[1][0] == "struct"):
        return [f"Glue column readings is {readings_type!r}, not an array of structs"]
    columns_type = columns.get("columns")
    if not (isinstance(columns_type, tuple) and columns_type[0] == "struct"):
        return [f"Glue column columns is {columns_type!r}, not a struct"]
    struct_fields = dict(readings_type[1][1])
    column_fields = dict(columns_type[1])
    named = {cte.alias for cte in tree.find_all(exp.CTE)} | set(ROLLUP_OF.values())
    sources = {table.name for table in tree.find_all(exp.Table)} - named
    if sources != {glue["name"]}:
        problems.append(f"the SQL reads {sorted(sources)}, not the Glue table {glue['name']}")
    read_top = {column.name for column in tree.find_all(exp.Column) if column.table == "t"}
    read_struct = {column.name for column in tree.find_all(exp.Column) if column.table == "r"}
    read_struct |= {dot.name for dot in tree.find_all(exp.Dot) if isinstance(dot.this, exp.Column) and dot.this.name == "x"}
    # t.columns.<field>: sqlglot reads it as column <field> of table "columns" in database "t"
    read_columns = {column.name for column in tree.find_all(exp.Column) if column.db == "t" and column.table == "columns"}
    for name in sorted(read_top - set(columns) - set(partitions)):
        problems.append(f"the SQL reads t.{name}, which the Glue table does not have")
    for name in sorted(read_struct - set(struct_fields)):
        problems.append(f"the SQL reads the reading field {name}, which the readings struct does not have")
    for name in sorted(read_columns - set(column_fields)):
        problems.append(f"the SQL reads the columns field {name}, which the columns struct does not have")
    for name in sorted((set(columns) - BATCH_COLUMNS) - read_top):
        problems.append(f"the single-reading branch does not read the Glue column {name}")
    for name in sorted(set(struct_fields) - read_struct):
        problems.append(f"the gateway branch does not read the readings field {name}")
    for name in sorted(set(column_fields) - read_columns):
        problems.append(f"the columnar branch does not read the columns field {name}")
    problems.extend(unnest_problems(tree, list(struct_fields)))
    return problems + type_problems(glue, struct_fields, column_fields)


def unnest_problems(tree: exp.Expression, struct_fields: list[str]) -> list[str]:
    """The gateway UNNEST of t.readings must name the struct's fields in their Glue order; the columnar branch needs
    its UNNEST of an index sequence; any other UNNEST is one this check does not know."""
    problems, kinds = [], []
    for unnest in tree.find_all(exp.Unnest):
        (source,) = unnest.expressions
        names = [column.name for column in unnest.args["alias"].columns]
        if isinstance(source, exp.Column) and source.table == "t" and source.name == "readings":
            kinds.append("readings")
            if names != struct_fields:
                problems.append(f"UNNEST names {names}, but the struct's fields are {struct_fields} (Trino binds them by position)")
        elif isinstance(source, exp.GenerateSeries):
            kinds.append("index")
        else:
            problems.append(f"an UNNEST of {source.sql(dialect='trino')}, neither the gateway readings nor the columnar index")
    if kinds.count("readings") != 1:
        problems.append(f"the SQL must UNNEST the gateway readings once, it does {kinds.count('readings')} times")
    if kinds.count("index") != 1:
        problems.append(f"the SQL must UNNEST the columnar message's row index (a sequence) once, it does {kinds.count('index')} times")
    return problems


def type_problems(glue: dict[str, Any], struct_fields: dict[str, Any], column_fields: dict[str, Any]) -> list[str]:
    """Glue types the SQL does not handle as it is written (see READING_FIELDS), and columns and fields it does not
    know: each reading field is a column and a readings field of its type, and each field the processor takes as a
    column (COLUMN_FIELDS) a columns field holding an array of that type."""
    problems = []
    columns, partitions = glue["columns"], glue["partitions"]
    for name, (types, _column) in READING_FIELDS.items():
        for where, kind in (("column", columns.get(name)), ("readings field", struct_fields.get(name))):
            if kind not in types:
                problems.append(f"Glue {where} {name} is {kind!r}; the SQL handles {sorted(types)}")
    for name in COLUMN_FIELDS:
        types = READING_FIELDS[name][0] if name in READING_FIELDS else set()
        kind = column_fields.get(name)
        if not (isinstance(kind, tuple) and kind[0] == "array" and kind[1] in types):
            problems.append(f"Glue columns field {name} is {kind!r}; the SQL handles an array of {sorted(types)}")
    for name in sorted(set(columns) - BATCH_COLUMNS - set(READING_FIELDS)):
        problems.append(f"Glue column {name} is new to the SQL: handle it and add it to READING_FIELDS")
    for name in sorted(set(column_fields) - set(COLUMN_FIELDS)):
        problems.append(f"Glue columns field {name} is not a column the processor reads (COLUMN_FIELDS): it would be ignored")
    if partitions != {"dh": "string"}:
        problems.append(f"the SQL filters on and exposes the partition dh (string, the delivery hour), the table has {partitions}")
    return problems


@pytest.mark.parametrize("key", RAW_READERS)
def test_sql_reads_the_glue_table_as_it_is(key, data_sets):
    assert glue_problems(raw_sql(key, data_sets), GLUE) == []


def _rename(glue: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    changed = copy.deepcopy(glue)
    changed["columns"] = {new if name == old else name: kind for name, kind in changed["columns"].items()}
    return changed


def _rename_field(glue: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    changed = copy.deepcopy(glue)
    fields = [(new if name == old else name, kind) for name, kind in changed["columns"]["readings"][1][1]]
    changed["columns"]["readings"] = ("array", ("struct", fields))
    return changed


def _reorder_fields(glue: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(glue)
    fields = changed["columns"]["readings"][1][1]
    changed["columns"]["readings"] = ("array", ("struct", [fields[1], fields[0], *fields[2:]]))
    return changed


def _retype(glue: dict[str, Any], name: str, kind: str) -> dict[str, Any]:
    changed = copy.deepcopy(glue)
    changed["columns"][name] = kind
    return changed


def _change_columns_field(glue: dict[str, Any], name: str, new_name: str | None, kind: Any = None) -> dict[str, Any]:
    """The columns struct with field ``name`` renamed to ``new_name`` (None: left out) and, given ``kind``, retyped;
    a ``name`` the struct does not have is added."""
    changed = copy.deepcopy(glue)
    fields = dict(changed["columns"]["columns"][1])
    old_kind = fields.pop(name, None)
    if new_name is not None:
        fields[new_name] = old_kind if kind is None else kind
    changed["columns"]["columns"] = ("struct", list(fields.items()))
    return changed


GLUE_CHANGES = [
    ("a renamed column", lambda glue: _rename(glue, "avg_speed_kmh", "speed_kmh")),
    ("a renamed readings field", lambda glue: _rename_field(glue, "occupancy", "occupancy_ratio")),
    ("reordered readings fields", _reorder_fields),
    ("ts as a timestamp", lambda glue: _retype(glue, "ts", "timestamp")),
    ("vehicle_count as a double", lambda glue: _retype(glue, "vehicle_count", "double")),
    ("a new column", lambda glue: _retype(glue, "lane", "string")),
    ("no columns column", lambda glue: {**glue, "columns": {k: v for k, v in glue["columns"].items() if k != "columns"}}),
    ("columns as an array of structs", lambda glue: _retype(glue, "columns", glue["columns"]["readings"])),
    ("a renamed columns field", lambda glue: _change_columns_field(glue, "avg_speed_kmh", "speed_kmh")),
    ("a columns field left out", lambda glue: _change_columns_field(glue, "congestion_index", None)),
    ("columns.vehicle_count as an array of doubles", lambda glue: _change_columns_field(glue, "vehicle_count", "vehicle_count", ("array", "double"))),
    ("columns.ts as an array of timestamps", lambda glue: _change_columns_field(glue, "ts", "ts", ("array", "timestamp"))),
    ("columns.occupancy not an array", lambda glue: _change_columns_field(glue, "occupancy", "occupancy", "double")),
    ("a new columns field", lambda glue: _change_columns_field(glue, "lane", "lane", ("array", "int"))),
]


@pytest.mark.parametrize(("what", "change"), GLUE_CHANGES, ids=[case[0] for case in GLUE_CHANGES])
def test_a_glue_change_breaks_the_sql_check(what, change, data_sets):
    assert glue_problems(data_sets["readings"]["custom_sql"], change(GLUE)), what


def test_readings_exposes_every_reading_field_of_the_glue_table(data_sets):
    exposed = {column["name"]: column["type"] for column in data_sets["readings"]["columns"]}
    struct_fields = dict(GLUE["columns"]["readings"][1][1])
    column_fields = dict(GLUE["columns"]["columns"][1])
    for name in (set(GLUE["columns"]) - BATCH_COLUMNS) | set(struct_fields) | set(column_fields):
        assert name in READING_FIELDS, f"Glue reading field {name} has no column in the readings data set"
        column = READING_FIELDS[name][1]
        assert column in exposed, f"readings lacks {column} (Glue {name})"
        expected = "DATETIME" if name == "ts" else QUICKSIGHT_TYPE[GLUE["columns"][name]]
        assert exposed[column] == expected, f"readings.{column} is {exposed[column]}, Glue {name} is {GLUE['columns'][name]}"
    for name, kind in GLUE["partitions"].items():
        assert exposed.get(name) == QUICKSIGHT_TYPE[kind], f"readings lacks the partition {name}, the one column that prunes a direct query"


@pytest.mark.parametrize("key", KEYS)
def test_sql_returns_the_declared_columns_and_survives_quicksights_wrapper(key, data_sets):
    sql = data_sets[key]["custom_sql"]
    declared = [column["name"] for column in data_sets[key]["columns"]]
    assert parse_sql(sql).named_selects == declared
    # QuickSight runs custom SQL as a subquery: a trailing ";" or a "--" comment would break the wrapped statement.
    wrapped = parse_sql(f"SELECT * FROM ({sql.strip()}) AS quicksight_wrapper")
    assert isinstance(wrapped, exp.Select) and wrapped.find(exp.Subquery) is not None
    assert "--" not in sql and not sql.strip().endswith(";")


@pytest.mark.parametrize("key", RAW_READERS)
def test_patterns_anchor_at_the_ends_of_the_text(key, data_sets):
    """The processor matches identifiers in full (re.fullmatch). Athena's regex library (Joni, Java syntax) lets ^ and
    $ match at a line break, so "s-1\\n" would pass ^...$; only \\A and \\z anchor at the ends of the text. DuckDB's RE2
    treats $ as the end of the text, so the run below cannot show this difference: it is checked here."""
    patterns = [call.expression.name for call in parse_sql(raw_sql(key, data_sets)).find_all(exp.RegexpLike)]
    assert len(patterns) >= 4
    for pattern in patterns:
        assert pattern.startswith("\\A") and pattern.endswith("\\z"), f"{pattern!r} must be anchored with \\A and \\z"


def test_the_raw_readers_use_the_same_row_source_and_read_one_hour(data_sets):
    """The readings data set and the rollup job turn raw records into readings the same way; each reads exactly one
    hourly partition: the data set the hour its parameter names, the job the hour it rolls up."""
    sources = {key: ctes(parse_sql(raw_sql(key, data_sets))) for key in RAW_READERS}
    for name in ROW_SOURCE:
        texts = {key: sources[key][name].sql(dialect="trino", comments=False) for key in RAW_READERS}
        assert len(set(texts.values())) == 1, f"CTE {name} differs between {sorted(texts)}"
    hours = {"readings": data_set("readings")["parameters"][0]["default_values"][0], **dict.fromkeys(ROLLUP_JOB, DELIVERY_HOUR)}
    for key in RAW_READERS:
        history = sources[key]["history"]
        assert [table.name for table in history.find_all(exp.Table)] == [GLUE["name"]]
        assert isinstance(history.selects[0], exp.Star)
        condition = history.args["where"].this
        assert isinstance(condition, exp.EQ) and condition.this.name == "dh" and condition.expression.name == hours[key], condition.sql()
    assert PARAMETER.findall(data_sets["readings"]["custom_sql"]) == ["hour"]


@pytest.mark.parametrize("key", [key for key in KEYS if CONTRACT[key]["import_mode"] == "SPICE"])
def test_spice_queries_read_only_their_rollup_for_the_lookback_window(key, data_sets):
    """An incremental refresh filters on its date column, which Athena cannot prune by: the SQL itself reads only the
    rollup rows delivered in the look-back window and a day more (the rollups are partitioned by delivery day)."""
    tree = parse_sql(data_sets[key]["custom_sql"])
    named = {cte.alias for cte in tree.find_all(exp.CTE)}
    assert {table.name for table in tree.find_all(exp.Table)} - named == {ROLLUP_OF[key]}, f"{key} must read only {ROLLUP_OF[key]}"
    first = next(iter(tree.find_all(exp.CTE))).this
    where = first.args.get("where")
    assert where is not None, f"{key} reads the whole rollup on every refresh"
    condition = where.this
    assert isinstance(condition, exp.GTE) and condition.this.name == "delivery_hour", f"{key}: expected delivery_hour >= <day>, got {condition.sql()}"
    intervals = list(condition.expression.find_all(exp.Interval))
    assert condition.expression.find(exp.CurrentDate) is not None and len(intervals) == 1
    days = int(intervals[0].this.name)
    assert intervals[0].unit.name.upper() == "DAY"
    assert days == lookback_days(key) + 1, f"{key} reads {days} days before today; the look-back needs {lookback_days(key)} and a day more"


# ---- (e) the SQL runs: DuckDB, against what the stream processor decides ----

TODAY = date(2026, 3, 10)  # the queries' current_date; a Tuesday
DAY_MS = 86_400_000
FREE_FLOW_KMH = 60.0  # the processor's default (config.Settings.free_flow_speed_kmh), which the SQL uses


def epoch_ms(day: date, hour: int = 0, minute: int = 0, second: int = 0, ms: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=timezone.utc).timestamp()) * 1000 + ms


def duckdb_type(kind: Any) -> str:
    if isinstance(kind, tuple) and kind[0] == "array":
        return f"{duckdb_type(kind[1])}[]"
    if isinstance(kind, tuple) and kind[0] == "struct":
        return "STRUCT(" + ", ".join(f"{name} {duckdb_type(sub)}" for name, sub in kind[1]) + ")"
    return {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE", "float": "FLOAT"}[kind]


# Trino's sequence(start, stop) counts down when stop < start (sequence(1, 0) is [1, 0], where DuckDB's
# generate_series gives []) and fails past 10,000 elements; its element_at fails on index 0 (DuckDB's list[0] is NULL).
TRINO_SEQUENCE = """
    CASE WHEN abs(STOP - START) + 1 > 10000 THEN error('result of sequence function must not have more than 10000 entries')
         WHEN STOP < START THEN sequence(START, STOP, -1)
         ELSE sequence(START, STOP)
    END"""
TRINO_ELEMENT_AT = "CASE WHEN INDEX = 0 THEN error('SQL array indices start at 1') ELSE element_at(ARRAY_, INDEX) END"


def _fill(template: str, **values: exp.Expression) -> exp.Expression:
    return parse_sql(template).transform(
        lambda node: exp.Paren(this=values[node.name].copy()) if isinstance(node, exp.Column) and node.name in values else node
    )


def _as_trino(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.CurrentDate):
        return exp.cast(exp.Literal.string(TODAY.isoformat()), "date")
    if isinstance(node, exp.GenerateSeries) and node.args.get("step") is None:
        return _fill(TRINO_SEQUENCE, START=node.args["start"], STOP=node.args["end"])
    index = node.expressions[0] if isinstance(node, exp.Bracket) and node.args.get("safe") else None
    if index is not None and not (isinstance(index, exp.Literal) and int(index.name) > 0):
        return _fill(TRINO_ELEMENT_AT, ARRAY_=node.this, INDEX=index)
    return node


def trino_to_duckdb(sql: str) -> str:
    """Athena SQL as DuckDB runs it like Trino: sqlglot's transpilation, current_date pinned to TODAY, and Trino's
    sequence and element_at (element_at with a positive literal index is the same in both) written out for DuckDB."""
    return parse_sql(sql).transform(_as_trino).sql(dialect="duckdb")


def to_duckdb(sql: str) -> str:
    """A data set's SQL for DuckDB: trino_to_duckdb, and the one rewrite sqlglot does not make: Trino's UNNEST of an
    array of rows yields one column per field, DuckDB needs UNNEST(..., recursive := true) in a LATERAL subquery for
    that (the alias list still names them by position). The SQL's other UNNEST, of the columnar branch's index
    sequence (an array of integers), yields one column in both and is left as it is."""
    sources = sorted(type(unnest.expressions[0]).__name__ for unnest in parse_sql(sql).find_all(exp.Unnest))
    if not sources:  # a rollup-based data set
        return trino_to_duckdb(sql)
    assert sources == ["Column", "GenerateSeries"], f"expected the UNNEST of t.readings and of the columnar index, found {sources}"
    text, count = re.subn(
        r"CROSS JOIN UNNEST\(([\w.]+)\) AS (\w+)\(([\w, ]+)\)",
        r"CROSS JOIN LATERAL (SELECT UNNEST(\1, recursive := true)) AS \2(\3)",
        trino_to_duckdb(sql),
    )
    assert count == 1, f"expected one UNNEST of the gateway readings to rewrite, found {count}"
    return text


def firehose_value(value: Any, kind: Any) -> Any:
    """A JSON value as Firehose's JSON-to-Parquet conversion stores it in a Glue column or field of type ``kind``: a
    string keeps the text (ts: the digits of a JSON integer, or the string), numbers take the type, an array keeps its
    null elements, a struct takes its fields by name (a field it does not have is dropped, one the value lacks is
    NULL), and a missing value is NULL. Samples only hold values of the right JSON type: how Firehose coerces others
    is not modelled."""
    if value is None:
        return None
    if isinstance(kind, tuple) and kind[0] == "array":
        return [firehose_value(item, kind[1]) for item in value]
    if isinstance(kind, tuple) and kind[0] == "struct":
        return {name: firehose_value(value.get(name), sub) for name, sub in kind[1]}
    if kind == "string":
        return str(value)
    if kind in ("double", "float"):
        return float(value)
    return value


Delivered = date | datetime  # when Firehose received a message: a datetime, or a date for its last hour (23:00 UTC)


def delivery_hour(delivered: Delivered) -> datetime:
    """The hour Firehose filed a message under (UTC, naive): the datetime's hour, or 23:00 of a date (so that the end
    of the delivery hour is the end of that day)."""
    if isinstance(delivered, datetime):
        return delivered.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    return datetime(delivered.year, delivered.month, delivered.day, 23)


def dh_text(delivered: Delivered) -> str:
    return delivery_hour(delivered).strftime("%Y-%m-%d-%H")


def glue_row(message: dict[str, Any], delivered: Delivered) -> dict[str, Any]:
    return {**{name: firehose_value(message.get(name), kind) for name, kind in GLUE["columns"].items()}, "dh": dh_text(delivered)}


def kinesis_record(message: dict[str, Any], sequence: int) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(message).encode()).decode()
    return {"eventID": f"{SHARD}:{sequence}", "kinesis": {"sequenceNumber": str(sequence), "data": data, "partitionKey": "z"}}


def processor_accepts(messages: list[tuple[dict[str, Any], Delivered]]) -> list[tuple[str, str, int, int, float, float | None, float]]:
    """The readings the stream processor accepts from each message: (sensor_id, zone, ts ms, vehicles, speed,
    occupancy, congestion index). Its clock is the end of the delivery hour, the stand-in the SQL uses for the arrival
    time (the SQL allows ts up to 5 minutes past that, as parse_batch does past now_ms)."""
    accepted = []
    for sequence, (message, delivered) in enumerate(messages, start=1):
        now_ms = as_ms(delivery_hour(delivered)) + 3_600_000
        batch = parse_batch([kinesis_record(message, sequence)], now_ms, 60, FREE_FLOW_KMH, Caches())
        # Sensor ids are unique within each sample message, so "the newest reading per sensor" lists every reading.
        assert len(batch.latest) == batch.accepted, "a sample message repeats a sensor id"
        for sensor, (ts, _record, zone, vehicles, speed, occupancy, congestion) in batch.latest.items():
            accepted.append((sensor, zone, ts, vehicles, float(speed), occupancy, congestion))
    return sorted(accepted)


def reading(sensor: str, zone: str, ts: Any, vehicles: int = 10, speed: float = 30.0, **extra: Any) -> dict[str, Any]:
    message = {"sensor_id": sensor, "zone": zone, "ts": ts, "vehicle_count": vehicles, "avg_speed_kmh": speed}
    message.update(extra)
    return {key: value for key, value in message.items() if value is not DROP}


DROP = object()
YESTERDAY = TODAY - timedelta(days=1)
T0 = epoch_ms(YESTERDAY, 8, 0)


def field_rule_messages() -> list[tuple[dict[str, Any], Delivered]]:
    """Single readings and gateway batches at every edge of the telemetry rules, each sensor id once per message."""
    singles = [
        # the congestion index: sent, or derived from speed and occupancy (free flow 60 km/h)
        reading("ci-sent", "rules", T0, congestion_index=0.42),
        reading("ci-slow", "rules", T0, speed=15.0),
        reading("ci-fast", "rules", T0, speed=95.0),
        reading("ci-occupancy", "rules", T0, speed=30.0, occupancy=0.8),
        reading("ci-empty-road", "rules", T0, vehicles=0, speed=0.0),
        reading("ci-empty-occupied", "rules", T0, vehicles=0, speed=0.0, occupancy=0.3),
        reading("ci-integer-speed", "rules", T0, speed=45),
        # ts: epoch milliseconds, RFC 3339 in its forms, and what is not a time
        reading("ts-epoch-ms", "rules", T0 + 123),
        reading("ts-rfc-z", "rules", "2026-03-09T08:00:01Z"),
        reading("ts-rfc-lower", "rules", "2026-03-09t08:00:02z"),
        reading("ts-rfc-space", "rules", "2026-03-09 08:00:03Z"),
        reading("ts-rfc-fraction-1", "rules", "2026-03-09T08:00:04.5Z"),
        reading("ts-rfc-fraction-9", "rules", "2026-03-09T08:00:05.123456789Z"),
        reading("ts-rfc-plus", "rules", "2026-03-09T13:30:06.250+05:30"),
        reading("ts-rfc-minus", "rules", "2026-03-09T05:00:07-03:00"),
        reading("ts-rfc-leap-second", "rules", "2026-03-09T08:00:60Z"),
        reading("ts-rfc-bad-date", "rules", "2026-02-30T08:00:00Z"),
        reading("ts-rfc-hour-24", "rules", "2026-03-09T24:00:00Z"),
        reading("ts-rfc-minute-60", "rules", "2026-03-09T08:60:00Z"),
        reading("ts-rfc-offset-24", "rules", "2026-03-09T08:00:00+24:00"),
        reading("ts-rfc-no-zone", "rules", "2026-03-09T08:00:00"),
        reading("ts-rfc-before-1970", "rules", "1969-12-31T23:59:59Z"),
        reading("ts-negative", "rules", -5),
        reading("ts-words", "rules", "yesterday"),
        reading("ts-missing", "rules", DROP),
        reading("ts-16-digits", "rules", 1_000_000_000_000_000),
        # the future rule, at its edge: the end of the delivery hour (23:00-24:00) and 5 minutes
        reading("future-edge", "rules", epoch_ms(TODAY) + 300_000),
        reading("future-past-edge", "rules", epoch_ms(TODAY) + 300_001),
        # identifiers
        reading("a" * 64, "rules", T0),
        reading("a" * 65, "rules", T0),
        reading("has space", "rules", T0),
        reading("trailing-newline\n", "rules", T0),
        reading("sensor-ok", "z" * 33, T0),
        reading("sensor-zone-slash", "a/b", T0),
        reading("sensor-missing-zone", DROP, T0),
        # ranges
        reading("vehicles-max", "rules", T0, vehicles=10000),
        reading("vehicles-over", "rules", T0, vehicles=10001),
        reading("vehicles-negative", "rules", T0, vehicles=-1),
        reading("vehicles-missing", "rules", T0, vehicles=DROP),
        reading("speed-max", "rules", T0, speed=300.0),
        reading("speed-over", "rules", T0, speed=300.5),
        reading("speed-negative", "rules", T0, speed=-0.1),
        reading("speed-missing", "rules", T0, speed=DROP),
        reading("occupancy-one", "rules", T0, occupancy=1.0),
        reading("occupancy-over", "rules", T0, occupancy=1.01),
        reading("ci-zero", "rules", T0, congestion_index=0.0),
        reading("ci-over", "rules", T0, congestion_index=1.01),
        reading("ci-negative", "rules", T0, congestion_index=-0.01),
    ]
    batches = [
        {"readings": [reading("gw-1", "gateway", T0 + 1000), reading("gw-2", "gateway", T0 + 2000), reading("gw-3", "gateway", T0 + 3000)]},
        # a reading of another zone than the batch's is dropped, the rest stays
        {"readings": [reading("gw-mix-1", "gateway", T0), reading("gw-mix-2", "elsewhere", T0), reading("gw-mix-3", "gateway", T0)]},
        # the batch's zone is that of its first reading with a valid sensor_id and zone
        {"readings": [reading("bad id", "first", T0), reading("gw-first-2", "second", T0), reading("gw-first-3", "first", T0),
                      reading("gw-first-4", "second", T0, speed=500.0), reading("gw-first-5", "second", T0)]},
        # a null element is skipped, its neighbours stay
        {"readings": [reading("gw-null-1", "gateway", T0), None, reading("gw-null-3", "gateway", T0)]},
        # top-level fields beside readings are not a reading
        {"readings": [reading("gw-top-1", "gateway", T0)], **reading("gw-top-level", "gateway", T0)},
        {"readings": [reading(f"gw-full-{index:03d}", "full", T0 + index) for index in range(500)]},
        {"readings": [reading(f"gw-over-{index:03d}", "over", T0 + index) for index in range(501)]},
        {"readings": []},
    ]
    return [(message, YESTERDAY) for message in singles + batches + columnar_messages()]


def columns_message(zone: Any, **columns: list[Any]) -> dict[str, Any]:
    """A columnar gateway message with exactly these columns."""
    return {"zone": zone, "columns": columns}


def length_break(name: str, delta: int) -> dict[str, Any]:
    """Three good readings in columns, column ``name`` one element shorter (delta -1) or longer (+1)."""
    label = "short" if delta < 0 else "long"
    message = columnar([reading(f"col-{name}-{label}-{i}", "columnar", T0 + i, occupancy=0.1, congestion_index=0.2) for i in range(3)], "columnar")
    column = message["columns"][name]
    message["columns"][name] = column[:delta] if delta < 0 else column + column[:delta]
    return message


def columnar_messages() -> list[dict[str, Any]]:
    """Columnar gateway messages at every edge of their rules (docs/contracts.md), each sensor id once per message."""
    good = [
        # the field forms of the single readings, in columns: ts as digits and RFC 3339 in one column, a sent index, a
        # derived one (with and without occupancy), an empty road, an integer speed, and rows the field rules reject
        columnar(
            [
                reading("col-1", "columnar", T0 + 1, occupancy=0.4, congestion_index=0.3),
                reading("col-2", "columnar", "2026-03-09T08:00:02.5+01:00"),
                reading("col-3", "columnar", T0 + 3, vehicles=0, speed=0.0, occupancy=0.2),
                reading("col-4", "columnar", T0 + 4, speed=45, occupancy=0.6),
                reading("col-bad id", "columnar", T0 + 5),
                reading("col-speed-over", "columnar", T0 + 6, speed=300.5),
                reading("col-ci-over", "columnar", T0 + 7, congestion_index=1.01),
                reading("col-future", "columnar", epoch_ms(TODAY) + 300_001),
            ],
            "columnar",
        ),
        # a null element is a field not sent: a reject for a required field (that reading only), fine for an optional
        columns_message(
            "columnar",
            sensor_id=["col-null-ok", None, "col-null-ts", "col-null-vehicles", "col-null-speed", "col-null-optional"],
            ts=[T0, T0, None, T0, T0, T0],
            vehicle_count=[5, 5, 5, None, 5, 5],
            avg_speed_kmh=[20.0, 20.0, 20.0, 20.0, None, 20.0],
            occupancy=[0.5, 0.5, 0.5, 0.5, 0.5, None],
            congestion_index=[0.9, 0.9, 0.9, 0.9, 0.9, None],
        ),
        # an optional column left out: not sent (the index derived); a required one left out: every reading rejected
        columns_message("columnar", sensor_id=["col-no-optional-1", "col-no-optional-2"], ts=[T0, T0], vehicle_count=[3, 0], avg_speed_kmh=[12.0, 0.0]),
        columns_message("columnar", sensor_id=["col-no-ts-1", "col-no-ts-2"], vehicle_count=[1, 2], avg_speed_kmh=[1.0, 2.0]),
        columns_message("columnar", sensor_id=["col-only-ids"]),
        # 500 readings: the most a message may hold
        columnar([reading(f"col-full-{i:03d}", "full-columnar", T0 + i) for i in range(500)], "full-columnar"),
    ]
    batch_rule = [  # each break rejects the whole message
        columns_message("columnar", sensor_id=[], ts=[], vehicle_count=[], avg_speed_kmh=[]),
        columnar([reading(f"col-over-{i:03d}", "over-columnar", T0 + i) for i in range(501)], "over-columnar"),
        # more than Trino's sequence allows (10,000)
        columns_message("columnar", sensor_id=[f"col-huge-{i:05d}" for i in range(10_001)]),
        *(length_break(name, delta) for name, delta in (("ts", -1), ("vehicle_count", 1), ("avg_speed_kmh", -1), ("occupancy", 1), ("congestion_index", -1))),
        columns_message("columnar", ts=[T0], vehicle_count=[1], avg_speed_kmh=[1.0]),  # no sensor_id column
        {"zone": "columnar", "columns": {}},
    ]
    zones = [  # the message's zone holds for every reading: a bad or missing one rejects them all
        columnar([reading("col-zone-slash-1", "a/b", T0), reading("col-zone-slash-2", "a/b", T0)], "a/b"),
        columnar([reading("col-zone-long-1", "z" * 33, T0)], "z" * 33),
        columnar([reading("col-zone-missing-1", DROP, T0)], None),
    ]
    forms = [
        # with readings, a message is a readings batch: its columns are ignored
        {"readings": [reading("both-readings-1", "both", T0)], **columnar([reading("both-columns-1", "both", T0)], "both")},
        # readings null: columnar; columns null: a single reading
        {"readings": None, **columnar([reading("col-readings-null-1", "columnar", T0)], "columnar")},
        {**reading("col-columns-null", "rules", T0), "columns": None},
        # unknown columns and top-level fields are ignored, even a whole reading's fields beside the columns
        {
            **reading("col-top-level", "columnar", T0),
            "gateway": "gw-7",
            "columns": {**columnar([reading("col-unknown-1", "columnar", T0)], "columnar")["columns"], "lane": [2], "zone": ["elsewhere"]},
        },
    ]
    return good + batch_rule + zones + forms


def window_messages() -> list[tuple[dict[str, Any], Delivered]]:
    """Zone windows for the alert rule (one gateway message per window, a readings batch or columnar) and sensors over
    several hours and days (single readings, and one columnar message a day for the other sensors)."""

    def window(zone: str, minute: int, count: int, congestion: float, day: date = YESTERDAY, *, columns: bool = False) -> dict[str, Any]:
        start = epoch_ms(day, 17, minute)
        readings = [reading(f"{zone}-{minute}-{index}", zone, start + index * 7000, congestion_index=congestion) for index in range(count)]
        return columnar(readings, zone) if columns else {"readings": readings}

    episodes = [
        window("alert-a", 0, 6, 0.80),  # alert: the zone was clear
        window("alert-a", 1, 6, 0.60, columns=True),  # between the thresholds: stays congested
        window("alert-a", 2, 6, 0.75),  # still congested: no second alert
        window("alert-a", 3, 6, 0.40, columns=True),  # cleared
        window("alert-a", 4, 4, 0.90, columns=True),  # too few readings to decide
        window("alert-a", 5, 5, 0.72, columns=True),  # alert again
        window("alert-a", 7, 7, 0.95),  # still congested
        window("alert-b", 0, 5, 0.69, columns=True),  # between: no state change
        window("alert-b", 1, 5, 0.71, columns=True),  # alert
        window("alert-c", 30, 8, 0.90, TODAY, columns=True),
    ]
    daily = []
    for day, hours in ((TODAY - timedelta(days=3), (6, 7)), (TODAY - timedelta(days=2), (6, 9, 23)), (YESTERDAY, (0, 6, 6, 12)), (TODAY, (1,))):
        others = []
        for index, hour in enumerate(hours):
            daily.append(reading("daily-sensor", "daily", epoch_ms(day, hour, index, 30), speed=10.0 * (index + 1)))
            others.append(reading(f"daily-other-{day.day}-{index}", "daily", epoch_ms(day, hour, 5), occupancy=0.1 * index))
        daily.append(columnar(others, "daily"))  # readings of several hours of the day in one columnar message
    # delivered after midnight: the reading of 23:59:58 lands in the next day's partition
    late = [reading("late-sensor", "daily", epoch_ms(YESTERDAY - timedelta(days=1), 23, 59, 58))]
    # an old partition: in readings (direct query, no dt filter), never in a SPICE refresh
    old = [reading("old-sensor", "daily", epoch_ms(TODAY - timedelta(days=10), 12)), window("alert-old", 0, 6, 0.9, TODAY - timedelta(days=10), columns=True)]
    messages = [(m, datetime.fromtimestamp(first_ts(m) / 1000, timezone.utc).date()) for m in episodes + daily + old]
    return messages + [(m, YESTERDAY) for m in late] + hour_messages()


def hour_messages() -> list[tuple[dict[str, Any], Delivered]]:
    """Deliveries at a given hour: late readings (a reading hour delivered over several later delivery hours, one of
    them the next day) and a gateway message whose readings straddle an hour boundary."""
    def at(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute)

    y = YESTERDAY
    return [
        (columnar([reading("late-1", "late", epoch_ms(y, 8, 10), congestion_index=0.2), reading("late-2", "late", epoch_ms(y, 8, 20))], "late"), at(y, 8, 21)),
        ({"readings": [reading("late-1", "late", epoch_ms(y, 8, 40), congestion_index=0.9)]}, at(y, 11, 5)),  # hours late
        (reading("late-2", "late", epoch_ms(y, 8, 50), occupancy=0.7), at(TODAY, 2, 30)),  # the next day
        (columnar([reading(f"late-{n}", "late", epoch_ms(y, 8, 55, n)) for n in range(3, 9)], "late"), at(y, 9, 1)),
        # one gateway message across an hour boundary, delivered in the later hour
        ({"readings": [reading("edge-1", "edge", epoch_ms(y, 9, 59, 58), congestion_index=0.9), reading("edge-2", "edge", epoch_ms(y, 10, 0, 1))]}, at(y, 10)),
        (columnar([reading("edge-1", "edge", epoch_ms(y, 10, 0, 30)), reading("edge-3", "edge", epoch_ms(y, 9, 59, 59))], "edge"), at(y, 10, 1)),
        # a sensor's second reading of an hour in the same delivery hour: its first and last reading differ
        (reading("edge-1", "edge", epoch_ms(y, 10, 0, 45)), at(y, 10, 2)),
        # the 09:59 window of zone edge, delivered in hour 9 and (above) in hour 10: two rows of one zone window
        (reading("edge-5", "edge", epoch_ms(y, 9, 59, 50)), at(y, 9, 59)),
    ]


def first_ts(message: dict[str, Any]) -> int:
    if message.get("readings") is not None:
        return message["readings"][0]["ts"]
    if message.get("columns") is not None:
        return message["columns"]["ts"][0]
    return message["ts"]


ALL_MESSAGES = field_rule_messages() + window_messages()


@pytest.fixture(scope="module")
def history() -> duckdb.DuckDBPyConnection:
    """The Glue table in DuckDB, from the template's schema, holding ALL_MESSAGES as Firehose would write them, and
    the rollup tables as the hourly job leaves them after running twice over every delivery hour."""
    connection = glue_connection(ALL_MESSAGES)
    run_rollup_job(connection, delivery_hours(ALL_MESSAGES), times=2)
    return connection


def delivery_hours(messages: list[tuple[dict[str, Any], Delivered]]) -> list[str]:
    return sorted({dh_text(delivered) for _message, delivered in messages})


def run_rollup_job(connection: duckdb.DuckDBPyConnection, hours: list[str], times: int = 1) -> None:
    """The job's statements as the state machine runs them for each delivery hour, ``times`` over: CREATE TABLE IF
    NOT EXISTS (DuckDB keeps the columns; Iceberg's partitioning, location and properties are Athena's), then the
    MERGEs with the hour filled in. Unqualified names resolve in the history database, as in the job's Athena
    QueryExecutionContext."""
    statements = rollup_statements()
    connection.execute(f'USE "{VARIABLES["quicksight_glue_database"]}"')
    for key in ("create_sensor_hour", "create_zone_window"):
        connection.execute(parse_sql(statements[key]).sql(dialect="duckdb", unsupported_level=sqlglot.ErrorLevel.IGNORE))
    for _time in range(times):
        for hour in hours:
            for key in ROLLUP_JOB:
                connection.execute(to_duckdb(statements[key].replace(DELIVERY_HOUR, hour)))


def glue_connection(messages: list[tuple[dict[str, Any], Delivered]], *, daily: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB database with the Glue table, from the template's schema, holding ``messages`` as Firehose would; with
    ``daily``, the table as it was before the hourly layout: the same columns, partitioned by delivery day dt."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    database, table = VARIABLES["quicksight_glue_database"], VARIABLES["quicksight_glue_table"]
    columns = {**GLUE["columns"], **({"dt": "string"} if daily else GLUE["partitions"])}
    connection.execute(f'CREATE SCHEMA "{database}"')
    connection.execute(f'CREATE TABLE "{database}"."{table}" (' + ", ".join(f"{name} {duckdb_type(kind)}" for name, kind in columns.items()) + ")")
    rows = [{**glue_row(message, delivered), "dt": delivery_hour(delivered).date().isoformat()} for message, delivered in messages]
    placeholders = ", ".join(["?"] * len(columns))
    connection.executemany(f'INSERT INTO "{database}"."{table}" VALUES ({placeholders})', [[row[name] for name in columns] for row in rows])
    return connection


def run(connection: duckdb.DuckDBPyConnection, key: str, options: dict[str, Any], **parameters: str) -> list[dict[str, Any]]:
    cursor = connection.execute(to_duckdb(with_parameters(options["custom_sql"], **parameters)))
    names = [description[0] for description in cursor.description]
    assert names == [column["name"] for column in options["columns"]]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def as_ms(value: datetime) -> int:
    return int(value.replace(tzinfo=timezone.utc).timestamp() * 1000) if value.tzinfo is None else int(value.timestamp() * 1000)


def in_window(key: str, messages: list[tuple[dict[str, Any], Delivered]]) -> list[tuple[dict[str, Any], Delivered]]:
    """The messages delivered in the refresh's window: since the start of the day before its look-back."""
    since = datetime.combine(TODAY - timedelta(days=lookback_days(key) + 1), datetime.min.time())
    return [(message, delivered) for message, delivered in messages if delivery_hour(delivered) >= since]


def test_readings_are_exactly_what_the_processor_accepts(history, data_sets):
    """Over every delivery hour of the samples, one hour at a time (the data set's hour parameter)."""
    rows = [row for hour in delivery_hours(ALL_MESSAGES) for row in run(history, "readings", data_sets["readings"], hour=hour)]
    got = sorted(
        (row["sensor_id"], row["zone"], as_ms(row["reading_time"]), row["vehicle_count"], row["avg_speed_kmh"], row["occupancy"], row["congestion_index"])
        for row in rows
    )
    expected = processor_accepts(ALL_MESSAGES)
    assert [reading_[:6] for reading_ in got] == [reading_[:6] for reading_ in expected]
    for (sensor, *_rest, congestion), (_s, *_r, wanted) in zip(got, expected):
        assert congestion == pytest.approx(wanted, abs=1e-12), f"{sensor}: congestion index {congestion}, the processor derives {wanted}"
    by_sensor = {row["sensor_id"]: row for row in rows}
    assert by_sensor["ts-rfc-plus"]["dh"] == f"{YESTERDAY.isoformat()}-23"
    assert run(history, "readings", data_sets["readings"]) == [], "the default hour must hold nothing"
    # The sample set reaches both sides of each rule (else the comparison above proves little).
    for accepted in ("ts-rfc-leap-second", "ts-rfc-fraction-9", "future-edge", "gw-full-499", "gw-first-5", "ci-empty-occupied", "old-sensor"):
        assert accepted in by_sensor
    for rejected in ("ts-rfc-bad-date", "future-past-edge", "gw-over-000", "gw-mix-2", "gw-first-3", "gw-first-4", "gw-top-level", "trailing-newline\n"):
        assert rejected not in by_sensor
    # The same for the columnar form: each of its rules is reached from both sides.
    for accepted in (
        "col-2",
        "col-3",
        "col-null-ok",
        "col-null-optional",
        "col-no-optional-2",
        "col-full-499",
        "col-readings-null-1",
        "col-unknown-1",
        "col-columns-null",
        "both-readings-1",
    ):
        assert accepted in by_sensor
    for rejected in (
        "col-bad id",
        "col-speed-over",
        "col-future",
        "col-null-ts",
        "col-null-vehicles",
        "col-no-ts-1",
        "col-only-ids",
        "col-over-000",
        "col-huge-00000",
        "col-zone-slash-1",
        "col-zone-missing-1",
        "both-columns-1",
        "col-top-level",
        *(
            f"col-{name}-{label}-0"
            for name, label in (("ts", "short"), ("vehicle_count", "long"), ("avg_speed_kmh", "short"), ("occupancy", "long"), ("congestion_index", "short"))
        ),
    ):
        assert rejected not in by_sensor


def test_zone_hourly_aggregates_the_accepted_readings(history, data_sets):
    accepted = processor_accepts(in_window("zone_hourly", ALL_MESSAGES))
    expected: dict[tuple[str, int], list[tuple]] = defaultdict(list)
    for entry in accepted:
        expected[(entry[1], entry[2] // 3_600_000 * 3_600_000)].append(entry)
    rows = run(history, "zone_hourly", data_sets["zone_hourly"])
    assert sorted((row["zone"], as_ms(row["hour"])) for row in rows) == sorted(expected)
    for row in rows:
        group = expected[(row["zone"], as_ms(row["hour"]))]
        hour = datetime.fromtimestamp(as_ms(row["hour"]) / 1000, timezone.utc)
        assert (row["hour_of_day"], row["weekday"]) == (hour.hour, hour.isoweekday())
        assert row["readings"] == len(group)
        assert row["sensors"] == len({entry[0] for entry in group})
        assert row["vehicle_count"] == sum(entry[3] for entry in group)
        assert row["avg_speed_kmh"] == pytest.approx(sum(entry[4] for entry in group) / len(group))
        assert row["congestion_index"] == pytest.approx(sum(entry[6] for entry in group) / len(group))
        assert row["congestion_max"] == pytest.approx(max(entry[6] for entry in group))
    assert "old-sensor" not in {entry[0] for entry in accepted}, "the sample's old partition must lie outside the window"
    assert ("daily", epoch_ms(TODAY - timedelta(days=10), 12)) not in {(row["zone"], as_ms(row["hour"])) for row in rows}


def test_sensor_daily_counts_each_sensors_readings_per_day(history, data_sets):
    accepted = processor_accepts(in_window("sensor_daily", ALL_MESSAGES))
    expected: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for sensor, zone, ts, *_rest in accepted:
        expected[(sensor, zone, ts // DAY_MS * DAY_MS)].append(ts)
    rows = run(history, "sensor_daily", data_sets["sensor_daily"])
    got = {(row["sensor_id"], row["zone"], as_ms(row["day"])): (row["readings"], as_ms(row["last_reading"])) for row in rows}
    assert got == {group: (len(times), max(times)) for group, times in expected.items()}
    # the daily sensor reported on four days; the partition three days back is the oldest a refresh reads
    assert sorted(day for sensor, _zone, day in got if sensor == "daily-sensor") == [
        epoch_ms(TODAY - timedelta(days=n)) for n in (3, 2, 1, 0)
    ]
    assert got[("daily-sensor", "daily", epoch_ms(YESTERDAY))][0] == 4
    assert ("daily-other-9-3", "daily", epoch_ms(YESTERDAY)) in got  # the day's other sensors came in one columnar message
    assert ("late-sensor", "daily", epoch_ms(YESTERDAY - timedelta(days=1))) in got  # delivered the next day, counted on its own


def test_zone_alerts_apply_the_processors_alert_rule(history, data_sets):
    accepted = processor_accepts(in_window("zone_alerts", ALL_MESSAGES))
    windows: dict[tuple[str, int], list[float]] = defaultdict(list)
    for _sensor, zone, ts, *_rest, congestion in accepted:
        windows[(zone, ts // 60_000 * 60)].append(congestion)
    expected, states = [], {}
    for (zone, window_start), values in sorted(windows.items()):
        decided = congestion_decision(states.get(zone, ZoneState()), zone, window_start, len(values), sum(values), window_start, 0.7, 0.5, 5)
        if decided is not None:
            states[zone], alert = decided
            if alert.detail_type == CONGESTION_ALERT:
                expected.append((zone, window_start, alert.detail["congestion_index"], alert.detail["readings"]))
    rows = run(history, "zone_alerts", data_sets["zone_alerts"])
    got = sorted((row["zone"], as_ms(row["window_start"]) // 1000, round(row["congestion_index"], 4), row["readings"]) for row in rows)
    assert got == expected
    for row in rows:
        assert as_ms(row["day"]) == as_ms(row["window_start"]) // DAY_MS * DAY_MS
    # the samples hold an episode with a dip between the thresholds, one after a clear, and too small a window
    assert [(alert[0], alert[1]) for alert in got if alert[0] == "alert-a"] == [
        ("alert-a", epoch_ms(YESTERDAY, 17, 0) // 1000), ("alert-a", epoch_ms(YESTERDAY, 17, 5) // 1000)
    ]
    assert "alert-old" not in {alert[0] for alert in got}


def test_the_duckdb_run_has_trinos_sequence_and_element_at():
    """What the columnar branch relies on, as the run above has it: sequence(1, 0) is [1, 0], a sequence past 10,000
    elements fails, element_at fails on index 0 and is NULL past the end."""
    connection = duckdb.connect()
    select = "SELECT sequence(1, 0), sequence(1, 3), sequence(1, 10000)[10000], element_at(ARRAY[5, 6], 3), element_at(ARRAY[5, 6], x) FROM (VALUES 1) AS v (x)"
    assert connection.execute(trino_to_duckdb(select)).fetchall() == [([1, 0], [1, 2, 3], 10000, None, 5)]
    for failing, message in (
        ("SELECT sequence(1, x) FROM (VALUES 10001) AS v (x)", "more than 10000 entries"),
        ("SELECT element_at(ARRAY[5, 6], x) FROM (VALUES 0) AS v (x)", "indices start at 1"),
    ):
        with pytest.raises(duckdb.Error, match=message):
            connection.execute(trino_to_duckdb(failing)).fetchall()


def test_the_columnar_index_never_fails_the_query(data_sets):
    """The columnar branch's UNNEST (FROM) comes before its WHERE: an engine may evaluate it for a message the WHERE
    then drops. DuckDB, like Trino's optimizer when it can, filters first, so the run above does not show this: here the
    branch runs without its WHERE over a message of more sensor ids than Trino's sequence allows."""
    records = ctes(parse_sql(data_sets["readings"]["custom_sql"]))["records"]
    (branch,) = [
        select for select in records.find_all(exp.Select) if any(isinstance(u.expressions[0], exp.GenerateSeries) for u in select.find_all(exp.Unnest))
    ]
    branch = branch.copy()
    branch.set("where", None)
    history = f'"{VARIABLES["quicksight_glue_database"]}"."{VARIABLES["quicksight_glue_table"]}"'
    connection = glue_connection([(columns_message("z", sensor_id=[f"s{i}" for i in range(10_001)]), YESTERDAY)])
    rows = connection.execute(trino_to_duckdb(f"WITH history AS (SELECT * FROM {history}) {branch.sql(dialect='trino')}")).fetchall()
    assert 0 < len(rows) <= 500


# ---- the rollups against the raw-reading SQL they replaced ----

BEFORE_DIR = ROOT / "tests" / "unit" / "data" / "quicksight_before"


@pytest.fixture(scope="module")
def before() -> dict[str, dict[str, Any]]:
    """The data sets as they were before the rollups: every SPICE refresh read days of raw readings (daily dt)."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return {key: yaml.safe_load(environment.from_string((BEFORE_DIR / f"{key}.yml").read_text()).render(**VARIABLES)) for key in KEYS}


def comparable(rows: list[dict[str, Any]]) -> list[tuple]:
    """Rows in a stable order, numbers rounded where sums in another order may differ in the last bits."""
    return sorted(tuple(round(value, 9) if isinstance(value, float) else value for value in row.values()) for row in rows)


@pytest.mark.parametrize("key", list(ROLLUP_OF))
def test_rollup_based_data_sets_match_the_raw_sql_they_replaced(key, history, before, data_sets):
    """The same rows, column for column, as the raw-reading SQL of before gave on the same samples: late readings,
    a gateway message across an hour boundary, readings of one hour delivered over several hours and days, and the
    rollup job run twice over every delivery hour."""
    new = run(history, key, data_sets[key])
    old = run(glue_connection(ALL_MESSAGES, daily=True), key, before[key])
    assert new, f"{key}: the samples give no rows"
    assert comparable(new) == comparable(old)


def test_late_readings_count_in_their_reading_hour_whatever_hour_delivered_them(history, data_sets):
    rows = {(row["zone"], as_ms(row["hour"])): row for row in run(history, "zone_hourly", data_sets["zone_hourly"])}
    late = rows[("late", epoch_ms(YESTERDAY, 8))]
    assert (late["readings"], late["sensors"]) == (10, 8)  # from four deliveries: 08:21, 09:01, 11:05 and the next day 02:30
    assert late["congestion_max"] == pytest.approx(0.9)
    edge = {hour: rows[("edge", epoch_ms(YESTERDAY, hour))]["readings"] for hour in (9, 10)}
    assert edge == {9: 3, 10: 3}  # one message across the hour boundary, and more delivered in hours 9 and 10
    windows = history.execute("SELECT count(*) FROM zone_window WHERE zone = 'edge' AND minute(window_start) = 59").fetchone()
    assert windows == (2,)  # one zone window, delivered in two hours
    stored = history.execute("SELECT count(DISTINCT delivery_hour) FROM sensor_hour WHERE zone = 'late'").fetchone()
    assert stored == (4,)


def rollup_snapshot(connection: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {table: connection.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in ("sensor_hour", "zone_window")}


def test_the_rollup_job_run_again_changes_nothing():
    """Idempotent: a second run over every hour, or one hour run again, leaves the rollup tables as they were."""
    connection = glue_connection(ALL_MESSAGES)
    hours = delivery_hours(ALL_MESSAGES)
    run_rollup_job(connection, hours)
    first = rollup_snapshot(connection)
    assert all(first.values())
    run_rollup_job(connection, hours)
    assert rollup_snapshot(connection) == first
    run_rollup_job(connection, [f"{YESTERDAY.isoformat()}-10"])
    assert rollup_snapshot(connection) == first


def test_a_rollup_run_replaces_its_hour_and_keeps_the_others():
    """Each run owns its delivery hour: rows of other hours stay; a reading that reached the hour's partition after a
    run (Firehose retried a delivery) is counted when the hour runs again."""
    messages = hour_messages()
    connection = glue_connection(messages[:1])
    run_rollup_job(connection, delivery_hours(messages))
    before_rows = connection.execute("SELECT sum(readings) FROM sensor_hour").fetchone()
    extra = columnar([reading("late-9", "late", epoch_ms(YESTERDAY, 8, 22))], "late")
    row = glue_row(extra, messages[0][1])
    table = f'"{VARIABLES["quicksight_glue_database"]}"."{VARIABLES["quicksight_glue_table"]}"'
    connection.executemany(f"INSERT INTO {table} VALUES ({', '.join(['?'] * len(row))})", [list(row.values())])
    run_rollup_job(connection, [dh_text(messages[0][1])])
    assert connection.execute("SELECT sum(readings) FROM sensor_hour").fetchone() == (before_rows[0] + 1,)


# ---- scan budgets at the seed's scale, from the partition layout and the SQL ----

PRICING_MODEL = yaml.safe_load((ROOT / "files" / "pricing.yml").read_text())["model"]
SEED_READINGS_PER_SECOND = 50_000
SEED_SENSORS = 50_000
SEED_ZONES = 500
CAP_BYTES = PRICING_MODEL["athena_cutoff_bytes"]  # the workgroups' BytesScannedCutoffPerQuery
SPICE_BUDGET = PRICING_MODEL["refresh_budget_bytes"]
ROLLUP_BUDGET = PRICING_MODEL["rollup_query_budget_share"] * CAP_BYTES
# Rows of the rollups are sized at the same pessimistic scale as raw readings (as the capacity plan does).
PESSIMISM = PRICING_MODEL["parquet_bytes_per_reading_pessimistic"] / PRICING_MODEL["parquet_bytes_per_reading"]


def partition_bytes(column: str, table: str) -> float:
    """Bytes in one partition that a filter on ``column`` selects: a raw hour (dh) or day (dt) at the pessimistic
    bytes per raw reading, or a day of a rollup's rows (its partitions are days of delivery_hour)."""
    raw_hour = SEED_READINGS_PER_SECOND * 3600 * PRICING_MODEL["parquet_bytes_per_reading_pessimistic"]
    if column == "dh":
        return raw_hour
    if column == "dt":
        return 24 * raw_hour
    rows_per_day = {
        "sensor_hour": SEED_SENSORS * 24 * PRICING_MODEL["sensor_hour_rows_per_sensor_hour"],
        "zone_window": SEED_ZONES * 1440 * PRICING_MODEL["zone_window_rows_per_zone_window"],
    }[table]
    return rows_per_day * PRICING_MODEL[f"{table}_row_bytes"] * PESSIMISM


def partitions_selected(condition: exp.Expression | None) -> tuple[str, float] | None:
    """(partition column, partitions) that a WHERE or ON condition selects, or None when it does not restrict one:
    ``dh = '<hour>'`` one hour; ``dt >= <today - N days>`` and ``delivery_hour >= <today - N days>`` N + 1 days;
    ``delivery_hour = <a timestamp>`` one day."""
    for part in condition.flatten() if isinstance(condition, exp.And) else [condition] if condition is not None else []:
        if not isinstance(part, (exp.EQ, exp.GTE)) or not isinstance(part.this, exp.Column):
            continue
        column = part.this.name
        if column not in ("dh", "dt", "delivery_hour"):
            continue
        if isinstance(part, exp.EQ) and not part.expression.find(exp.Column):
            return column, 1.0
        intervals = list(part.expression.find_all(exp.Interval))
        if isinstance(part, exp.GTE) and part.expression.find(exp.CurrentDate) is not None and len(intervals) == 1:
            assert intervals[0].unit.name.upper() == "DAY"
            return column, int(intervals[0].this.name) + 1.0
    return None


def scanned_bytes(sql: str) -> dict[str, float]:
    """Bytes each table read by ``sql`` contributes at the seed's scale (inf: no partition filter)."""
    tree = parse_sql(sql)
    named = {cte.alias for cte in tree.find_all(exp.CTE)}
    scans: dict[str, float] = {}
    for table in tree.find_all(exp.Table):
        if table.name in named:
            continue
        holder = table.parent
        condition = holder.args.get("on") if isinstance(holder, exp.Merge) else table.parent_select.args.get("where") if table.parent_select else None
        selected = partitions_selected(condition.this if isinstance(condition, exp.Where) else condition)
        if selected is None:
            scans[table.name] = math.inf
            continue
        column, count = selected
        scans[table.name] = scans.get(table.name, 0.0) + count * partition_bytes(column, table.name)
    return scans


def budget_problems(queries: dict[str, str]) -> list[str]:
    """Queries over their budget: a SPICE refresh 1 GB, a rollup MERGE 80 % of the cap, anything else the cap."""
    problems = []
    for key, sql in queries.items():
        total = sum(scanned_bytes(sql).values())
        budget = ROLLUP_BUDGET if key in ROLLUP_JOB else SPICE_BUDGET if CONTRACT.get(key, {}).get("import_mode") == "SPICE" else CAP_BYTES
        if total > budget:
            problems.append(f"{key} scans {total / 1e9:,.1f} GB at 50,000 readings/s, over its budget of {budget / 1e9:,.2f} GB")
    return problems


def test_every_query_stays_within_its_scan_budget_at_50000_readings_per_second(data_sets):
    queries = {key: options["custom_sql"] for key, options in data_sets.items()} | {key: rollup_statements()[key] for key in ROLLUP_JOB}
    assert budget_problems(queries) == []
    scans = {key: sum(scanned_bytes(sql).values()) for key, sql in queries.items()}
    assert 6e9 < scans["readings"] < 7e9  # one raw hour at 35 bytes a reading
    assert scans["merge_sensor_hour"] > scans["readings"]  # the raw hour and a day of its target
    assert all(scans[key] < 0.7e9 for key in ROLLUP_OF), scans


def test_the_template_caps_the_workgroups_where_the_budgets_assume():
    resources = yaml.safe_load(TEMPLATE_FILE.read_text())["Resources"]
    caps = [r["Properties"]["WorkGroupConfiguration"]["BytesScannedCutoffPerQuery"] for r in resources.values() if r["Type"] == "AWS::Athena::WorkGroup"]
    assert len(caps) >= 2 and set(caps) == {CAP_BYTES}, caps


def test_the_scan_budget_refuses_the_raw_reading_sql_of_before(before):
    """The SPICE data sets as they were (days of raw readings per refresh) fail the same check, each by far."""
    problems = budget_problems({key: before[key]["custom_sql"] for key in ROLLUP_OF})
    assert len(problems) == 3, problems
    for key in ROLLUP_OF:
        assert sum(scanned_bytes(before[key]["custom_sql"]).values()) > CAP_BYTES, key


@pytest.mark.parametrize("key", list(ROLLUP_OF))
def test_a_refresh_without_its_lookback_filter_breaks_the_budget(key, data_sets):
    tree = parse_sql(data_sets[key]["custom_sql"])
    next(iter(tree.find_all(exp.CTE))).this.set("where", None)
    assert budget_problems({key: tree.sql(dialect="trino")})
