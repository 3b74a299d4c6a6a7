# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""QuickSight: Enterprise account, data sets, permissions and refresh (fix 19); dashboard versions and ingestions (20)."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any, Callable
from urllib.parse import unquote

from moto.core.exceptions import JsonRESTError
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random
from moto.quicksight import urls as quicksight_urls
from moto.quicksight.data_models import QuicksightAccountSettings, QuicksightDashboard, QuicksightDataSet
from moto.quicksight.exceptions import InvalidParameterValueException
from moto.quicksight.exceptions import ResourceNotFoundException as QuickSightNotFound
from moto.quicksight.models import QuickSightBackend
from moto.quicksight.responses import QuickSightResponse
from moto.utilities.utils import get_partition

from .registry import fix, patch, patch_item

_account_settings_init = QuicksightAccountSettings.__init__  # moto's
_ACCOUNT = r"{0}/accounts/(?P<account_id>[\d]+)"


def _route(paths: tuple[str, ...]) -> None:
    """moto's QuickSight routes for these paths (of botocore's QuickSight model), to QuickSightResponse.dispatch."""
    for path in paths:
        patch_item(quicksight_urls.url_paths, _ACCOUNT + path, QuickSightResponse.dispatch, "moto.quicksight.urls.url_paths")


# --- 19 -----------------------------------------------------------------------------------------------------------------
# (a) moto's account settings say Edition STANDARD; the collection needs groups, which only Enterprise has.
def account_settings_init(self: QuicksightAccountSettings, *args: Any, **kwargs: Any) -> None:
    """The local account is subscribed to QuickSight Enterprise edition."""
    _account_settings_init(self, *args, **kwargs)
    self.edition = "ENTERPRISE"


class ResourceExistsException(JsonRESTError):
    code = 409

    def __init__(self, message: str) -> None:
        super().__init__("ResourceExistsException", message)


# (b)-(d) moto routes only .../data-sets (CreateDataSet, which keeps the id and name; ListDataSets: HTTP 500) and the
# ingestion paths; every other data-set path and the permissions paths answer an HTML 404. AWS keeps a data set's whole
# definition, each resource's permissions (principal -> actions), and a SPICE data set's refresh properties and
# schedules. These routes (the paths of botocore's QuickSight model) and handlers do the same.
_PATHS_19 = (
    r"/data-sets/(?P<datasetid>[^/]+)$",
    r"/data-sets/(?P<datasetid>[^/]+)/permissions$",
    r"/data-sets/(?P<datasetid>[^/]+)/refresh-properties$",
    r"/data-sets/(?P<datasetid>[^/]+)/refresh-schedules$",
    r"/data-sets/(?P<datasetid>[^/]+)/refresh-schedules/(?P<scheduleid>[^/]+)$",
    r"/data-sources/(?P<datasourceid>[^/]+)/permissions$",
    r"/dashboards/(?P<dashboard_id>[^/]+)/permissions$",
)
# What DescribeDataSet returns of the CreateDataSet/UpdateDataSet request (Permissions, Tags and FolderArns are not in it).
_NOT_IN_DATA_SET = ("AwsAccountId", "Permissions", "Tags", "FolderArns")


def _store(backend: QuickSightBackend, name: str) -> dict[str, Any]:
    """A table of this launcher's on the backend: moto's reset (which clears the backend's __dict__) empties it."""
    return backend.__dict__.setdefault(f"compat_{name}", {})


def _uri(self: QuickSightResponse, name: str) -> str:
    return unquote(self.uri_match[name])


def _epoch(moment: datetime.datetime) -> float:
    return moment.timestamp()


def _data_set(self: QuickSightResponse) -> QuicksightDataSet:
    data_set_id = _uri(self, "DataSetId")
    data_set = self.quicksight_backend.data_sets.get(data_set_id)
    if data_set is None:
        raise QuickSightNotFound(f"Data set {data_set_id} not found")
    return data_set


