#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: quicksight_dashboard
short_description: Create, update (as a new, published version) and delete a QuickSight dashboard from its definition
version_added: 0.1.0
description:
  - Manages one Amazon QuickSight dashboard from a dashboard definition kept as code (a QuickSight
    C(DashboardVersionDefinition) in the API's CamelCase, for example a YAML file of the collection read with the
    C(ansible.builtin.file) lookup and the C(from_yaml) filter), its permissions and its tags.
  - "The definition's C(DataSetIdentifierDeclarations) come from O(data_sets) (identifier: data set ARN, sorted by
    identifier), so the file does not hold account-specific ARNs. Every C(DataSetIdentifier) that the definition
    uses anywhere (fields, filters, calculated fields, column configurations) must be in O(data_sets); otherwise the
    module fails before any call, naming the identifier and where it is used."
  - "QuickSight normalizes a definition (adds defaults, reorders), so what it returns never equals what was sent.
    The module therefore compares by fingerprint: every version it creates carries the version description
    C(smartcity.iot_analytics definition <fingerprint>), a hash of the definition sent, O(theme_arn) and
    O(publish_options). A different fingerprint, or a different O(name), makes a new version (UpdateDashboard); the
    module waits until QuickSight has built it (C(CREATION_SUCCESSFUL), at most O(wait_timeout) seconds) and, with
    O(publish=true), publishes it (UpdateDashboardPublishedVersion). A version that QuickSight fails to build fails the
    task with the errors QuickSight reports for it (missing columns, type mismatches and so on)."
  - "Published version handling: when the published version already has the wanted fingerprint nothing changes.
    When the latest version has it but is not published, O(publish=true) publishes it without making another
    version, and O(publish=false) leaves it unpublished. O(publish=false) never changes which version is published;
    RV(dashboard.published_version_number) reports it. A latest version with the wanted fingerprint that is still
    being built (a run that timed out) is waited for; one that failed to build is tried again as a new version."
  - A version published from the console or by another tool has no fingerprint, so the next run makes a new version
    from the definition (changes made in the console are replaced, as with any resource kept as code).
  - O(state=absent) deletes the dashboard with all its versions. A dashboard that is already absent is not an error.
  - The account id comes from STS. Credentials, region and endpoint come from the standard AWS options.
author:
  - Smart City Platform Team (@smartcity)
options:
  dashboard_id:
    description:
      - The dashboard id (1 to 512 characters of C(a-z A-Z 0-9 _ -)), unique in the account and region.
    type: str
    required: true
  name:
    description:
      - The dashboard's display name. Required with O(state=present).
    type: str
  state:
    description:
      - V(present) makes sure the dashboard exists with O(definition) (published unless O(publish=false));
        V(absent) makes sure it does not exist.
    type: str
    choices: [present, absent]
    default: present
  definition:
    description:
      - The dashboard definition, a QuickSight C(DashboardVersionDefinition) in the API's CamelCase (C(Sheets),
        C(CalculatedFields), C(FilterGroups), ...). It must have at least one sheet. Required with O(state=present).
      - Its C(DataSetIdentifierDeclarations) may be omitted; they are made from O(data_sets). When O(data_sets) is
        not given, the definition's own declarations are used.
    type: dict
  data_sets:
    description:
      - The data sets the definition uses, as a dictionary of identifier (the C(DataSetIdentifier) used in the
        definition) to data set ARN. Replaces the definition's C(DataSetIdentifierDeclarations).
    type: dict
  publish:
    description:
      - Whether the version with O(definition) becomes the published version (the one viewers see).
      - With V(false), a new version is made but the published version stays as it is. The first version of a new
        dashboard is always published (QuickSight does that on creation).
    type: bool
    default: true
  publish_options:
    description:
      - "The dashboard's publish options, as the API's C(DashboardPublishOptions) in CamelCase, for example
        C({AdHocFilteringOption: {AvailabilityStatus: DISABLED}, ExportToCSVOption: {AvailabilityStatus: ENABLED}})."
      - Part of the fingerprint; omitted means QuickSight's defaults.
    type: dict
  theme_arn:
    description:
      - The ARN of the theme the dashboard uses (part of the fingerprint). Omitted means QuickSight's default theme.
    type: str
  # permissions, purge_permissions, tags, purge_tags, identity_region, namespace and wait_timeout: the doc fragments
  # smartcity.iot_analytics.quicksight and smartcity.iot_analytics.quicksight.wait_timeout, with this module's alias
  tags:
    aliases: [resource_tags]
