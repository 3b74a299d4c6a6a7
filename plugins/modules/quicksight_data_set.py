#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: quicksight_data_set
short_description: Create, update and delete a QuickSight data set over a data source (custom SQL or a table), with its refresh
version_added: 0.1.0
description:
  - Manages one Amazon QuickSight data set with one physical table (id C(history)) read through a data source, either
    as custom SQL (O(custom_sql)) or as a table of a database (O(relational_table), for Athena a Glue database and
    table), and one logical table over it whose alias is the data set's name.
  - "The data set is compared with DescribeDataSet: its name, import mode, physical and logical table and dataset
    parameters. Only what is asked for counts (fields that QuickSight adds, such as column sub types, do not); a difference is sent as one
    UpdateDataSet, which replaces the whole definition (column groups, folders or row-level security added in the
    console are dropped)."
  - "With O(import_mode=SPICE), QuickSight copies the data into SPICE: creating (or updating) the data set starts an
    ingestion, returned in RV(data_set.ingestion); O(wait=true) waits until it has COMPLETED (at most
    O(wait_timeout) seconds). O(incremental_refresh) sets the data set's refresh properties (a look-back window on a
    DATETIME column) and O(refresh_schedule) one refresh schedule; both need SPICE. O(import_mode=DIRECT_QUERY)
    queries the source at every visual load."
  - "O(parameters) declares dataset parameters that O(custom_sql) references as C(<<$name>>), for example
    C(WHERE dh = <<$hour>>): with O(import_mode=DIRECT_QUERY), QuickSight puts the parameter's value into the SQL each
    time it queries the source, so every query of the data set is filtered on the value the analyst picked (an
    analysis or dashboard parameter mapped to the dataset parameter) or, without one, on the parameter's
    O(parameters[].default_values)."
  - Permissions for QuickSight users and groups (viewer or owner, or raw actions) are granted and revoked to match
    O(permissions); tags are set to match O(tags).
  - O(state=absent) deletes the data set (with its refresh schedules and properties). Dashboards that use it stop
    working.
  - The account id comes from STS. Credentials, region and endpoint come from the standard AWS options.
author:
  - Smart City Platform Team (@smartcity)
options:
  data_set_id:
    description:
      - The data set's id, unique in the account and region (1 to 2048 characters of C(a-z A-Z 0-9 _ -)).
    type: str
    required: true
  name:
    description:
      - The display name (1 to 128 characters). Defaults to O(data_set_id).
      - It is also the alias of the logical table (its first 64 characters) and the name of the custom SQL.
    type: str
  state:
    description:
      - V(present) makes sure the data set exists as described; V(absent) makes sure it does not. A data set that is
        already absent is not an error.
    type: str
    choices: [present, absent]
    default: present
  data_source_arn:
    description:
      - The ARN of the QuickSight data source the physical table reads through
        (C(arn:<partition>:quicksight:<region>:<account>:datasource/<id>)). Required with O(state=present).
    type: str
  import_mode:
    description:
      - V(SPICE) imports the data into SPICE (refreshed by ingestions); V(DIRECT_QUERY) queries the source each time.
    type: str
    choices: [SPICE, DIRECT_QUERY]
    default: SPICE
  custom_sql:
    description:
      - The SQL query of the physical table (1 to 65536 characters; trailing white space is dropped). One of
        O(custom_sql) and O(relational_table) is required with O(state=present).
    type: str
  relational_table:
    description:
      - A table of the data source as the physical table.
    type: dict
    suboptions:
      database:
        description: The database (schema) that holds the table; for Athena, the Glue database.
        type: str
        required: true
      table:
        description: The table's name.
        type: str
        required: true
      catalog:
        description: The catalog (for Athena, C(AwsDataCatalog)); left to QuickSight when not given.
        type: str
  columns:
    description:
      - The columns of the physical table (its input columns), in order. Required with O(state=present); names must be
        unique.
    type: list
    elements: dict
    suboptions:
      name:
        description: The column's name (1 to 128 characters), as the source returns it.
        type: str
        required: true
      type:
        description: The QuickSight input column type.
        type: str
        required: true
        choices: [STRING, INTEGER, DECIMAL, DATETIME, BIT, BOOLEAN, JSON]
  incremental_refresh:
    description:
      - "The data set's refresh properties for incremental refresh (needs V(SPICE)): each incremental refresh
        re-imports the rows whose O(incremental_refresh.column) lies in the look-back window."
      - Omitted, the refresh properties are left alone; V({}) removes them.
    type: dict
    suboptions:
      column:
        description: The DATETIME column of O(columns) the look-back window applies to.
        type: str
      size:
        description: The window's size, in O(incremental_refresh.unit) (at least 1).
        type: int
      unit:
        description: The window's unit.
        type: str
        choices: [HOUR, DAY, WEEK]
  refresh_schedule:
    description:
      - One refresh schedule of the data set (needs V(SPICE)), with id O(refresh_schedule.schedule_id).
      - Omitted, the data set's schedules are left alone (see O(purge_refresh_schedules)). V({}) (or only
        O(refresh_schedule.schedule_id)) deletes that schedule.
    type: dict
    suboptions:
      schedule_id:
        description: The schedule's id. Defaults to C(<data_set_id>-schedule).
        type: str
      interval:
        description:
          - How often it refreshes. V(MINUTE15) and V(MINUTE30) are for incremental refresh only (a QuickSight rule).
        type: str
        choices: [MINUTE15, MINUTE30, HOURLY, DAILY, WEEKLY, MONTHLY]
      refresh_type:
        description:
          - V(FULL_REFRESH) (the default) re-imports everything; V(INCREMENTAL_REFRESH) needs O(incremental_refresh).
        type: str
        choices: [FULL_REFRESH, INCREMENTAL_REFRESH]
      time_of_day:
        description: The time of day (C(HH:MM), 24 hours) of a daily, weekly or monthly refresh.
        type: str
      timezone:
        description: The time zone of O(refresh_schedule.time_of_day), a Java time zone id such as C(Europe/Berlin).
        type: str
      day_of_week:
        description: The day of a V(WEEKLY) refresh (required with it, only for it).
        type: str
        choices: [SUNDAY, MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY]
      day_of_month:
        description: The day of a V(MONTHLY) refresh, C(1) to C(28) or C(LAST_DAY_OF_MONTH) (required with it, only for it).
        type: str
  purge_refresh_schedules:
    description:
      - Delete the data set's refresh schedules other than O(refresh_schedule) (all of them when O(refresh_schedule) is
        omitted).
    type: bool
    default: false
  parameters:
    description:
      - The data set's dataset parameters (at most 32), each referenced in O(custom_sql) as C(<<$name>>) where its value
        goes. QuickSight substitutes the value as a literal of the parameter's type (the SQL writes no quotes around
        C(<<$name>>)); a multi-valued parameter becomes a list of values, for C(IN (<<$name>>)).
      - "Only with O(custom_sql) and O(import_mode=DIRECT_QUERY): QuickSight resolves the references each time it
        queries the source for a visual. A SPICE data set runs its SQL once per ingestion, when no analyst has picked
        a value, so the module refuses parameters with V(SPICE) (filter SPICE data in the analysis instead)."
      - Every reference in O(custom_sql) must name a parameter of this list, and every parameter must be referenced
        (this module's data sets have no other place that uses one); the task fails before any AWS call otherwise.
      - Each parameter's id is the UUID5 of its name, so that a re-run sends the same id; a parameter of the same name
        made in the console (another id) is replaced.
      - Omitted, the data set's parameters are left alone (an update keeps them); V([]) removes them.
      - "Analyses and dashboards let the analyst pick the value through an analysis parameter mapped to the dataset
        parameter (C(MappedDataSetParameters) of its parameter declaration, with the data set's identifier and this
        O(parameters[].name)) and a control on it."
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - "The parameter's name, as the SQL references it (C(<<$name>>)): 1 to 2048 ASCII letters and digits (QuickSight's
            rule, C(^[a-zA-Z0-9]+$)), no spaces, underscores or hyphens. Names are unique in the list."
        type: str
        required: true
      type:
        description: The parameter's value type.
        type: str
        choices: [STRING, INTEGER, DECIMAL, DATETIME]
        default: STRING
      multi_valued:
        description: Whether the parameter takes several values (C(MULTI_VALUED)) or one (C(SINGLE_VALUED)).
        type: bool
        default: false
      default_values:
        description:
          - The static default values (at most 32; at most one without O(parameters[].multi_valued)), used when no
            analysis parameter gives a value. Give one so that a visual has a value before the analyst picks one.
          - V(STRING) values are text of at most 512 characters; V(INTEGER) whole numbers; V(DECIMAL) numbers;
            V(DATETIME) ISO 8601 date-times such as C(2026-05-01T13:00:00Z) (without an offset, UTC; compared as the
            same instant whatever the offset).
        type: list
        elements: raw
      time_granularity:
        description:
          - The time granularity of a V(DATETIME) parameter (only for it). Omitted, QuickSight's (not compared).
        type: str
        choices: [YEAR, QUARTER, MONTH, WEEK, DAY, HOUR, MINUTE, SECOND, MILLISECOND]
  wait:
    description:
      - Wait until the ingestion that QuickSight starts when it creates or updates a SPICE data set has COMPLETED; a
        FAILED or CANCELLED ingestion fails the task with the ingestion's error.
    type: bool
    default: false
  # permissions, purge_permissions, tags, purge_tags, identity_region, namespace and wait_timeout: the doc fragments
  # smartcity.iot_analytics.quicksight and smartcity.iot_analytics.quicksight.wait_timeout, with this module's alias
  tags:
    aliases: [resource_tags]
