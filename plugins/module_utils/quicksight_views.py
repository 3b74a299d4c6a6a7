# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The snake_case results that a QuickSight module and its ``_info`` module both return: a data source, the refresh
schedule and look-back window of a data set, the versions of a dashboard (with the fingerprint that
quicksight_dashboard writes into each version description), and permissions."""

from __future__ import annotations

import re

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

# quicksight_dashboard describes every version it makes as this prefix and the fingerprint of what it sent.
DESCRIPTION_PREFIX = "smartcity.iot_analytics definition "
DESCRIPTION = re.compile(re.escape(DESCRIPTION_PREFIX) + r"([0-9a-f]{16})")


def iso(value):
    """A timestamp as ISO 8601 text; anything else as it is."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def permissions_view(permissions):
    """``{principal ARN: actions}`` as the results' ``[{principal, actions}]``, sorted by principal (None stays None)."""
    if permissions is None:
        return None
    return [{"principal": arn, "actions": list(actions)} for arn, actions in sorted(permissions.items())]


# ---- data sources ----


def data_source_view(source, tags=None, permissions=None):
    """A DataSource (or a ListDataSources entry) in snake_case, with its tags (dict) and permissions ({principal:
    actions}) when they were read."""
    parameters = source.get("DataSourceParameters") or {}
    athena = parameters.get("AthenaParameters") or {}
    result = {
        "arn": source.get("Arn"),
        "data_source_id": source.get("DataSourceId"),
        "name": source.get("Name"),
        "type": source.get("Type"),
        "status": source.get("Status"),
        "workgroup": athena.get("WorkGroup"),
        "role_arn": athena.get("RoleArn"),
        "ssl": not (source.get("SslProperties") or {}).get("DisableSsl", False),
        "data_source_parameters": camel_dict_to_snake_dict(parameters),
        "created_time": iso(source.get("CreatedTime")),
        "last_updated_time": iso(source.get("LastUpdatedTime")),
    }
    if tags is not None:
        result["tags"] = dict(tags)
    if source.get("ErrorInfo"):
        result["error_info"] = camel_dict_to_snake_dict(source["ErrorInfo"])
    if permissions is not None:
        result["permissions"] = permissions_view(permissions)
    return result


# ---- data sets ----


def schedule_view(schedule):
    """A RefreshSchedule with the keys of quicksight_data_set's ``refresh_schedule`` option."""
    frequency = schedule.get("ScheduleFrequency") or {}
    on_day = frequency.get("RefreshOnDay") or {}
    return {
        "schedule_id": schedule.get("ScheduleId"),
        "interval": frequency.get("Interval"),
        "refresh_type": schedule.get("RefreshType"),
        "time_of_day": frequency.get("TimeOfTheDay"),
        "timezone": frequency.get("Timezone"),
        "day_of_week": on_day.get("DayOfWeek"),
        "day_of_month": on_day.get("DayOfMonth"),
    }


def incremental_view(properties):
    """The look-back window of DataSetRefreshProperties as ``{column, size, unit}``, or None when there is none."""
    window = ((properties or {}).get("RefreshConfiguration") or {}).get("IncrementalRefresh", {}).get("LookbackWindow")
    if not window:
        return None
    return {"column": window.get("ColumnName"), "size": window.get("Size"), "unit": window.get("SizeUnit")}


# ---- dashboards ----


def version_fingerprint(description):
    """The fingerprint in a version description that quicksight_dashboard wrote, or None."""
    found = DESCRIPTION.fullmatch(description or "")
    return found.group(1) if found else None


def dashboard_versions_view(published, versions):
    """The latest and the published version of a dashboard: ``published`` is DescribeDashboard's Version, ``versions``
    the version summaries sorted oldest first (without them, the latest is the published one)."""
    latest = versions[-1] if versions else published
    return {
        "version_number": latest.get("VersionNumber"),
        "version_status": latest.get("Status"),
        "fingerprint": version_fingerprint(latest.get("Description")),
        "published_version_number": published.get("VersionNumber"),
        "published_fingerprint": version_fingerprint(published.get("Description")),
    }