def _ingestion(data_set: QuicksightDataSet) -> dict[str, str]:
    """SPICE: creating or updating a data set starts an ingestion (AWS returns its ARN and id)."""
    if data_set.definition.get("ImportMode") != "SPICE":
        return {}
    ingestion_id = str(mock_random.uuid4())
    return {"IngestionArn": f"{data_set.arn}/ingestion/{ingestion_id}", "IngestionId": ingestion_id}


def create_data_set(self: QuickSightResponse) -> Any:
    request = json.loads(self.body)
    backend = self.quicksight_backend
    data_set_id = request["DataSetId"]
    if data_set_id in backend.data_sets:
        raise ResourceExistsException(f"Data set {data_set_id} already exists")
    data_set = QuicksightDataSet(backend.account_id, backend.region_name, data_set_id, name=request["Name"])
    data_set.arn = f"arn:{get_partition(backend.region_name)}:quicksight:{backend.region_name}:{backend.account_id}:dataset/{data_set_id}"  # AWS's
    data_set.definition = {k: v for k, v in request.items() if k not in _NOT_IN_DATA_SET}
    data_set.created = data_set.updated = utcnow()
    backend.data_sets[data_set_id] = data_set
    if request.get("Tags"):
        backend.tagger.tag_resource(data_set.arn, request["Tags"])
    _store(backend, "permissions")[data_set.arn] = _granted([], request.get("Permissions") or [], [])
    return 201, {"status": 201}, json.dumps({"Arn": data_set.arn, "DataSetId": data_set_id, **_ingestion(data_set), "RequestId": "request_id"})


def describe_data_set(self: QuickSightResponse) -> str:
    data_set = _data_set(self)
    described = {"Arn": data_set.arn, **data_set.definition, "CreatedTime": _epoch(data_set.created), "LastUpdatedTime": _epoch(data_set.updated)}
    if described.get("ImportMode") == "SPICE":
        described["ConsumedSpiceCapacityInBytes"] = 0  # nothing is ever ingested here
    return json.dumps({"DataSet": described, "RequestId": "request_id"})


def update_data_set(self: QuickSightResponse) -> str:
    """AWS's UpdateDataSet replaces the definition: what the request leaves out is gone."""
    data_set = _data_set(self)
    request = json.loads(self.body)
    data_set.definition = {"DataSetId": data_set._id, **{k: v for k, v in request.items() if k not in _NOT_IN_DATA_SET}}
    data_set.name, data_set.updated = request["Name"], utcnow()
    return json.dumps({"Arn": data_set.arn, "DataSetId": data_set._id, **_ingestion(data_set), "RequestId": "request_id"})


def delete_data_set(self: QuickSightResponse) -> str:
    data_set = _data_set(self)
    backend = self.quicksight_backend
    del backend.data_sets[data_set._id]
    backend.tagger.delete_all_tags_for_resource(data_set.arn)
    for table in ("permissions", "refresh_properties", "refresh_schedules"):
        _store(backend, table).pop(data_set.arn, None)
    return json.dumps({"Arn": data_set.arn, "DataSetId": data_set._id, "RequestId": "request_id"})


def list_data_sets(self: QuickSightResponse) -> str:
    """One page, as fix 15 does."""
    summaries = [
        {
            "Arn": d.arn,
            "DataSetId": d._id,
            "Name": d.name,
            "CreatedTime": _epoch(d.created),
            "LastUpdatedTime": _epoch(d.updated),
            "ImportMode": d.definition.get("ImportMode"),
            "RowLevelPermissionTagConfigurationApplied": "RowLevelPermissionTagConfiguration" in d.definition,
            "ColumnLevelPermissionRulesApplied": bool(d.definition.get("ColumnLevelPermissionRules")),
        }
        for d in self.quicksight_backend.data_sets.values()
    ]
    return json.dumps({"DataSetSummaries": summaries, "RequestId": "request_id"})