notes:
  - Supports check mode and diff mode; the diff shows the name, import mode, SQL or table, columns, dataset
    parameters, refresh schedule, incremental refresh, permissions and tags before and after.
  - The refresh schedule and properties are read (and managed) only for SPICE data sets.
  - The result is computed from what was asked and what was read; after a change the task does not read the data set
    back.
attributes:
  check_mode:
    support: full
    description: In check mode nothing is created, changed or deleted; the result is the data set as it would be.
  diff_mode:
    support: full
    description: The diff shows the data set's definition, refresh, permissions and tags before and after.
extends_documentation_fragment:
  - smartcity.iot_analytics.quicksight
  - smartcity.iot_analytics.quicksight.wait_timeout
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Zone-hour aggregates in SPICE, refreshed incrementally every hour
  smartcity.iot_analytics.quicksight_data_set:
    data_set_id: smartcity-prod-zone-hourly
    name: Zone hourly
    data_source_arn: "{{ data_source.data_source.arn }}"
    import_mode: SPICE
    custom_sql: |
      SELECT zone, date_trunc('hour', reading_time) AS hour, avg(congestion_index) AS congestion_index
      FROM smartcity_iot_prod_history.telemetry
      GROUP BY 1, 2
    columns:
      - {name: zone, type: STRING}
      - {name: hour, type: DATETIME}
      - {name: congestion_index, type: DECIMAL}
    incremental_refresh: {column: hour, size: 1, unit: DAY}
    refresh_schedule: {interval: HOURLY, refresh_type: INCREMENTAL_REFRESH}
    permissions:
      - {principal: group/traffic-admins, level: owner}
      - {principal: group/traffic-viewers, level: viewer}
    tags:
      project: smartcity
    wait: true

- name: The history table itself, queried directly
  smartcity.iot_analytics.quicksight_data_set:
    data_set_id: smartcity-prod-readings
    name: Readings
    data_source_arn: "{{ data_source.data_source.arn }}"
    import_mode: DIRECT_QUERY
    relational_table:
      catalog: AwsDataCatalog
      database: smartcity_iot_prod_history
      table: telemetry
    columns:
      - {name: sensor_id, type: STRING}
      - {name: reading_time, type: DATETIME}

- name: Raw readings, queried directly, one hour at a time that the analyst picks
  smartcity.iot_analytics.quicksight_data_set:
    data_set_id: smartcity-prod-readings-hourly
    name: Readings of one hour
    data_source_arn: "{{ data_source.data_source.arn }}"
    import_mode: DIRECT_QUERY
    custom_sql: |
      SELECT sensor_id, zone, reading_time, vehicle_count
      FROM smartcity_iot_prod_history.telemetry
      WHERE dh = <<$hour>>
    columns:
      - {name: sensor_id, type: STRING}
      - {name: zone, type: STRING}
      - {name: reading_time, type: DATETIME}
      - {name: vehicle_count, type: INTEGER}
    parameters:
      - name: hour
        type: STRING
        default_values: ["2026-05-01-00"]