notes:
  - Supports check mode and diff mode. The diff shows the name, the fingerprint of the latest version, the published
    version, the permissions and the tags, not the whole definition (QuickSight returns it normalized).
  - "QuickSight keeps every version; the module does not delete old ones."
  - "The calling role needs C(quicksight:CreateDashboard), C(DescribeDashboard), C(UpdateDashboard),
    C(ListDashboardVersions), C(UpdateDashboardPublishedVersion), C(DescribeDashboardPermissions),
    C(UpdateDashboardPermissions), C(DeleteDashboard), C(TagResource), C(UntagResource), C(ListTagsForResource),
    and C(quicksight:PassDataSet) on the data sets."
attributes:
  check_mode:
    support: full
    description: In check mode nothing is created, changed, published or deleted; the result is the predicted one.
  diff_mode:
    support: full
    description: The diff shows name, fingerprint, published version, permissions and tags before and after.
extends_documentation_fragment:
  - smartcity.iot_analytics.quicksight
  - smartcity.iot_analytics.quicksight.wait_timeout
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The traffic history dashboard from the collection's definition file
  smartcity.iot_analytics.quicksight_dashboard:
    dashboard_id: smartcity-traffic-history
    name: Traffic history
    definition: "{{ lookup('ansible.builtin.file', 'quicksight/dashboards/traffic_history.yml') | from_yaml }}"
    data_sets:
      readings: "{{ data_sets.readings.arn }}"
      zone_hourly: "{{ data_sets.zone_hourly.arn }}"
      sensor_daily: "{{ data_sets.sensor_daily.arn }}"
      zone_alerts: "{{ data_sets.zone_alerts.arn }}"
    publish_options:
      ExportToCSVOption:
        AvailabilityStatus: ENABLED
    permissions:
      - principal: group/traffic-admins
        level: owner
      - principal: group/traffic-viewers
        level: viewer
    tags:
      project: smartcity
  register: dashboard

- name: Stage a new version for review without publishing it
  smartcity.iot_analytics.quicksight_dashboard:
    dashboard_id: smartcity-traffic-history
    name: Traffic history
    definition: "{{ lookup('ansible.builtin.file', 'quicksight/dashboards/traffic_history.yml') | from_yaml }}"
    data_sets: "{{ dashboard_data_sets }}"
    publish: false

- name: Delete the dashboard
  smartcity.iot_analytics.quicksight_dashboard:
    dashboard_id: smartcity-traffic-history
    state: absent
"""

RETURN = r"""
dashboard:
  description: The dashboard after the task (in check mode, as it would be); empty after O(state=absent).
  returned: always
  type: dict
  contains:
    arn:
      description: The dashboard's ARN.
      type: str
      sample: arn:aws:quicksight:eu-west-1:123456789012:dashboard/smartcity-traffic-history
    dashboard_id:
      description: The dashboard id.
      type: str
      sample: smartcity-traffic-history
    name:
      description: The display name.
      type: str
      sample: Traffic history
    version_number:
      description: The latest version's number (none in check mode for a version that would be created).
      type: int
      sample: 3
    version_status:
      description: The latest version's status (C(CREATION_SUCCESSFUL) when it is ready; none in check mode for a
        version that would be created).
      type: str
      sample: CREATION_SUCCESSFUL
    fingerprint:
      description: The fingerprint of the latest version's definition (none for a version this module did not make).
      type: str
      sample: 3f2a9c0d1e4b5a67
    published_version_number:
      description: The published version's number (none in check mode for a version that would be created).
      type: int
      sample: 3
    published_fingerprint:
      description: The fingerprint of the published version.
      type: str
      sample: 3f2a9c0d1e4b5a67
    permissions:
      description: Who has which actions on the dashboard.
      type: list
      elements: dict
      contains:
        principal:
          description: The user or group ARN.
          type: str
          sample: arn:aws:quicksight:eu-west-1:123456789012:group/default/traffic-viewers
        actions:
          description: Its actions, sorted.
          type: list
          elements: str
          sample: ["quicksight:DescribeDashboard", "quicksight:ListDashboardVersions", "quicksight:QueryDashboard"]
    tags:
      description: The dashboard's tags.
      type: dict
      sample: {"project": "smartcity"}