# (c) Permissions: one table keyed by resource ARN, filled by the Create* calls' Permissions.
def _granted(current: list[dict[str, Any]], grant: list[dict[str, Any]], revoke: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """AWS's Update*Permissions: GrantPermissions adds actions to a principal, RevokePermissions removes them."""
    actions: dict[str, set[str]] = {p["Principal"]: set(p["Actions"]) for p in current}
    for permission in grant:
        actions.setdefault(permission["Principal"], set()).update(permission["Actions"])
    for permission in revoke:
        actions.get(permission["Principal"], set()).difference_update(permission["Actions"])
    return [{"Principal": principal, "Actions": sorted(granted)} for principal, granted in actions.items() if granted]


def _permissions_resource(self: QuickSightResponse, kind: str) -> tuple[str, str]:
    """(id, ARN) of the data source, data set or dashboard the request names; ResourceNotFoundException if absent."""
    if kind == "DataSet":
        data_set = _data_set(self)
        return data_set._id, data_set.arn
    resource_id = _uri(self, f"{kind}Id")
    found = (self.quicksight_backend.data_sources if kind == "DataSource" else self.quicksight_backend.dashboards).get(resource_id)
    if found is None:
        raise QuickSightNotFound(f"{kind} {resource_id} not found")
    return resource_id, found.arn


def _describing_permissions(kind: str) -> Callable[[QuickSightResponse], str]:
    def describe_permissions(self: QuickSightResponse) -> str:
        resource_id, arn = _permissions_resource(self, kind)
        permissions = _store(self.quicksight_backend, "permissions").get(arn, [])
        return json.dumps({f"{kind}Id": resource_id, f"{kind}Arn": arn, "Permissions": permissions, "RequestId": "request_id"})

    return describe_permissions


def _updating_permissions(kind: str) -> Callable[[QuickSightResponse], str]:
    def update_permissions(self: QuickSightResponse) -> str:
        resource_id, arn = _permissions_resource(self, kind)
        request = json.loads(self.body or "{}")
        table = _store(self.quicksight_backend, "permissions")
        table[arn] = _granted(table.get(arn, []), request.get("GrantPermissions") or [], request.get("RevokePermissions") or [])
        answer = {f"{kind}Id": resource_id, f"{kind}Arn": arn, "RequestId": "request_id"}
        if kind == "Dashboard":
            answer["Permissions"] = table[arn]  # UpdateDashboardPermissions (only) returns them
        return json.dumps(answer)

    return update_permissions


def _recording_permissions(create: Callable[[QuickSightResponse], Any], kind: str) -> Callable[[QuickSightResponse], Any]:
    """moto's CreateDataSource/CreateDashboard, which drop the request's Permissions: they are kept here."""

    def created(self: QuickSightResponse) -> Any:
        response = create(self)
        resource_id = self._get_param(f"{kind}Id")
        found = (self.quicksight_backend.data_sources if kind == "DataSource" else self.quicksight_backend.dashboards)[resource_id]
        _store(self.quicksight_backend, "permissions")[found.arn] = _granted([], self._get_param("Permissions") or [], [])
        return response

    created.__name__ = create.__name__
    return created


# (d) Refresh properties and schedules of a data set.
def _refreshable(self: QuickSightResponse) -> QuicksightDataSet:
    data_set = _data_set(self)
    if data_set.definition.get("ImportMode") != "SPICE":  # AWS's answer for a DIRECT_QUERY data set
        raise InvalidParameterValueException(f"The dataset {data_set._id} is not a SPICE dataset and is not supported for incremental refresh.")
    return data_set


def describe_data_set_refresh_properties(self: QuickSightResponse) -> str:
    data_set = _refreshable(self)
    properties = _store(self.quicksight_backend, "refresh_properties").get(data_set.arn)
    if properties is None:
        raise QuickSightNotFound(f"Refresh properties of data set {data_set._id} not found")
    return json.dumps({"DataSetRefreshProperties": properties, "RequestId": "request_id"})


def put_data_set_refresh_properties(self: QuickSightResponse) -> str:
    data_set = _refreshable(self)
    _store(self.quicksight_backend, "refresh_properties")[data_set.arn] = json.loads(self.body)["DataSetRefreshProperties"]
    return json.dumps({"RequestId": "request_id"})


def delete_data_set_refresh_properties(self: QuickSightResponse) -> str:
    data_set = _data_set(self)
    if _store(self.quicksight_backend, "refresh_properties").pop(data_set.arn, None) is None:
        raise QuickSightNotFound(f"Refresh properties of data set {data_set._id} not found")
    return json.dumps({"RequestId": "request_id"})


def _schedules(self: QuickSightResponse) -> tuple[QuicksightDataSet, dict[str, dict[str, Any]]]:
    data_set = _data_set(self)
    return data_set, _store(self.quicksight_backend, "refresh_schedules").setdefault(data_set.arn, {})


def _schedule_answer(data_set: QuicksightDataSet, schedule_id: str) -> str:
    return json.dumps({"ScheduleId": schedule_id, "Arn": f"{data_set.arn}/refresh-schedule/{schedule_id}", "RequestId": "request_id"})


def create_refresh_schedule(self: QuickSightResponse) -> str:
    data_set, schedules = _schedules(self)
    schedule = json.loads(self.body)["Schedule"]
    if schedule["ScheduleId"] in schedules:
        raise ResourceExistsException(f"Refresh schedule {schedule['ScheduleId']} already exists")
    schedules[schedule["ScheduleId"]] = {**schedule, "Arn": f"{data_set.arn}/refresh-schedule/{schedule['ScheduleId']}"}
    return _schedule_answer(data_set, schedule["ScheduleId"])


def update_refresh_schedule(self: QuickSightResponse) -> str:
    data_set, schedules = _schedules(self)
    schedule = json.loads(self.body)["Schedule"]
    if schedule["ScheduleId"] not in schedules:
        raise QuickSightNotFound(f"Refresh schedule {schedule['ScheduleId']} not found")
    schedules[schedule["ScheduleId"]] = {**schedule, "Arn": f"{data_set.arn}/refresh-schedule/{schedule['ScheduleId']}"}
    return _schedule_answer(data_set, schedule["ScheduleId"])


def _known_schedule(self: QuickSightResponse) -> tuple[QuicksightDataSet, dict[str, dict[str, Any]], str]:
    data_set, schedules = _schedules(self)
    schedule_id = _uri(self, "ScheduleId")
    if schedule_id not in schedules:
        raise QuickSightNotFound(f"Refresh schedule {schedule_id} not found")
    return data_set, schedules, schedule_id


def describe_refresh_schedule(self: QuickSightResponse) -> str:
    _data_set, schedules, schedule_id = _known_schedule(self)
    return json.dumps({"RefreshSchedule": schedules[schedule_id], "Arn": schedules[schedule_id]["Arn"], "RequestId": "request_id"})


def delete_refresh_schedule(self: QuickSightResponse) -> str:
    data_set, schedules, schedule_id = _known_schedule(self)
    del schedules[schedule_id]
    return _schedule_answer(data_set, schedule_id)


def list_refresh_schedules(self: QuickSightResponse) -> str:
    _data_set, schedules = _schedules(self)
    return json.dumps({"RefreshSchedules": list(schedules.values()), "RequestId": "request_id"})


@fix(19)
def quicksight_enterprise_data_sets_permissions_and_refresh() -> None:
    """QuickSight: an Enterprise account; data sets, permissions and refresh kept and answered as AWS does.

    moto: (a) DescribeAccountSettings says Edition STANDARD, and the collection needs groups, which only Enterprise
    edition has; (b) DescribeDataSet, UpdateDataSet, DeleteDataSet and ListDataSets have no route (an HTML 404) and
    CreateDataSet keeps only the id and name; (c) no *Permissions call of data sources, data sets or dashboards exists;
    (d) nor do a data set's refresh properties and schedules. Data set ARNs are data-set/ID; ResourceNotFoundException
    is HTTP 400.
    AWS: keeps a data set's whole definition, each resource's permissions (principal -> actions), and a SPICE data
    set's refresh properties and schedules; data set ARNs are dataset/ID; ResourceNotFoundException is HTTP 404,
    ResourceExistsException (409) an id in use, InvalidParameterValueException refresh properties of a DIRECT_QUERY
    data set.
    Fix: the local account is an Enterprise one, and these calls keep what they are sent and answer as AWS documents
    them.
    """
    patch(QuicksightAccountSettings, "__init__", account_settings_init)
    patch(QuickSightNotFound, "code", 404)  # AWS answers ResourceNotFoundException with HTTP 404 (moto: 400)
    _route(_PATHS_19)
    patch(QuickSightResponse, "create_data_source", _recording_permissions(QuickSightResponse.create_data_source, "DataSource"))
    patch(QuickSightResponse, "create_dashboard", _recording_permissions(QuickSightResponse.create_dashboard, "Dashboard"))
    for handler in (create_data_set, describe_data_set, update_data_set, delete_data_set, list_data_sets, describe_data_set_refresh_properties,
                    put_data_set_refresh_properties, delete_data_set_refresh_properties, create_refresh_schedule, update_refresh_schedule,
                    describe_refresh_schedule, delete_refresh_schedule, list_refresh_schedules):
        patch(QuickSightResponse, handler.__name__, handler)
    for kind, snake in (("DataSource", "data_source"), ("DataSet", "data_set"), ("Dashboard", "dashboard")):
        patch(QuickSightResponse, f"describe_{snake}_permissions", _describing_permissions(kind))
        patch(QuickSightResponse, f"update_{snake}_permissions", _updating_permissions(kind))


# --- 20 -----------------------------------------------------------------------------------------------------------------
# moto keeps one version of a dashboard (CreateDashboard's Name, VersionDescription and ThemeArn, not its DataSetArns or
# Sheets), answers UpdateDashboard, DeleteDashboard and DescribeIngestion with HTTP 500 and has no route for the versions
# list, the definition or the published version. AWS keeps every version with the request that made it (Name, Definition,
# DashboardPublishOptions, ThemeArn), shows the published one unless asked for another, and creates a version with every
# UpdateDashboard without publishing it. moto already routes .../dashboards/ID (so UpdateDashboard and DeleteDashboard
# need only handlers) and .../data-sets/ID/ingestions/ID; these are the other paths of botocore's model.
_PATHS_20 = (
    r"/dashboards/(?P<dashboard_id>[^/]+)/versions$",
    r"/dashboards/(?P<dashboard_id>[^/]+)/versions/(?P<version_number>[^/]+)$",
    r"/dashboards/(?P<dashboard_id>[^/]+)/definition$",
)


class ConflictException(JsonRESTError):
    code = 409

    def __init__(self, message: str) -> None:
        super().__init__("ConflictException", message)


def _dashboard(self: QuickSightResponse) -> QuicksightDashboard:
    dashboard_id = _uri(self, "DashboardId")
    dashboard = self.quicksight_backend.dashboards.get(dashboard_id)
    if dashboard is None:
        raise QuickSightNotFound(f"Dashboard {dashboard_id} not found")  # moto's wording
    return dashboard


def _history(dashboard: QuicksightDashboard) -> dict[str, Any]:
    """A dashboard's versions (number -> {"version": DashboardVersion, "source": what made it}), the published one and
    its times; kept on moto's dashboard object, so it goes with it."""
    return dashboard.__dict__.setdefault("compat_history", {"versions": {}, "last": 0, "published": None})


def _add_version(dashboard: QuicksightDashboard, request: dict[str, Any]) -> dict[str, Any]:
    """A new version from a CreateDashboard/UpdateDashboard request; built at once (this endpoint validates nothing)."""
    history = _history(dashboard)
    history["last"] += 1  # as on AWS, a deleted version's number is not given again
    number, now = history["last"], time.time()
    definition = request.get("Definition") or {}
    template = (request.get("SourceEntity") or {}).get("SourceTemplate") or {}
    declared = definition.get("DataSetIdentifierDeclarations") or template.get("DataSetReferences") or []
    version = {
        "VersionNumber": number,
        "Status": "CREATION_SUCCESSFUL",
        "Arn": f"{dashboard.arn}/version/{number}",
        "CreatedTime": now,
        "Errors": [],
        "DataSetArns": [entry["DataSetArn"] for entry in declared if "DataSetArn" in entry],
        "Sheets": [{k: sheet[k] for k in ("SheetId", "Name") if k in sheet} for sheet in definition.get("Sheets") or []],
        "Description": request.get("VersionDescription"),
        "ThemeArn": request.get("ThemeArn"),
        "SourceEntityArn": template.get("Arn"),
    }
    source = {k: request.get(k) for k in ("Name", "Definition", "DashboardPublishOptions", "ThemeArn")}
    history["versions"][number] = {"version": {k: v for k, v in version.items() if v is not None}, "source": source}
    history["updated"] = now
    return history["versions"][number]


def _publish(dashboard: QuicksightDashboard, number: int) -> None:
    history = _history(dashboard)
    history["published"], history["published_time"] = number, time.time()
    dashboard.name, dashboard.version_number = history["versions"][number]["source"]["Name"], number  # what moto's own code shows


def _version_number(self: QuickSightResponse) -> int | None:
    """The VersionNumber of the request: in the path (UpdateDashboardPublishedVersion) or the query string (version-number)."""
    given = self.uri_match.get("VersionNumber") or self.querystring.get("version-number", [None])[0]
    if given is None:
        return None
    try:
        return int(given)
    except ValueError:
        raise InvalidParameterValueException(f"VersionNumber {given!r} is not a number") from None


def _version(dashboard: QuicksightDashboard, number: int | None = None) -> dict[str, Any]:
    """Version ``number`` of the dashboard (ResourceNotFoundException if it has none such); None: the published one,
    as DescribeDashboard and DescribeDashboardDefinition without VersionNumber answer on AWS."""
    history = _history(dashboard)
    number = history["published"] if number is None else number
    if number not in history["versions"]:
        raise QuickSightNotFound(f"Version {number} of dashboard {dashboard.dashboard_id} not found")
    return history["versions"][number]


def _creating_dashboard(create: Callable[[QuickSightResponse], Any]) -> Callable[[QuickSightResponse], Any]:
    """CreateDashboard that refuses an id in use and keeps the first version, around ``create`` (moto's, as fix 19 wraps
    it, keeping the Permissions)."""

    def create_dashboard(self: QuickSightResponse) -> Any:
        dashboard_id = self._get_param("DashboardId")
        if dashboard_id in self.quicksight_backend.dashboards:
            raise ResourceExistsException(f"Dashboard {dashboard_id} already exists")  # moto: replaced without a word
        create(self)  # moto's, with fix 19's permissions; its tags
        dashboard = self.quicksight_backend.dashboards[dashboard_id]
        made = _add_version(dashboard, json.loads(self.body))
        _publish(dashboard, 1)  # QuickSight publishes a new dashboard's first version
        _history(dashboard)["created"] = _history(dashboard)["published_time"] = made["version"]["CreatedTime"]
        return _version_answer(dashboard, made)

    return create_dashboard


def _version_answer(dashboard: QuicksightDashboard, made: dict[str, Any]) -> Any:
    """CreateDashboard's and UpdateDashboard's answer: 202 Accepted, as AWS (the version is built asynchronously there).
    UpdateDashboard's model reads Status from the body, CreateDashboard's from the HTTP status: both are given."""
    answer = {"Arn": dashboard.arn, "VersionArn": made["version"]["Arn"], "DashboardId": dashboard.dashboard_id,
              "CreationStatus": made["version"]["Status"], "Status": 202, "RequestId": "request_id"}
    return 202, {"status": 202}, json.dumps(answer)


def update_dashboard(self: QuickSightResponse) -> Any:
    """A new version, not published (UpdateDashboardPublishedVersion does that)."""
    dashboard = _dashboard(self)
    return _version_answer(dashboard, _add_version(dashboard, json.loads(self.body)))


def _described(dashboard: QuicksightDashboard, kept: dict[str, Any]) -> dict[str, Any]:
    history = _history(dashboard)
    return {
        "DashboardId": dashboard.dashboard_id,
        "Arn": dashboard.arn,
        "Name": kept["source"]["Name"],  # each version has its own (AWS: DescribeDashboard of an older version shows its name)
        "Version": kept["version"],
        "CreatedTime": history["created"],
        "LastPublishedTime": history["published_time"],
        "LastUpdatedTime": history["updated"],
    }


def describe_dashboard(self: QuickSightResponse) -> str:
    dashboard = _dashboard(self)
    return json.dumps({"Dashboard": _described(dashboard, _version(dashboard, _version_number(self))), "RequestId": "request_id"})


def describe_dashboard_definition(self: QuickSightResponse) -> str:
    dashboard = _dashboard(self)
    kept = _version(dashboard, _version_number(self))
    answer = {
        "DashboardId": dashboard.dashboard_id,
        "Name": kept["source"]["Name"],
        "Errors": kept["version"]["Errors"],
        "ResourceStatus": kept["version"]["Status"],
        **{k: v for k, v in kept["source"].items() if k != "Name" and v is not None},
        "RequestId": "request_id",
    }
    return json.dumps(answer)


def list_dashboard_versions(self: QuickSightResponse) -> str:
    """One page, as fix 15 does."""
    history = _history(_dashboard(self))
    fields = ("Arn", "CreatedTime", "VersionNumber", "Status", "SourceEntityArn", "Description")
    versions = [history["versions"][number]["version"] for number in sorted(history["versions"])]
    summaries = [{k: version[k] for k in fields if k in version} for version in versions]
    return json.dumps({"DashboardVersionSummaryList": summaries, "RequestId": "request_id"})


def update_dashboard_published_version(self: QuickSightResponse) -> str:
    dashboard = _dashboard(self)
    number = _version_number(self)
    _version(dashboard, number)  # an unknown version: ResourceNotFoundException
    _publish(dashboard, number)  # type: ignore[arg-type]  # in the path: never None (LastUpdatedTime stays, as on AWS)
    return json.dumps({"DashboardId": dashboard.dashboard_id, "DashboardArn": dashboard.arn, "RequestId": "request_id"})


def list_dashboards(self: QuickSightResponse) -> str:
    """One page; the name and number of each dashboard's published version."""
    summaries = []
    for dashboard in self.quicksight_backend.dashboards.values():
        described = _described(dashboard, _version(dashboard))
        summaries.append({"Arn": dashboard.arn, "DashboardId": dashboard.dashboard_id, "Name": described["Name"],
                          "PublishedVersionNumber": described["Version"]["VersionNumber"],
                          **{k: described[k] for k in ("CreatedTime", "LastUpdatedTime", "LastPublishedTime")}})
    return json.dumps({"DashboardSummaryList": summaries, "RequestId": "request_id"})


def delete_dashboard(self: QuickSightResponse) -> str:
    """The dashboard with its versions, permissions and tags; with VersionNumber only that version."""
    dashboard = _dashboard(self)
    backend = self.quicksight_backend
    number = _version_number(self)
    if number is not None:
        _version(dashboard, number)
        history = _history(dashboard)
        if number == history["published"]:  # AWS documents no answer for this; its ConflictException says "inconsistent state"
            raise ConflictException(f"Version {number} of dashboard {dashboard.dashboard_id} is published: publish another version first")
        del history["versions"][number]
    else:
        del backend.dashboards[dashboard.dashboard_id]
        backend.tagger.delete_all_tags_for_resource(dashboard.arn)
        _store(backend, "permissions").pop(dashboard.arn, None)
    return json.dumps({"Arn": dashboard.arn, "DashboardId": dashboard.dashboard_id, "RequestId": "request_id"})


# Ingestions: the SPICE CreateDataSet/UpdateDataSet of fix 19 and CreateIngestion start one; it is COMPLETED at once, of
# no rows (this endpoint runs no queries). Kept on moto's data set object, so they go with it.
def _ingestions(data_set: QuicksightDataSet) -> dict[str, dict[str, Any]]:
    return data_set.__dict__.setdefault("compat_ingestions", {})


def _record_ingestion(data_set: QuicksightDataSet, arn: str, ingestion_id: str, request_type: str) -> None:
    _ingestions(data_set)[ingestion_id] = {
        "Arn": arn,
        "IngestionId": ingestion_id,
        "IngestionStatus": "COMPLETED",
        "RowInfo": {"RowsIngested": 0, "RowsDropped": 0, "TotalRowsInDataset": 0},
        "CreatedTime": time.time(),
        "IngestionTimeInSeconds": 0,
        "IngestionSizeInBytes": 0,
        "RequestSource": "MANUAL",
        "RequestType": request_type,
    }


def _recording_ingestion(handler: Callable[[QuickSightResponse], Any], request_type: str) -> Callable[[QuickSightResponse], Any]:
    """Fix 19's CreateDataSet/UpdateDataSet, whose answer names the ingestion they start (SPICE): it is recorded."""

    def handled(self: QuickSightResponse) -> Any:
        response = handler(self)
        answer = json.loads(response[2] if isinstance(response, tuple) else response)
        if answer.get("IngestionId"):
            data_set = self.quicksight_backend.data_sets[answer["DataSetId"]]
            _record_ingestion(data_set, answer["IngestionArn"], answer["IngestionId"], request_type)
        return response

    handled.__name__ = handler.__name__
    return handled


def create_ingestion(self: QuickSightResponse) -> Any:
    """moto's answers INITIALIZED for any data set, with an ARN of moto's form, and keeps nothing."""
    data_set = _data_set(self)
    ingestion_id = _uri(self, "IngestionId")
    if ingestion_id in _ingestions(data_set):
        raise ResourceExistsException(f"Ingestion {ingestion_id} already exists")
    arn = f"{data_set.arn}/ingestion/{ingestion_id}"
    request_type = json.loads(self.body or "{}").get("IngestionType") or "FULL_REFRESH"
    _record_ingestion(data_set, arn, ingestion_id, request_type)
    answer = {"Arn": arn, "IngestionId": ingestion_id, "IngestionStatus": "INITIALIZED", "RequestId": "request_id"}
    return 201, {"status": 201}, json.dumps(answer)


def describe_ingestion(self: QuickSightResponse) -> str:
    data_set = _data_set(self)
    ingestion = _ingestions(data_set).get(_uri(self, "IngestionId"))
    if ingestion is None:
        raise QuickSightNotFound(f"Ingestion {_uri(self, 'IngestionId')} of data set {data_set._id} not found")
    return json.dumps({"Ingestion": ingestion, "RequestId": "request_id"})


@fix(20)
def quicksight_dashboard_versions_and_ingestions() -> None:
    """QuickSight dashboards keep their versions; DeleteDashboard and ingestions work.

    moto: a dashboard has one version (without its DataSetArns and Sheets); UpdateDashboard, DeleteDashboard and
    DescribeIngestion fail with HTTP 500, and ListDashboardVersions, DescribeDashboardDefinition and
    UpdateDashboardPublishedVersion have no route; CreateDashboard of an id in use replaces the dashboard.
    AWS: keeps each version with the request that made it, publishes only a dashboard's first version by itself and
    shows the published version unless asked for another; an id in use is ResourceExistsException.
    Fix: a dashboard keeps each version with the request that made it (Name, Definition, DashboardPublishOptions,
    ThemeArn; DataSetArns from the data set declarations), built at once; DeleteDashboard deletes it with its
    versions, permissions and tags (with VersionNumber: that version, not the published one). An ingestion started by
    a SPICE CreateDataSet/UpdateDataSet (fix 19) or CreateIngestion is COMPLETED at once, of no rows: the local
    endpoint runs no queries.
    """
    _route(_PATHS_20)
    patch(QuickSightResponse, "create_data_set", _recording_ingestion(QuickSightResponse.create_data_set, "INITIAL_INGESTION"))
    patch(QuickSightResponse, "update_data_set", _recording_ingestion(QuickSightResponse.update_data_set, "EDIT"))
    patch(QuickSightResponse, "create_dashboard", _creating_dashboard(QuickSightResponse.create_dashboard))
    for handler in (update_dashboard, describe_dashboard, describe_dashboard_definition, list_dashboard_versions,
                    update_dashboard_published_version, list_dashboards, delete_dashboard, create_ingestion, describe_ingestion):
        patch(QuickSightResponse, handler.__name__, handler)