- name: Stop refreshing on a schedule (the data set stays)
  smartcity.iot_analytics.quicksight_data_set:
    data_set_id: smartcity-prod-zone-hourly
    data_source_arn: "{{ data_source.data_source.arn }}"
    custom_sql: "{{ zone_hourly_sql }}"
    columns: "{{ zone_hourly_columns }}"
    refresh_schedule: {}

- name: Delete a data set
  smartcity.iot_analytics.quicksight_data_set:
    data_set_id: smartcity-prod-zone-hourly
    state: absent
"""

RETURN = r"""
data_set:
  description: The data set after the task (in check mode, as it would be); empty after O(state=absent).
  returned: always
  type: dict
  contains:
    arn:
      description: The data set's ARN.
      type: str
      sample: arn:aws:quicksight:eu-west-1:123456789012:dataset/smartcity-prod-zone-hourly
    data_set_id:
      description: The data set's id.
      type: str
    name:
      description: The display name.
      type: str
    import_mode:
      description: C(SPICE) or C(DIRECT_QUERY).
      type: str
    columns:
      description: The physical table's input columns, C({name, type}).
      type: list
      elements: dict
      sample: [{"name": "zone", "type": "STRING"}]
    physical_table:
      description:
        - The physical table, snake_case, with one key C(custom_sql) (C(data_source_arn), C(name), C(sql_query),
          C(columns)) or C(relational_table) (C(data_source_arn), C(catalog), C(schema), C(name), C(input_columns)).
      type: dict
    refresh_schedule:
      description:
        - The refresh schedule with id O(refresh_schedule.schedule_id) (none when it does not exist or the data set is
          not SPICE), with the keys of O(refresh_schedule) and C(arn).
      type: dict
      sample: {"schedule_id": "smartcity-prod-zone-hourly-schedule", "interval": "HOURLY", "refresh_type": "INCREMENTAL_REFRESH"}
    parameters:
      description:
        - The dataset parameters, sorted by name, with the keys of O(parameters) and C(id); C(default_values) of a
          V(DATETIME) parameter as ISO 8601 text in UTC. Empty when there are none.
      type: list
      elements: dict
      sample: [{"name": "hour", "type": "STRING", "multi_valued": false, "default_values": ["2026-05-01-00"],
                "time_granularity": null, "id": "1f2b0f12-5865-5d2f-9fec-bbea88f9fcb3"}]
    incremental_refresh:
      description: The look-back window of the refresh properties, C({column, size, unit}) (none when not set).
      type: dict
      sample: {"column": "hour", "size": 1, "unit": "DAY"}
    permissions:
      description: The permissions, C({principal, actions}) by principal ARN.
      type: list
      elements: dict
    tags:
      description: The tags.
      type: dict
    ingestion:
      description:
        - The ingestion that QuickSight started when this task created or updated a SPICE data set (none otherwise).
          C(status), C(row_info) and C(error_info) are known after O(wait=true).
      type: dict
      contains:
        arn:
          description: The ingestion's ARN.
          type: str
        ingestion_id:
          description: The ingestion's id.
          type: str
        status:
          description: C(COMPLETED) after waiting; none without O(wait).
          type: str
        row_info:
          description: C(rows_ingested), C(rows_dropped), C(total_rows_in_dataset) after waiting.
          type: dict
        error_info:
          description: The ingestion's error (C(type), C(message)), if any.
          type: dict
"""

import math
import re
import uuid
from datetime import date, datetime, timezone

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight import (
    QuickSightError,
    QuickSightResource,
    account_info,
    differs,
    failed_step,
    permissions_and_tags,
    permissions_dict,
    principal_arn,
    quicksight_client,
    resource_id_error,
    sharing_spec,
    tags_dict,
    wait_for_status,
)
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight_views import incremental_view, permissions_view, schedule_view

PHYSICAL_TABLE_ID = "history"
COLUMN_TYPES = ["STRING", "INTEGER", "DECIMAL", "DATETIME", "BIT", "BOOLEAN", "JSON"]
INTERVALS = ["MINUTE15", "MINUTE30", "HOURLY", "DAILY", "WEEKLY", "MONTHLY"]
INCREMENTAL_ONLY_INTERVALS = ("MINUTE15", "MINUTE30")
DAYS = ["SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"]
LOOKBACK_UNITS = ["HOUR", "DAY", "WEEK"]
MAX_SQL = 65536
DATA_SOURCE_ARN = re.compile(r"arn:[\w-]+:quicksight:[\w-]+:\d{12}:datasource/[\w-]{1,2048}", re.ASCII)
TIME_OF_DAY = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
DAY_OF_MONTH = re.compile(r"LAST_DAY_OF_MONTH|[1-9]|1\d|2[0-8]")
# Dataset parameters: QuickSight's model (DatasetParameterList, DatasetParameterName, the *DatasetParameter shapes).
PARAMETER_KINDS = {
    "STRING": "StringDatasetParameter",
    "INTEGER": "IntegerDatasetParameter",
    "DECIMAL": "DecimalDatasetParameter",
    "DATETIME": "DateTimeDatasetParameter",
}
PARAMETER_TYPES = list(PARAMETER_KINDS)
TIME_GRANULARITIES = ["YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND", "MILLISECOND"]
PARAMETER_NAME = re.compile(r"[A-Za-z0-9]{1,2048}", re.ASCII)
# What QuickSight replaces in custom SQL; anything between the brackets, so that a malformed name is reported too.
PARAMETER_REFERENCE = re.compile(r"<<\$(.*?)>>")
MAX_PARAMETERS = 32
MAX_DEFAULT_VALUES = 32
MAX_STRING_VALUE = 512
LONG_RANGE = (-(2**63), 2**63 - 1)
# The ids are UUID5s of the parameter names in this namespace: the same name gives the same id on every run.
PARAMETER_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://galaxy.ansible.com/ui/repo/published/smartcity/iot_analytics/quicksight_data_set/parameters")


# ---- the options as plain data (pure: the tests and the definition files use these) ----


def is_empty(option, ignore=()):
    """True for ``{}`` (or a dict whose values are all None besides ``ignore``): the option asks for removal."""
    return isinstance(option, dict) and all(value is None for key, value in option.items() if key not in ignore)


def schedule_id(params):
    schedule = params.get("refresh_schedule") or {}
    return schedule.get("schedule_id") or f"{params['data_set_id']}-schedule"


def validate(params):
    """Every rule the options break, each naming the field; an empty list when they are valid. Tolerates missing keys
    (a definition file holds only some options) and applies the module's defaults."""
    errors = []
    problem = resource_id_error("data_set_id", params.get("data_set_id"))
    if problem:
        errors.append(problem)
    if params.get("state", "present") == "absent":
        return errors
    name = params.get("name")
    if name is not None and not 1 <= len(name) <= 128:
        errors.append(f"name: {len(name)} characters breaks the QuickSight rule: 1 to 128 characters")
    arn = params.get("data_source_arn")
    if not arn:
        errors.append("data_source_arn: required with state=present")
    elif not DATA_SOURCE_ARN.fullmatch(arn):
        errors.append(f"data_source_arn: {arn!r} is not a QuickSight data source ARN (arn:<partition>:quicksight:<region>:<account>:datasource/<id>)")
    import_mode = params.get("import_mode") or "SPICE"
    if import_mode not in ("SPICE", "DIRECT_QUERY"):
        errors.append(f"import_mode: {import_mode!r} must be SPICE or DIRECT_QUERY")
    errors.extend(source_errors(params))
    column_types = {}
    errors.extend(column_errors(params.get("columns"), column_types))
    incremental = params.get("incremental_refresh")
    has_incremental = incremental is not None and not is_empty(incremental)
    if has_incremental:
        errors.extend(incremental_errors(incremental, import_mode, column_types))
    schedule = params.get("refresh_schedule")
    if schedule is not None and not is_empty(schedule, ignore=("schedule_id",)):
        errors.extend(schedule_errors(schedule, import_mode, has_incremental))
    errors.extend(parameter_errors(params, import_mode))
    errors.extend(principal_errors(params.get("permissions")))
    return errors