versions_created:
  description: How many dashboard versions the task created (or would create in check mode), 0 or 1.
  returned: always
  type: int
  sample: 1
"""

import copy
import re

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight import (
    QuickSightError,
    QuickSightResource,
    account_info,
    failed_step,
    fingerprint,
    permissions_and_tags,
    permissions_dict,
    principal_arn,
    quicksight_client,
    resource_id_error,
    sharing_spec,
    tag_list,
    tags_dict,
    wait_for_status,
)
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.quicksight_views import (
    DESCRIPTION_PREFIX,
    dashboard_versions_view,
    permissions_view,
)

# DashboardId is a ShortRestrictiveResourceId in the service model: at most 512 characters.
DASHBOARD_ID_MAX = 512
VERSION_ARN = re.compile(r"/version/(\d+)$")
SUCCESS = ("CREATION_SUCCESSFUL", "UPDATE_SUCCESSFUL")
IN_PROGRESS = ("CREATION_IN_PROGRESS", "UPDATE_IN_PROGRESS")
FAILURE = ("CREATION_FAILED", "UPDATE_FAILED", "DELETED")
# What says where in a definition a DataSetIdentifier is used: the innermost of these ids, or a calculated field.
CALCULATED_FIELD = re.compile(r"CalculatedFields\[\d+\]")
LOCATION_IDS = (("VisualId", "visual"), ("FilterId", "filter"), ("FilterGroupId", "filter group"), ("SheetId", "sheet"))


# ---- the definition (pure) ----


def identifier_uses(node, path="", where=None):
    """Every ``(identifier, where, path)`` of a "DataSetIdentifier" key anywhere in ``node``; ``where`` is the
    innermost visual, filter, filter group or sheet around it (or a calculated field by name)."""
    if isinstance(node, dict):
        for key, label in LOCATION_IDS:
            if isinstance(node.get(key), str):
                where = f"{label} {node[key]!r}"
                break
        else:
            if CALCULATED_FIELD.fullmatch(path) and "Name" in node:
                where = f"calculated field {node['Name']!r}"
        for key, value in node.items():
            child = f"{path}.{key}" if path else key
            if key == "DataSetIdentifier":
                yield value, where, child
            else:
                yield from identifier_uses(value, child, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from identifier_uses(value, f"{path}[{index}]", where)


def build_definition(definition, data_sets):
    """The Definition sent to QuickSight: a copy of ``definition`` whose DataSetIdentifierDeclarations are made from
    ``data_sets`` (identifier -> data set ARN, sorted by identifier; None keeps the definition's own declarations).
    Raises ValueError naming every identifier the definition uses that is not declared, and where it is used."""
    if not isinstance(definition, dict):
        raise ValueError(f"definition: must be a dictionary (a DashboardVersionDefinition), got {type(definition).__name__}")
    built = copy.deepcopy(definition)
    if data_sets is not None:
        built["DataSetIdentifierDeclarations"] = [
            {"Identifier": identifier, "DataSetArn": data_sets[identifier]} for identifier in sorted(data_sets)
        ]
    declarations = built.get("DataSetIdentifierDeclarations") or []
    built["DataSetIdentifierDeclarations"] = declarations
    declared = {entry.get("Identifier") for entry in declarations if isinstance(entry, dict)}
    missing = {}
    for identifier, where, path in identifier_uses(built):
        if not isinstance(identifier, str) or not identifier:
            raise ValueError(f"definition: {path} must be a non-empty data set identifier, got {identifier!r}")
        if identifier not in declared:
            missing.setdefault(identifier, []).append(f"{where} at {path}" if where else path)
    if missing:
        source = "data_sets" if data_sets is not None else "the definition's DataSetIdentifierDeclarations (data_sets is not given)"
        parts = []
        for identifier, uses in sorted(missing.items()):
            shown = "; ".join(uses[:3]) + (f"; and {len(uses) - 3} more" if len(uses) > 3 else "")
            parts.append(f"{identifier!r} (in {shown})")
        raise ValueError(
            f"definition: uses DataSetIdentifier {', '.join(parts)}, which {source} lacks; declared: {', '.join(sorted(declared)) or 'none'}"
        )
    return built


def wanted_fingerprint(built, theme_arn, publish_options):
    document = {"definition": built, "theme_arn": theme_arn}
    if publish_options is not None:
        document["publish_options"] = publish_options
    return fingerprint(document)


def validate_common(module):
    """The options of both states."""
    params = module.params
    problem = resource_id_error("dashboard_id", params["dashboard_id"])
    if not problem and len(params["dashboard_id"]) > DASHBOARD_ID_MAX:
        problem = f"dashboard_id: {len(params['dashboard_id'])} characters, QuickSight allows at most {DASHBOARD_ID_MAX}"
    if problem:
        module.fail_json(msg=problem)
    if params["wait_timeout"] < 0:
        module.fail_json(msg=f"wait_timeout: must be 0 or more seconds, got {params['wait_timeout']}")
    for entry in params["permissions"] or []:
        try:
            principal_arn(entry["principal"], "aws", "us-east-1", "000000000000", params["namespace"])
        except ValueError as error:
            module.fail_json(msg=str(error))
        if entry.get("actions") is not None and not entry["actions"]:
            module.fail_json(msg=f"permissions: {entry['principal']!r} has an empty actions list (use level or name actions)")


def validate(module):
    """Every option that can be checked without AWS; returns the Definition to send (None with state=absent)."""
    validate_common(module)
    params = module.params
    if params["state"] == "absent":
        return None
    if not (params["name"] or "").strip():
        module.fail_json(msg="name: required with state=present, and must not be empty")
    definition = params["definition"]
    if definition is None:
        module.fail_json(msg="definition: required with state=present")
    sheets = definition.get("Sheets")
    if not isinstance(sheets, list) or not sheets:
        module.fail_json(msg="definition: needs Sheets, a list with at least one sheet (a DashboardVersionDefinition in CamelCase)")
    data_sets = params["data_sets"]
    for identifier, arn in (data_sets or {}).items():
        if not isinstance(arn, str) or not arn.startswith("arn:") or ":dataset/" not in arn:
            module.fail_json(
                msg=f"data_sets: {identifier!r} must map to a data set ARN (arn:<partition>:quicksight:<region>:<account>:dataset/<id>), got {arn!r}"
            )
    if params["theme_arn"] is not None and not params["theme_arn"].startswith("arn:"):
        module.fail_json(msg=f"theme_arn: {params['theme_arn']!r} is not an ARN")
    try:
        return build_definition(definition, data_sets)
    except ValueError as error:
        module.fail_json(msg=str(error))
    return None


def version_errors_text(version):
    """QuickSight's errors of a failed version, one line each, with the paths it names."""
    lines = []
    for error in version.get("Errors") or []:
        paths = [entity.get("Path") for entity in error.get("ViolatedEntities") or [] if entity.get("Path")]
        line = f"{error.get('Type', 'ERROR')}: {error.get('Message', '')}"
        if paths:
            line += f" (at {', '.join(paths)})"
        lines.append(line)
    return "; ".join(lines) if lines else "QuickSight gave no error details (see the dashboard's versions in the console)"


# ---- AWS ----


class Dashboards(QuickSightResource):
    RESOURCE_TYPE = "dashboard"

    def __init__(self, module, client, account_id, partition):
        super().__init__(module, client, account_id, partition)
        self.dashboard_id = self.params["dashboard_id"]
        self.versions_created = 0

    def description(self, doing):
        return f"{doing} (QuickSight dashboard {self.dashboard_id!r})"

    def ids(self, **extra):
        return dict(AwsAccountId=self.account_id, DashboardId=self.dashboard_id, **extra)

    # ---- reading ----

    def versions(self):
        summaries, token = [], None
        while True:
            request = self.ids(NextToken=token) if token else self.ids()
            page = self.call("listing the dashboard's versions", "list_dashboard_versions", missing=True, **request)
            if page is None:
                return None
            summaries.extend(page.get("DashboardVersionSummaryList", []))
            token = page.get("NextToken")
            if not token:
                return sorted(summaries, key=lambda summary: summary.get("VersionNumber") or 0)

    def read(self):
        """The dashboard as the module sees it, or None; ``published`` and ``latest`` are the raw versions."""
        found = self.call("describing the dashboard", "describe_dashboard", missing=True, **self.ids())
        if found is None:
            return None
        dashboard = found["Dashboard"]
        published = dashboard.get("Version") or {}
        versions = self.versions()
        if versions is None:  # deleted between the two reads
            return None
        permissions = self.call("describing the dashboard's permissions", "describe_dashboard_permissions", **self.ids())
        tags = self.call("listing the dashboard's tags", "list_tags_for_resource", ResourceArn=dashboard["Arn"])
        return {
            "arn": dashboard["Arn"],
            "dashboard_id": dashboard.get("DashboardId", self.dashboard_id),
            "name": dashboard.get("Name"),
            **dashboard_versions_view(published, versions),
            "published_status": published.get("Status"),
            "permissions": permissions_dict(permissions.get("Permissions")),
            "tag_list": tags.get("Tags", []),
        }

    # ---- versions ----

    def wait(self, version_number, timeout):
        """Wait until QuickSight has built ``version_number``; a failed version raises with its errors."""
        last = {}

        def describe():
            found = self.call(f"waiting for version {version_number} to be built", "describe_dashboard", **self.ids(VersionNumber=version_number))
            last.update(found["Dashboard"].get("Version") or {})
            return last

        try:
            what = f"version {version_number} of the QuickSight dashboard {self.dashboard_id!r}"
            return wait_for_status(describe, lambda version: version.get("Status"), timeout, what, SUCCESS, FAILURE)
        except QuickSightError as error:
            if error.exception is not None:
                raise  # an AWS error of a describe call, described by it
            reason = error
            if last.get("Status") in FAILURE:
                reason = QuickSightError(message=f"QuickSight could not build version {version_number} ({last['Status']}): {version_errors_text(last)}")
            raise failed_step(self.description(f"waiting for version {version_number} to be built"), reason) from error

    def version_name(self, version_number):
        """The name a version carries (describe_dashboard gives the published version's unless asked for another)."""
        found = self.call(f"describing version {version_number}", "describe_dashboard", **self.ids(VersionNumber=version_number))
        return found["Dashboard"].get("Name")

    def version_request(self, built, wanted_fp):
        request = self.ids(Name=self.params["name"], Definition=built, VersionDescription=DESCRIPTION_PREFIX + wanted_fp)
        if self.params["publish_options"] is not None:
            request["DashboardPublishOptions"] = self.params["publish_options"]
        if self.params["theme_arn"] is not None:
            request["ThemeArn"] = self.params["theme_arn"]
        return request

    def created_version(self, response, default=None):
        found = VERSION_ARN.search(response.get("VersionArn") or "")
        if found:
            return int(found.group(1))
        if default is not None:
            return default
        raise QuickSightError(message=f"QuickSight returned no version number for the new version ({response.get('VersionArn')!r})")

    # ---- the two states ----

    def present(self, built):
        """(changed, before, after): the dashboard with the wanted version (published with ``publish``), permissions and
        tags."""
        params = self.params
        wanted_fp = wanted_fingerprint(built, params["theme_arn"], params["publish_options"])
        wanted = self.requested_permissions()
        current = self.read()
        if current is None:
            return True, None, self.create(built, wanted_fp, wanted)
        after = dict(current)
        versioned = self.converge_version(current, after, built, wanted_fp)
        granted = self.converge_permissions(current, after, wanted)
        tagged = self.converge_tags(current, after)
        return versioned or granted or tagged, current, after

    def converge_version(self, current, after, built, wanted_fp):
        """A new version when neither the published nor the latest version has the wanted fingerprint (and name);
        published with ``publish``. Whether it made or published one."""
        params = self.params
        name_ok = current["name"] == params["name"]  # the published version's name: QuickSight keeps a name per version
        published_ok = current["published_fingerprint"] == wanted_fp and current["published_status"] in SUCCESS
        latest_ok = current["fingerprint"] == wanted_fp and current["version_status"] in SUCCESS + IN_PROGRESS
        if name_ok and published_ok:
            return False  # the viewers already see this definition
        changed = False
        latest_name_ok = name_ok
        if latest_ok and not name_ok and current["version_number"] != current["published_version_number"]:
            latest_name_ok = self.version_name(current["version_number"]) == params["name"]  # a staged (unpublished) rename
        if latest_name_ok and latest_ok:
            if not self.check and current["version_status"] in IN_PROGRESS:  # a run that timed out left it building
                after["version_status"] = self.wait(current["version_number"], params["wait_timeout"])["Status"]
        else:
            changed = True
            self.versions_created = 1
            after.update(name=params["name"], fingerprint=wanted_fp, version_number=None, version_status=None)
            if not self.check:
                response = self.call("creating a new version", "update_dashboard", **self.version_request(built, wanted_fp))
                number = self.created_version(response)
                after.update(version_number=number, version_status=self.wait(number, params["wait_timeout"])["Status"])
        if params["publish"]:
            changed = self.publish(after, after["version_number"], wanted_fp) or changed
        return changed

    def converge_permissions(self, current, after, wanted):
        changed, after["permissions"] = self.sync_permissions(
            lambda **changes: self.call("updating the dashboard's permissions", "update_dashboard_permissions", **self.ids(**changes)),
            current["permissions"],
            wanted,
        )
        return changed

    def converge_tags(self, current, after):
        changed, tags = self.sync_tags("updating the dashboard's tags", current["arn"], current["tag_list"])
        after["tag_list"] = tag_list(tags)
        return changed

    def publish(self, after, version_number, wanted_fp):
        """Whether ``version_number`` became the published version."""
        if after["published_version_number"] == version_number and version_number is not None:
            return False
        after.update(published_version_number=version_number, published_fingerprint=wanted_fp, published_status=after["version_status"])
        if not self.check:
            self.call(f"publishing version {version_number}", "update_dashboard_published_version", **self.ids(VersionNumber=version_number))
        return True

    def create(self, built, wanted_fp, wanted):
        params = self.params
        self.versions_created = 1
        after = {
            "arn": self.predicted_arn("dashboard", self.dashboard_id),
            "dashboard_id": self.dashboard_id,
            "name": params["name"],
            "version_number": None,
            "version_status": None,
            "fingerprint": wanted_fp,
            "published_version_number": None,
            "published_fingerprint": wanted_fp,
            "published_status": None,
            "permissions": wanted or {},
            "tag_list": tag_list(params["tags"]),
        }
        if self.check:
            return after
        request = dict(self.version_request(built, wanted_fp), **permissions_and_tags(wanted, params["tags"]))
        response = self.call("creating the dashboard", "create_dashboard", **request)
        after["arn"] = response.get("Arn") or after["arn"]
        number = self.created_version(response, default=1)
        status = self.wait(number, params["wait_timeout"])["Status"]
        # QuickSight publishes the first version of a new dashboard itself.
        after.update(version_number=number, version_status=status, published_version_number=number, published_status=status)
        return after

    def absent(self):
        """(changed, before, after): the dashboard deleted."""
        current = self.read()
        if current is None:
            return False, None, None
        if not self.check:
            self.call("deleting the dashboard", "delete_dashboard", missing=True, **self.ids())
        return True, current, None


def result_view(dashboard):
    if not dashboard:
        return {}
    view = {key: value for key, value in dashboard.items() if key not in ("tag_list", "published_status", "permissions")}
    view["permissions"] = permissions_view(dashboard["permissions"])
    view["tags"] = tags_dict(dashboard["tag_list"])
    return view


def diff_view(dashboard):
    if not dashboard:
        return {}
    view = result_view(dashboard)
    return {key: view[key] for key in ("name", "fingerprint", "published_version_number", "permissions", "tags")}


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            dashboard_id=dict(type="str", required=True),
            name=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            definition=dict(type="dict"),
            data_sets=dict(type="dict"),
            publish=dict(type="bool", default=True),
            publish_options=dict(type="dict"),
            theme_arn=dict(type="str"),
            wait_timeout=dict(type="int", default=600),
            **sharing_spec(tag_aliases=["resource_tags"]),
        ),
        required_if=[("state", "present", ["name", "definition"])],
        supports_check_mode=True,
    )
    built = validate(module)
    account_id, partition = account_info(module)
    dashboards = Dashboards(module, quicksight_client(module), account_id, partition)
    try:
        changed, before, after = dashboards.present(built) if module.params["state"] == "present" else dashboards.absent()
    except QuickSightError as error:
        module.fail_json_aws_error(error)
    result = {"changed": changed, "dashboard": result_view(after), "versions_created": dashboards.versions_created}
    if module._diff:
        result["diff"] = {"before": diff_view(before), "after": diff_view(after)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