def column_errors(columns, column_types):
    """The rules ``columns`` breaks; fills ``column_types`` (name -> type) for the incremental refresh's check."""
    errors = []
    if not columns:
        errors.append("columns: required with state=present and must list at least one column")
    for index, column in enumerate(columns or []):
        column_name, column_type = column.get("name"), column.get("type")
        if not column_name or len(column_name) > 128:
            errors.append(f"columns[{index}].name: must be 1 to 128 characters")
        elif column_name in column_types:
            errors.append(f"columns[{index}].name: {column_name!r} is listed twice; column names must be unique")
        if column_type not in COLUMN_TYPES:
            errors.append(f"columns[{index}].type: {column_type!r} must be one of {', '.join(COLUMN_TYPES)}")
        if column_name:
            column_types.setdefault(column_name, column_type)
    return errors


def principal_errors(entries):
    errors = []
    for index, entry in enumerate(entries or []):
        try:
            principal_arn(entry.get("principal") or "", "aws", "us-east-1", "000000000000")
        except ValueError as error:
            errors.append(f"permissions[{index}].principal: {str(error).removeprefix('permissions: ')}")
    return errors


def source_errors(params):
    sql, table = params.get("custom_sql"), params.get("relational_table")
    if sql is not None and table is not None:
        return ["custom_sql, relational_table: give one of them, not both"]
    if sql is None and table is None:
        return ["custom_sql, relational_table: one of them is required with state=present"]
    if sql is not None:
        if not sql.strip():
            return ["custom_sql: must not be empty"]
        if len(sql.rstrip()) > MAX_SQL:
            return [f"custom_sql: {len(sql.rstrip())} characters breaks the QuickSight rule: at most {MAX_SQL} characters"]
        return []
    errors = []
    for key, longest in (("database", 256), ("table", 256), ("catalog", 256)):
        value = table.get(key)
        if value is None and key == "catalog":
            continue
        if not value or len(value) > longest:
            errors.append(f"relational_table.{key}: must be 1 to {longest} characters")
    return errors


def parameter_references(sql):
    """The names that ``sql`` references as ``<<$name>>``, each once, in order of appearance."""
    return list(dict.fromkeys(PARAMETER_REFERENCE.findall(sql or "")))


def parameter_id(name):
    """The id of the dataset parameter ``name``: a UUID5, the same on every run."""
    return str(uuid.uuid5(PARAMETER_ID_NAMESPACE, name))


def default_value(parameter_type, value):
    """``value`` as the API takes it for a parameter of ``parameter_type``; raises ValueError saying what is wrong."""
    if parameter_type == "STRING":
        if not isinstance(value, str):
            raise ValueError(f"{value!r} must be text (quote it in YAML)")
        if len(value) > MAX_STRING_VALUE:
            raise ValueError(f"{len(value)} characters breaks the QuickSight rule: at most {MAX_STRING_VALUE} characters")
        return value
    if parameter_type == "INTEGER":
        number = value
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            number = int(value)
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValueError(f"{value!r} must be a whole number")
        if not LONG_RANGE[0] <= number <= LONG_RANGE[1]:
            raise ValueError(f"{value!r} is outside QuickSight's range of a long (-2**63 to 2**63 - 1)")
        return number
    if parameter_type == "DECIMAL":
        number = value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise ValueError(f"{value!r} must be a finite number")
        return float(number)
    return utc_datetime(value)


def utc_datetime(value):
    """An ISO 8601 date-time (text, or a date or datetime that YAML made of one) as an aware datetime in UTC; without
    an offset it is UTC. Raises ValueError."""
    moment = value
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"  # Python before 3.11 does not read Z
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date-time (such as 2026-05-01T13:00:00Z)") from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        moment = datetime(value.year, value.month, value.day)
    if not isinstance(moment, datetime):
        raise ValueError(f"{value!r} must be an ISO 8601 date-time (such as 2026-05-01T13:00:00Z)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def parameter_errors(params, import_mode):
    """The rules that ``parameters`` and the references of ``custom_sql`` break."""
    entries = params.get("parameters")
    sql = params.get("custom_sql")
    references = parameter_references(sql) if isinstance(sql, str) else []
    errors = []
    if entries is not None and not isinstance(entries, list):
        return [f"parameters: {entries!r} must be a list of parameters"]
    if entries and len(entries) > MAX_PARAMETERS:
        errors.append(f"parameters: {len(entries)} parameters breaks the QuickSight rule: at most {MAX_PARAMETERS} per data set")
    declared = {}
    for index, entry in enumerate(entries or []):
        errors.extend(one_parameter_errors(f"parameters[{index}]", entry, declared, index))
    for name in references:
        if not PARAMETER_NAME.fullmatch(name):
            errors.append(f"custom_sql: <<${name}>> is not a reference QuickSight resolves: a parameter name is 1 to 2048 letters and digits (A-Z a-z 0-9)")
        elif name not in declared:
            errors.append(f"custom_sql: references <<${name}>>, but parameters declares no parameter {name!r}")
    if not entries:
        return errors
    if params.get("relational_table") is not None and sql is None:
        errors.append("parameters: only custom_sql can use dataset parameters (as <<$name>>); a relational_table has no SQL to put them in")
        return errors
    if import_mode != "DIRECT_QUERY":
        errors.append(
            f"parameters: needs import_mode=DIRECT_QUERY, not {import_mode}: QuickSight puts a parameter's value into the custom SQL when it"
            " queries the source for a visual; a SPICE data set runs its SQL once per ingestion, when no analyst has picked a value"
        )
    for name, index in declared.items():
        if name not in references:
            errors.append(f"parameters[{index}].name: {name!r} is not referenced in custom_sql; write <<${name}>> where its value goes")
    return errors


def one_parameter_errors(field, entry, declared, index):
    """The rules one entry of ``parameters`` breaks; adds its name to ``declared`` (name -> index)."""
    if not isinstance(entry, dict):
        return [f"{field}: {entry!r} must be a dict with name, type, multi_valued, default_values and time_granularity"]
    errors = []
    name = entry.get("name")
    if not isinstance(name, str) or not PARAMETER_NAME.fullmatch(name):
        errors.append(f"{field}.name: {name!r} breaks the QuickSight rule: 1 to 2048 letters and digits (A-Z a-z 0-9), no spaces, underscores or hyphens")
    elif name in declared:
        errors.append(f"{field}.name: {name!r} is declared twice; parameter names must be unique")
    else:
        declared[name] = index
    parameter_type = entry.get("type") or "STRING"
    if parameter_type not in PARAMETER_KINDS:
        errors.append(f"{field}.type: {parameter_type!r} must be one of {', '.join(PARAMETER_TYPES)}")
    errors.extend(default_value_errors(f"{field}.default_values", entry.get("default_values"), parameter_type, entry.get("multi_valued")))
    granularity = entry.get("time_granularity")
    if granularity is not None:
        if parameter_type != "DATETIME":
            errors.append(f"{field}.time_granularity: only for type=DATETIME")
        elif granularity not in TIME_GRANULARITIES:
            errors.append(f"{field}.time_granularity: {granularity!r} must be one of {', '.join(TIME_GRANULARITIES)}")
    return errors


def default_value_errors(field, values, parameter_type, multi_valued):
    if values is None:
        return []
    if not isinstance(values, list):
        return [f"{field}: {values!r} must be a list"]
    errors = []
    if len(values) > MAX_DEFAULT_VALUES:
        errors.append(f"{field}: {len(values)} values breaks the QuickSight rule: at most {MAX_DEFAULT_VALUES}")
    if not multi_valued and len(values) > 1:
        errors.append(f"{field}: {len(values)} values, but a single-valued parameter (multi_valued=false) takes at most one")
    if parameter_type in PARAMETER_KINDS:
        for position, value in enumerate(values):
            try:
                default_value(parameter_type, value)
            except ValueError as error:
                errors.append(f"{field}[{position}]: {error} ({parameter_type} parameter)")
    return errors


def incremental_errors(incremental, import_mode, column_types):
    errors = []
    if import_mode != "SPICE":
        errors.append("incremental_refresh: needs import_mode=SPICE (DIRECT_QUERY data sets are not refreshed)")
    column = incremental.get("column")
    if not column:
        errors.append("incremental_refresh.column: required (a DATETIME column of columns)")
    elif column not in column_types:
        errors.append(f"incremental_refresh.column: {column!r} is not one of columns")
    elif column_types[column] != "DATETIME":
        errors.append(f"incremental_refresh.column: {column!r} is {column_types[column]}; the look-back window needs a DATETIME column")
    size = incremental.get("size")
    if size is None or not isinstance(size, int) or size < 1:
        errors.append(f"incremental_refresh.size: {size!r} must be a whole number of at least 1")
    if incremental.get("unit") not in LOOKBACK_UNITS:
        errors.append(f"incremental_refresh.unit: {incremental.get('unit')!r} must be one of {', '.join(LOOKBACK_UNITS)}")
    return errors


def schedule_errors(schedule, import_mode, has_incremental):
    errors = []
    if import_mode != "SPICE":
        errors.append("refresh_schedule: needs import_mode=SPICE (DIRECT_QUERY data sets are not refreshed)")
    interval = schedule.get("interval")
    refresh_type = schedule.get("refresh_type") or "FULL_REFRESH"
    if interval not in INTERVALS:
        errors.append(f"refresh_schedule.interval: {interval!r} must be one of {', '.join(INTERVALS)}")
    if refresh_type not in ("FULL_REFRESH", "INCREMENTAL_REFRESH"):
        errors.append(f"refresh_schedule.refresh_type: {refresh_type!r} must be FULL_REFRESH or INCREMENTAL_REFRESH")
    if refresh_type == "INCREMENTAL_REFRESH" and not has_incremental:
        errors.append("refresh_schedule.refresh_type: INCREMENTAL_REFRESH needs incremental_refresh (the look-back window)")
    if interval in INCREMENTAL_ONLY_INTERVALS and refresh_type != "INCREMENTAL_REFRESH":
        errors.append(f"refresh_schedule.interval: {interval} is only allowed with refresh_type=INCREMENTAL_REFRESH (a QuickSight rule)")
    day_of_week, day_of_month = schedule.get("day_of_week"), schedule.get("day_of_month")
    if interval == "WEEKLY" and not day_of_week:
        errors.append("refresh_schedule.day_of_week: required with interval=WEEKLY")
    if day_of_week and interval != "WEEKLY":
        errors.append("refresh_schedule.day_of_week: only for interval=WEEKLY")
    if day_of_week and day_of_week not in DAYS:
        errors.append(f"refresh_schedule.day_of_week: {day_of_week!r} must be one of {', '.join(DAYS)}")
    if interval == "MONTHLY" and not day_of_month:
        errors.append("refresh_schedule.day_of_month: required with interval=MONTHLY")
    if day_of_month and interval != "MONTHLY":
        errors.append("refresh_schedule.day_of_month: only for interval=MONTHLY")
    if day_of_month and not DAY_OF_MONTH.fullmatch(str(day_of_month)):
        errors.append(f"refresh_schedule.day_of_month: {day_of_month!r} must be 1 to 28 or LAST_DAY_OF_MONTH")
    time_of_day = schedule.get("time_of_day")
    if time_of_day and not TIME_OF_DAY.fullmatch(time_of_day):
        errors.append(f"refresh_schedule.time_of_day: {time_of_day!r} must be HH:MM (00:00 to 23:59)")
    return errors


def build_request(params, account_id, physical_table_id=PHYSICAL_TABLE_ID):
    """The CreateDataSet request (without Permissions and Tags) for the options; UpdateDataSet takes the same."""
    name = params.get("name") or params["data_set_id"]
    columns = [{"Name": column["name"], "Type": column["type"]} for column in params.get("columns") or []]
    if params.get("custom_sql") is not None:
        table = {"CustomSql": {"DataSourceArn": params["data_source_arn"], "Name": name, "SqlQuery": params["custom_sql"].rstrip(), "Columns": columns}}
    else:
        source = params["relational_table"]
        relational = {"DataSourceArn": params["data_source_arn"]}
        if source.get("catalog"):
            relational["Catalog"] = source["catalog"]
        relational.update(Schema=source["database"], Name=source["table"], InputColumns=columns)
        table = {"RelationalTable": relational}
    request = {
        "AwsAccountId": account_id,
        "DataSetId": params["data_set_id"],
        "Name": name,
        "PhysicalTableMap": {physical_table_id: table},
        "LogicalTableMap": {f"{physical_table_id}-logical": {"Alias": name[:64], "Source": {"PhysicalTableId": physical_table_id}}},
        "ImportMode": params.get("import_mode") or "SPICE",
    }
    parameters = build_parameters(params.get("parameters"))
    if parameters:
        request["DatasetParameters"] = parameters
    return request


def build_parameters(entries):
    """DatasetParameters from the ``parameters`` option, in its order (None when it is omitted or empty)."""
    parameters = []
    for entry in entries or []:
        parameter_type = entry.get("type") or "STRING"
        parameter = {"Id": parameter_id(entry["name"]), "Name": entry["name"], "ValueType": "MULTI_VALUED" if entry.get("multi_valued") else "SINGLE_VALUED"}
        if parameter_type == "DATETIME" and entry.get("time_granularity"):
            parameter["TimeGranularity"] = entry["time_granularity"]
        if entry.get("default_values"):
            parameter["DefaultValues"] = {"StaticValues": [default_value(parameter_type, value) for value in entry["default_values"]]}
        parameters.append({PARAMETER_KINDS[parameter_type]: parameter})
    return parameters or None


def build_refresh_properties(incremental):
    """DataSetRefreshProperties from ``incremental_refresh`` (None when it asks for none)."""
    if incremental is None or is_empty(incremental):
        return None
    window = {"ColumnName": incremental["column"], "Size": incremental["size"], "SizeUnit": incremental["unit"]}
    return {"RefreshConfiguration": {"IncrementalRefresh": {"LookbackWindow": window}}}


def build_schedule(params):
    """The RefreshSchedule from ``refresh_schedule`` (None when it asks for none)."""
    schedule = params.get("refresh_schedule")
    if schedule is None or is_empty(schedule, ignore=("schedule_id",)):
        return None
    frequency = {"Interval": schedule["interval"]}
    if schedule.get("time_of_day"):
        frequency["TimeOfTheDay"] = schedule["time_of_day"]
    if schedule.get("timezone"):
        frequency["Timezone"] = schedule["timezone"]
    if schedule.get("day_of_week"):
        frequency["RefreshOnDay"] = {"DayOfWeek": schedule["day_of_week"]}
    elif schedule.get("day_of_month"):
        frequency["RefreshOnDay"] = {"DayOfMonth": str(schedule["day_of_month"])}
    return {"ScheduleId": schedule_id(params), "ScheduleFrequency": frequency, "RefreshType": schedule.get("refresh_type") or "FULL_REFRESH"}


def data_set_differs(request, current):
    """Whether the data set must be updated: name, import mode, the physical/logical tables (same ids, and every
    field asked for has its value; fields that QuickSight adds do not count) or the dataset parameters."""
    if request["Name"] != current.get("Name") or request["ImportMode"] != current.get("ImportMode"):
        return True
    for key in ("PhysicalTableMap", "LogicalTableMap"):
        have = current.get(key) or {}
        if set(request[key]) != set(have) or differs(request[key], have):
            return True
    return parameters_differ(request.get("DatasetParameters"), current.get("DatasetParameters"))


def parameters_differ(wanted, current):
    """Whether the DatasetParameters ``current`` are not those ``wanted``: the same names, each with the same id, type,
    value type and default values (all of them, so that a default value taken away counts). Order does not count, nor
    a time granularity that is not asked for (QuickSight may set one)."""
    want = {view["name"]: view for view in parameters_view(wanted)}
    have = {view["name"]: view for view in parameters_view(current)}
    if set(want) != set(have):
        return True
    for name, view in want.items():
        if any(view[key] != have[name][key] for key in ("id", "type", "multi_valued", "default_values")):
            return True
        if view["time_granularity"] is not None and view["time_granularity"] != have[name]["time_granularity"]:
            return True
    return False


# ---- views (snake_case results and the diff) ----


def refresh_schedule_view(schedule):
    """The managed schedule as the result's ``refresh_schedule``: the option's keys, and ``arn`` when it is known."""
    if not schedule:
        return None
    view = schedule_view(schedule)
    if schedule.get("Arn"):
        view["arn"] = schedule["Arn"]
    return view


def parameters_view(parameters):
    """DatasetParameters as the result's ``parameters``: the option's keys and ``id``, sorted by name; DATETIME
    default values as ISO 8601 text in UTC."""
    views = []
    for entry in parameters or []:
        parameter_type = next((kind for kind, key in PARAMETER_KINDS.items() if key in entry), None)
        if parameter_type is None:
            continue  # a kind this module does not know (a newer API): not shown, and a difference if asked for
        parameter = entry[PARAMETER_KINDS[parameter_type]]
        values = ((parameter.get("DefaultValues") or {}).get("StaticValues")) or []
        views.append(
            {
                "name": parameter.get("Name"),
                "type": parameter_type,
                "multi_valued": parameter.get("ValueType") == "MULTI_VALUED",
                "default_values": [value_view(parameter_type, value) for value in values],
                "time_granularity": parameter.get("TimeGranularity"),
                "id": parameter.get("Id"),
            }
        )
    return sorted(views, key=lambda view: view["name"] or "")


def value_view(parameter_type, value):
    if parameter_type == "DATETIME":
        return utc_datetime(value).isoformat()
    if parameter_type == "DECIMAL":
        return float(value)
    if parameter_type == "INTEGER":
        return int(value)
    return value


def physical_spec(data_set):
    """(the physical table, its CustomSql or RelationalTable) of a DescribeDataSet result or a request."""
    tables = data_set.get("PhysicalTableMap") or {}
    table = tables.get(PHYSICAL_TABLE_ID) or next(iter(tables.values()), {})
    return table, table.get("CustomSql") or table.get("RelationalTable") or {}


def data_set_view(data_set, permissions, tags, schedule, properties, ingestion=None):
    table, spec = physical_spec(data_set)
    columns = spec.get("Columns") if "CustomSql" in table else spec.get("InputColumns")
    return {
        "arn": data_set.get("Arn"),
        "data_set_id": data_set.get("DataSetId"),
        "name": data_set.get("Name"),
        "import_mode": data_set.get("ImportMode"),
        "columns": [{"name": column.get("Name"), "type": column.get("Type")} for column in columns or []],
        "physical_table": camel_dict_to_snake_dict(table),
        "parameters": parameters_view(data_set.get("DatasetParameters")),
        "refresh_schedule": refresh_schedule_view(schedule),
        "incremental_refresh": incremental_view(properties),
        "permissions": permissions_view(permissions),
        "tags": tags,
        "ingestion": ingestion,
    }


def diff_view(view):
    if not view:
        return {}
    table = view["physical_table"]
    result = {"name": view["name"], "import_mode": view["import_mode"]}
    if "custom_sql" in table:
        result["custom_sql"] = table["custom_sql"].get("sql_query")
    else:
        relational = table.get("relational_table", {})
        result["relational_table"] = {"catalog": relational.get("catalog"), "database": relational.get("schema"), "table": relational.get("name")}
    result["columns"] = view["columns"]
    result["parameters"] = view["parameters"]
    result["refresh_schedule"] = view["refresh_schedule"]
    result["incremental_refresh"] = view["incremental_refresh"]
    if view.get("permissions") is not None:
        result["permissions"] = {entry["principal"]: entry["actions"] for entry in view["permissions"]}
    if view.get("tags") is not None:
        result["tags"] = view["tags"]
    return result


def ingestion_view(arn, ingestion_id, described=None):
    view = {"arn": arn, "ingestion_id": ingestion_id, "status": None, "row_info": None, "error_info": None}
    if described:
        view.update(
            status=described.get("IngestionStatus"),
            row_info=camel_dict_to_snake_dict(described["RowInfo"]) if described.get("RowInfo") else None,
            error_info=camel_dict_to_snake_dict(described["ErrorInfo"]) if described.get("ErrorInfo") else None,
        )
    return view


# ---- talking to QuickSight ----


class DataSets(QuickSightResource):
    RESOURCE_TYPE = "data_set"

    def __init__(self, module, client, account_id, partition):
        super().__init__(module, client, account_id, partition)
        self.data_set_id = self.params["data_set_id"]
        self.key = {"AwsAccountId": account_id, "DataSetId": self.data_set_id}

    def description(self, doing):
        return f"QuickSight data set {self.data_set_id!r}: {doing}"

    # ---- reading ----

    def describe(self):
        found = self.call("reading the data set", "describe_data_set", missing=True, **self.key)
        return found["DataSet"] if found else None

    def permissions(self):
        found = self.call("reading the data set's permissions", "describe_data_set_permissions", missing=True, **self.key)
        return permissions_dict((found or {}).get("Permissions"))

    def tag_list(self, arn):
        found = self.call("reading the data set's tags", "list_tags_for_resource", missing=True, ResourceArn=arn)
        return (found or {}).get("Tags", [])

    def refresh_properties(self):
        found = self.call("reading the data set's refresh properties", "describe_data_set_refresh_properties", missing=True, **self.key)
        properties = (found or {}).get("DataSetRefreshProperties")
        return properties if incremental_view(properties) else None

    def schedules(self):
        found = self.call("listing the data set's refresh schedules", "list_refresh_schedules", missing=True, **self.key)
        return (found or {}).get("RefreshSchedules", [])

    # ---- the two states ----

    def present(self):
        """(changed, before, after): the data set with the wanted definition, permissions, tags and refresh."""
        params = self.params
        request = build_request(params, self.account_id)
        current = self.describe()
        wanted_perms = self.requested_permissions()
        ingestion = None
        if current is None:
            before = None
            changed = True
            arn, ingestion = self.create(request, wanted_perms)
            perms_after = wanted_perms or {}
            tags_after = dict(params["tags"] or {})
            properties, schedules = None, []
        else:
            arn = current["Arn"]
            current_perms = self.permissions()
            current_tags = self.tag_list(arn)
            spice = current.get("ImportMode") == "SPICE"
            properties = self.refresh_properties() if spice else None
            schedules = self.schedules() if spice else []
            managed = self.find_schedule(schedules)
            before = data_set_view(current, current_perms, tags_dict(current_tags), managed, properties)
            if params["parameters"] is None and current.get("DatasetParameters"):
                # omitted: left alone, and UpdateDataSet replaces the whole definition, so an update sends them again
                request["DatasetParameters"] = current["DatasetParameters"]
            updated = data_set_differs(request, current)
            if updated:
                ingestion = self.update(request)
            else:
                request = current  # unchanged: the result shows it as QuickSight has it
            granted, perms_after = self.update_permissions(current_perms, wanted_perms)
            tagged, tags_after = self.update_tags(arn, current_tags)
            changed = updated or granted or tagged
        refreshed, properties, managed = self.update_refresh(properties, schedules)
        if ingestion and params["wait"] and not self.check:
            ingestion = self.wait(ingestion)
        return changed or refreshed, before, data_set_view(dict(request, Arn=arn), perms_after, tags_after, managed, properties, ingestion)

    def absent(self):
        """(changed, before, after): the data set deleted."""
        current = self.describe()
        if current is None:
            return False, None, None
        if not self.check:
            self.call("deleting the data set", "delete_data_set", missing=True, **self.key)
        return True, data_set_view(current, None, None, None, None), None

    # ---- changing ----

    def create(self, request, wanted_perms):
        if self.check:
            return self.predicted_arn("dataset", self.data_set_id), None
        created = self.call("creating the data set", "create_data_set", **request, **permissions_and_tags(wanted_perms, self.params["tags"]))
        return created.get("Arn") or self.predicted_arn("dataset", self.data_set_id), self.started_ingestion(created)

    def update(self, request):
        if self.check:
            return None
        return self.started_ingestion(self.call("updating the data set", "update_data_set", **request))

    @staticmethod
    def started_ingestion(response):
        if not response.get("IngestionId"):
            return None
        return ingestion_view(response.get("IngestionArn"), response["IngestionId"])

    def update_permissions(self, current, wanted):
        """(changed, the permissions after)."""
        return self.sync_permissions(
            lambda **changes: self.write("updating the data set's permissions", "update_data_set_permissions", **changes), current, wanted
        )

    def update_tags(self, arn, current_list):
        """(changed, the tags after)."""
        return self.sync_tags("tagging the data set", arn, current_list)

    def find_schedule(self, schedules):
        wanted_id = schedule_id(self.params)
        return next((schedule for schedule in schedules if schedule.get("ScheduleId") == wanted_id), None)

    def update_refresh(self, properties, schedules):
        """Refresh properties first (an incremental schedule needs them), then the schedules, and properties that go
        last (a schedule may still use them). Returns (changed, properties after, the managed schedule after)."""
        params = self.params
        option = params["incremental_refresh"]
        wanted_properties = build_refresh_properties(option)
        changed = False
        if wanted_properties and (properties is None or differs(wanted_properties, properties)):
            self.write("setting the data set's refresh properties", "put_data_set_refresh_properties", DataSetRefreshProperties=wanted_properties)
            properties, changed = wanted_properties, True
        managed = self.find_schedule(schedules)
        wanted_schedule = build_schedule(params)
        purge = params["purge_refresh_schedules"]
        for schedule in schedules:
            if schedule is managed:
                # given as {}: this schedule goes; omitted: it goes only with purge
                drop = wanted_schedule is None and (params["refresh_schedule"] is not None or purge)
            else:
                drop = purge
            if drop:
                self.write("deleting a refresh schedule", "delete_refresh_schedule", ScheduleId=schedule["ScheduleId"])
                changed = True
                if schedule is managed:
                    managed = None
        if wanted_schedule is not None and (managed is None or differs(wanted_schedule, managed)):
            if managed is None:
                written = self.write("creating the refresh schedule", "create_refresh_schedule", Schedule=wanted_schedule)
            else:
                written = self.write("updating the refresh schedule", "update_refresh_schedule", Schedule=wanted_schedule)
            changed = True
            arn = (written or {}).get("Arn") or (managed or {}).get("Arn")
            managed = dict(wanted_schedule, Arn=arn) if arn else dict(wanted_schedule)
        if option is not None and wanted_properties is None and properties is not None:
            self.write("removing the data set's refresh properties", "delete_data_set_refresh_properties")
            properties, changed = None, True
        return changed, properties, managed

    def write(self, doing, method, **kwargs):
        """One change of the data set (``method`` of the client, with its key); its response (None in check mode)."""
        if self.check:
            return None
        return self.call(doing, method, **self.key, **kwargs)

    def wait(self, ingestion):
        doing = f"waiting for the ingestion {ingestion['ingestion_id']}"

        def describe():
            return self.call(doing, "describe_ingestion", IngestionId=ingestion["ingestion_id"], **self.key)["Ingestion"]

        try:
            done = wait_for_status(
                describe,
                lambda found: found.get("IngestionStatus"),
                self.params["wait_timeout"],
                f"the ingestion {ingestion['ingestion_id']} of data set {self.data_set_id}",
                success=("COMPLETED",),
                failure=("FAILED", "CANCELLED"),
            )
        except QuickSightError as error:
            if error.exception is not None:
                raise  # an AWS error of describe_ingestion, described by it
            raise failed_step(self.description(doing), error) from error
        return ingestion_view(done.get("Arn") or ingestion["arn"], ingestion["ingestion_id"], done)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            data_set_id=dict(type="str", required=True),
            name=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            data_source_arn=dict(type="str"),
            import_mode=dict(type="str", choices=["SPICE", "DIRECT_QUERY"], default="SPICE"),
            custom_sql=dict(type="str"),
            relational_table=dict(
                type="dict",
                options=dict(database=dict(type="str", required=True), table=dict(type="str", required=True), catalog=dict(type="str")),
            ),
            columns=dict(
                type="list",
                elements="dict",
                options=dict(name=dict(type="str", required=True), type=dict(type="str", required=True, choices=COLUMN_TYPES)),
            ),
            incremental_refresh=dict(
                type="dict",
                options=dict(column=dict(type="str"), size=dict(type="int"), unit=dict(type="str", choices=LOOKBACK_UNITS)),
            ),
            refresh_schedule=dict(
                type="dict",
                options=dict(
                    schedule_id=dict(type="str"),
                    interval=dict(type="str", choices=INTERVALS),
                    refresh_type=dict(type="str", choices=["FULL_REFRESH", "INCREMENTAL_REFRESH"]),
                    time_of_day=dict(type="str"),
                    timezone=dict(type="str"),
                    day_of_week=dict(type="str", choices=DAYS),
                    day_of_month=dict(type="str"),
                ),
            ),
            parameters=dict(
                type="list",
                elements="dict",
                options=dict(
                    name=dict(type="str", required=True),
                    type=dict(type="str", choices=PARAMETER_TYPES, default="STRING"),
                    multi_valued=dict(type="bool", default=False),
                    default_values=dict(type="list", elements="raw"),
                    time_granularity=dict(type="str", choices=TIME_GRANULARITIES),
                ),
            ),
            purge_refresh_schedules=dict(type="bool", default=False),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=600),
            **sharing_spec(tag_aliases=["resource_tags"]),
        ),
        mutually_exclusive=[["custom_sql", "relational_table"]],
        supports_check_mode=True,
    )
    errors = validate(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors)
    account_id, partition = account_info(module)
    data_sets = DataSets(module, quicksight_client(module), account_id, partition)
    try:
        changed, before, after = data_sets.present() if module.params["state"] == "present" else data_sets.absent()
    except QuickSightError as error:
        module.fail_json_aws_error(error)
    result = {"changed": changed, "data_set": after or {}}
    if module._diff:
        result["diff"] = {"before": diff_view(before), "after": diff_view(after)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
