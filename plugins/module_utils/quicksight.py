# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every smartcity.iot_analytics QuickSight module shares: the client and account, the one error path with
messages that say what to enable, permissions (principals, action sets, grant/revoke), tags, comparison and waiting.

amazon.aws has no QuickSight modules; these follow its habits (``AnsibleAWSModule``, ``AWSRetry.jittered_backoff``,
``aws_retry=True``, ``compare_aws_tags``, an ``AWSErrorHandler`` that knows the service's "not found") and name the
step that failed in every error message (``QuickSightErrorHandler``: "<what was being done> failed: ...").
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.iam import get_aws_account_info
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
    compare_aws_tags,
)
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.errors import ErrorHandler, error_code, error_message

# QuickSight errors worth retrying besides the standard throttling codes: another update of the same resource is
# still running (ConcurrentUpdatingException), and the service's own transient failures.
RETRY_CODES = ["ThrottlingException", "ConcurrentUpdatingException", "InternalFailureException", "ServiceUnavailableException"]

# Ids of data sources, data sets and dashboards: QuickSight allows 1 to 2048 characters of these.
RESOURCE_ID_RULE = re.compile(r"[\w-]{1,2048}", re.ASCII)

# Where to switch things on, quoted in the error messages (the console path as of 2026).
SUBSCRIBE_HINT = (
    "Sign up for QuickSight (Enterprise edition) in the AWS console: QuickSight > Sign up for QuickSight, in the "
    "account of these credentials; choose the identity region your users sign in to"
)
ACCESS_HINT = (
    "In QuickSight > Manage QuickSight > Security & permissions > QuickSight access to AWS services, enable Amazon "
    "Athena and Amazon S3 (select the history bucket, with write permission for Athena Workgroup), and give the "
    "calling role the quicksight:* actions of this module (docs/quicksight.md lists them)"
)

# The actions behind the two permission levels of each resource type (the console's "Viewer" and "Owner"; a data
# set's owner includes its refresh schedules and refresh properties, as the console grants since 2023).
ACTION_SETS = {
    "data_source": {
        "viewer": ["quicksight:DescribeDataSource", "quicksight:DescribeDataSourcePermissions", "quicksight:PassDataSource"],
        "owner": [
            "quicksight:DeleteDataSource",
            "quicksight:DescribeDataSource",
            "quicksight:DescribeDataSourcePermissions",
            "quicksight:PassDataSource",
            "quicksight:UpdateDataSource",
            "quicksight:UpdateDataSourcePermissions",
        ],
    },
    "data_set": {
        "viewer": [
            "quicksight:DescribeDataSet",
            "quicksight:DescribeDataSetPermissions",
            "quicksight:DescribeIngestion",
            "quicksight:ListIngestions",
            "quicksight:PassDataSet",
        ],
        "owner": [
            "quicksight:CancelIngestion",
            "quicksight:CreateIngestion",
            "quicksight:CreateRefreshSchedule",
            "quicksight:DeleteDataSet",
            "quicksight:DeleteDataSetRefreshProperties",
            "quicksight:DeleteRefreshSchedule",
            "quicksight:DescribeDataSet",
            "quicksight:DescribeDataSetPermissions",
            "quicksight:DescribeDataSetRefreshProperties",
            "quicksight:DescribeIngestion",
            "quicksight:DescribeRefreshSchedule",
            "quicksight:ListIngestions",
            "quicksight:ListRefreshSchedules",
            "quicksight:PassDataSet",
            "quicksight:PutDataSetRefreshProperties",
            "quicksight:UpdateDataSet",
            "quicksight:UpdateDataSetPermissions",
            "quicksight:UpdateRefreshSchedule",
        ],
    },
    "dashboard": {
        "viewer": ["quicksight:DescribeDashboard", "quicksight:ListDashboardVersions", "quicksight:QueryDashboard"],
        "owner": [
            "quicksight:DeleteDashboard",
            "quicksight:DescribeDashboard",
            "quicksight:DescribeDashboardPermissions",
            "quicksight:ListDashboardVersions",
            "quicksight:QueryDashboard",
            "quicksight:UpdateDashboard",
            "quicksight:UpdateDashboardPermissions",
            "quicksight:UpdateDashboardPublishedVersion",
        ],
    },
}

# The argument spec of the ``permissions`` option, the same for every resource module.
PERMISSIONS_SPEC = dict(
    type="list",
    elements="dict",
    options=dict(
        principal=dict(type="str", required=True),
        level=dict(type="str", choices=["viewer", "owner"]),
        actions=dict(type="list", elements="str"),
    ),
    mutually_exclusive=[["level", "actions"]],
    required_one_of=[["level", "actions"]],
)


def sharing_spec(tag_aliases=None):
    """The argument spec of the options of the doc fragment smartcity.iot_analytics.quicksight (who may use the
    resource, and its tags), the same for every resource module; ``tag_aliases`` for the modules whose ``tags`` have
    aliases (their documentation names them)."""
    tags = dict(type="dict", aliases=list(tag_aliases)) if tag_aliases else dict(type="dict")
    return dict(
        permissions=PERMISSIONS_SPEC,
        purge_permissions=dict(type="bool", default=True),
        tags=tags,
        purge_tags=dict(type="bool", default=True),
        identity_region=dict(type="str"),
        namespace=dict(type="str", default="default"),
    )


class QuickSightError(AnsibleAWSError):
    pass


def quicksight_retry():
    return AWSRetry.jittered_backoff(retries=10, delay=1, max_delay=30, catch_extra_error_codes=RETRY_CODES)


def quicksight_client(module):
    """A QuickSight client whose calls retry with jitter when given ``aws_retry=True``."""
    return module.client("quicksight", retry_decorator=quicksight_retry())


def account_info(module):
    """(account id, partition) of the credentials, from STS (users never pass their account id)."""
    return get_aws_account_info(module)


def account_problem(message):
    """Whether an error message (lower case) says that the account has no QuickSight (AWS answers an unsubscribed
    account with ResourceNotFoundException, the code of a missing resource)."""
    return any(words in message for words in ("signed up", "subscri", "directory information"))


def is_missing(error):
    """ResourceNotFoundException means "no such resource", unless it is QuickSight saying that the account is not
    subscribed."""
    return error_code(error) == "ResourceNotFoundException" and not account_problem(error_message(error).lower())


def missing_ok(call, **kwargs):
    """``call(aws_retry=True, **kwargs)``, or None when QuickSight answers that the resource does not exist (an account
    that is not signed up answers ResourceNotFoundException too: that one is raised)."""
    try:
        return call(aws_retry=True, **kwargs)
    except QuickSightErrorHandler._is_missing():  # pylint: disable=protected-access  # the handler's one "not found"
        return None


def explain(error, what):
    """The message for a failed call: what was being done, and for the errors a user can mend, what to enable where."""
    code = error_code(error)
    message = error_message(error)
    lowered = message.lower()
    if code in ("UnsupportedUserEditionException",) or account_problem(lowered):
        return f"{what} failed: this account is not subscribed to QuickSight (Enterprise edition) here ({message}). {SUBSCRIBE_HINT}."
    if code == "AccessDeniedException":
        return f"{what} failed: access denied ({message}). {ACCESS_HINT}."
    return f"{what} failed" + (f" ({code}: {message})" if code else "")


class _NeverRaised(Exception):
    pass


class QuickSightErrorHandler(ErrorHandler):
    """QuickSight's "not found" is ResourceNotFoundException, unless it says that the account is not subscribed; its
    messages say what was being done and, for what a user can mend, what to enable where (``explain``)."""

    _CUSTOM_EXCEPTION = QuickSightError

    @classmethod
    def _is_missing(cls):
        return botocore.exceptions.ClientError if is_missing(sys.exc_info()[1]) else _NeverRaised

    @classmethod
    def failure_message(cls, description, error):
        return explain(error, description)

    @classmethod
    def task_failure_message(cls, doing, error):
        return explain(error, doing)


def failed_step(description, error):
    """A QuickSightError of ours without an AWS error (a wait that ended badly or timed out) as the failure of
    ``description``: "<description> failed: <its message>"."""
    return QuickSightError(message=f"{description} failed: {error.message}")


def resource_id_error(field, value):
    """Why ``value`` is not a valid QuickSight resource id (naming ``field``), or None."""
    if not isinstance(value, str) or not RESOURCE_ID_RULE.fullmatch(value):
        return f"{field}: {value!r} breaks the QuickSight rule: 1 to 2048 characters of a-z A-Z 0-9 _ -"
    return None


# ---- principals and permissions ----


def principal_arn(principal, partition, identity_region, account_id, namespace="default"):
    """A user or group ARN from ``group/NAME``, ``user/NAME`` or a full ARN (returned as given).

    QuickSight users and groups live in the identity region, which may differ from the region of the resource.
    """
    if principal.startswith("arn:"):
        return principal
    kind, _sep, name = principal.partition("/")
    if kind not in ("group", "user") or not name:
        raise ValueError(f"permissions: principal {principal!r} must be group/NAME, user/NAME or an ARN")
    return f"arn:{partition}:quicksight:{identity_region}:{account_id}:{kind}/{namespace}/{name}"


def wanted_permissions(entries, resource_type, partition, identity_region, account_id, namespace="default"):
    """``{principal ARN: sorted actions}`` from the module's ``permissions`` option (None stays None: leave alone)."""
    if entries is None:
        return None
    wanted = {}
    for entry in entries:
        arn = principal_arn(entry["principal"], partition, identity_region, account_id, namespace)
        actions = ACTION_SETS[resource_type][entry["level"]] if entry.get("level") else entry["actions"]
        wanted.setdefault(arn, set()).update(actions)
    return {arn: sorted(actions) for arn, actions in wanted.items()}


def permissions_dict(api_permissions):
    """``{principal ARN: sorted actions}`` from the API's ``[{Principal, Actions}]``."""
    result = {}
    for entry in api_permissions or []:
        result.setdefault(entry["Principal"], set()).update(entry.get("Actions", []))
    return {arn: sorted(actions) for arn, actions in result.items()}


def permission_changes(current, wanted, purge):
    """(grants, revokes) in the API's ``[{Principal, Actions}]`` form that turn ``current`` into ``wanted``.

    A principal in ``wanted`` gets exactly its actions (extra ones are revoked); with ``purge`` a principal that is
    not in ``wanted`` loses all of its actions, without it it keeps them.
    """
    grants, revokes = [], []
    for arn, actions in sorted(wanted.items()):
        have = set(current.get(arn, []))
        missing = sorted(set(actions) - have)
        extra = sorted(have - set(actions))
        if missing:
            grants.append({"Principal": arn, "Actions": missing})
        if extra:
            revokes.append({"Principal": arn, "Actions": extra})
    if purge:
        for arn, actions in sorted(current.items()):
            if arn not in wanted and actions:
                revokes.append({"Principal": arn, "Actions": sorted(actions)})
    return grants, revokes


def apply_permission_changes(current, grants, revokes):
    """``current`` after the grants and revokes (for check mode's predicted result)."""
    result = {arn: set(actions) for arn, actions in current.items()}
    for entry in grants:
        result.setdefault(entry["Principal"], set()).update(entry["Actions"])
    for entry in revokes:
        result.get(entry["Principal"], set()).difference_update(entry["Actions"])
    return {arn: sorted(actions) for arn, actions in sorted(result.items()) if actions}


def permissions_list(permissions):
    """``{principal: actions}`` as the API's list (for create calls and for results)."""
    return [{"Principal": arn, "Actions": list(actions)} for arn, actions in sorted((permissions or {}).items())]


def sync_permissions(update, current, wanted, purge, check_mode, read_back=None):
    """Grant and revoke so that the permissions ``current`` (``{principal: actions}``) become ``wanted`` (None leaves
    them alone); returns (changed, the permissions after).

    ``update(**changes)`` is the resource's Update...Permissions call with its ids bound; it gets GrantPermissions
    and RevokePermissions (only the non-empty ones) and is not called in check mode or when nothing differs. After
    the update the permissions are ``read_back()`` when given, else the Permissions of the update's response when
    it has them, else the predicted ones (those are also check mode's result)."""
    if wanted is None:
        return False, current
    grants, revokes = permission_changes(current, wanted, purge)
    if not grants and not revokes:
        return False, current
    predicted = apply_permission_changes(current, grants, revokes)
    if check_mode:
        return True, predicted
    changes = {}
    if grants:
        changes["GrantPermissions"] = grants
    if revokes:
        changes["RevokePermissions"] = revokes
    response = update(**changes) or {}
    if read_back is not None:
        return True, read_back()
    if response.get("Permissions") is not None:
        return True, permissions_dict(response["Permissions"])
    return True, predicted


def permissions_and_tags(permissions, tags):
    """The Permissions and Tags of a Create... request (each only when there are some)."""
    request = {}
    if permissions:
        request["Permissions"] = permissions_list(permissions)
    if tags:
        request["Tags"] = tag_list(tags)
    return request


# ---- tags ----


def tag_changes(current_list, wanted, purge):
    """(tags to set as the API's list, keys to remove) that turn the resource's tag list into ``wanted``; wanted None
    leaves the tags alone."""
    if wanted is None:
        return [], []
    to_set, to_remove = compare_aws_tags(boto3_tag_list_to_ansible_dict(current_list or []), wanted, purge)
    return ansible_dict_to_boto3_tag_list(to_set), list(to_remove)


def tags_dict(tag_list):
    return boto3_tag_list_to_ansible_dict(tag_list or [])


def tag_list(tags):
    return ansible_dict_to_boto3_tag_list(tags or {})


def list_tags(client, arn):
    """The resource's tags as a dict."""
    return tags_dict(client.list_tags_for_resource(ResourceArn=arn, aws_retry=True).get("Tags", []))


def sync_tags(client, arn, current_list, wanted, purge, check_mode, read_back=None):
    """Set and remove tags so that they become ``wanted`` (not in check mode); returns (changed, the tags after as a
    dict). After an update they are ``read_back()`` when given, else the predicted ones (also check mode's result)."""
    to_set, to_remove = tag_changes(current_list, wanted, purge)
    after = tags_dict(current_list)
    if not to_set and not to_remove:
        return False, after
    if not check_mode:
        if to_remove:
            client.untag_resource(ResourceArn=arn, TagKeys=to_remove, aws_retry=True)
        if to_set:
            client.tag_resource(ResourceArn=arn, Tags=to_set, aws_retry=True)
        if read_back is not None:
            return True, read_back()
    for key in to_remove:
        after.pop(key, None)
    after.update(tags_dict(to_set))
    return True, after


# ---- comparing and waiting ----


def differs(wanted, current):
    """True when ``wanted`` is not contained in ``current``: every key that is asked for must have the same value;
    keys that AWS adds (defaults, computed fields) do not count. Lists compare element by element, in order."""
    if isinstance(wanted, dict):
        if not isinstance(current, dict):
            return True
        return any(differs(value, current.get(key)) for key, value in wanted.items())
    if isinstance(wanted, list):
        if not isinstance(current, list) or len(wanted) != len(current):
            return True
        return any(differs(w, c) for w, c in zip(wanted, current))
    if isinstance(wanted, float) or isinstance(current, float):
        return not numbers_equal(wanted, current)
    return wanted != current


def numbers_equal(left, right):
    try:
        return abs(float(left) - float(right)) <= 1e-9
    except (TypeError, ValueError):
        return False


def fingerprint(document):
    """A short, stable hash of a JSON document (key order and white space do not matter)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def wait_for_status(describe, status_of, timeout, what, success, failure, sleep=None, clock=None):
    """Call ``describe()`` until ``status_of(result)`` is in ``success`` (returns the result) or in ``failure`` (raises
    QuickSightError with the result's errors); raises QuickSightError after ``timeout`` seconds, naming the last
    status. QuickSight creates and updates data sources and dashboards asynchronously. ``sleep`` and ``clock`` default
    to ``time.sleep`` and ``time.monotonic`` as they are at the call (so that tests can patch them)."""
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    deadline = clock() + timeout
    delay = 1.0
    while True:
        result = describe()
        status = status_of(result)
        if status in success:
            return result
        if status in failure:
            errors = json.dumps(result.get("Errors") or result.get("ErrorInfo") or result, default=str)[:1000]
            raise QuickSightError(message=f"{what} ended in {status}: {errors}")
        if clock() >= deadline:
            raise QuickSightError(
                message=f"{what} is still {status} after {timeout} s (wait_timeout); it goes on in QuickSight, run the task again to see where it ended"
            )
        sleep(min(delay, max(deadline - clock(), 0.1)))
        delay = min(delay * 2, 15.0)


# ---- the managers of the resource modules ----


class QuickSightResource:
    """What the managers of quicksight_data_source, quicksight_data_set and quicksight_dashboard share: the module,
    client, account and check mode, one API call under the error handler (``call``, its description from
    ``description``), and the permission and tag steps, which return whether they changed something. ``RESOURCE_TYPE``
    is the resource's key of ACTION_SETS."""

    RESOURCE_TYPE = ""

    def __init__(self, module, client, account_id, partition):
        self.module = module
        self.client = client
        self.params = module.params
        self.account_id = account_id
        self.partition = partition
        self.check = module.check_mode

    def description(self, doing):
        """The error messages' description of ``doing`` (the resource modules add which resource)."""
        return doing

    def call(self, doing, method, missing=False, **kwargs):
        """``method`` of the client with retries under ``QuickSightErrorHandler`` (described by ``description(doing)``);
        with ``missing``, None when the resource does not exist."""
        return QuickSightErrorHandler.run(self.description(doing), getattr(self.client, method), missing=missing, aws_retry=True, **kwargs)

    def predicted_arn(self, kind, resource_id):
        """The ARN a resource gets (``kind``: datasource, dataset, dashboard), for check mode's results."""
        return f"arn:{self.partition}:quicksight:{self.module.region}:{self.account_id}:{kind}/{resource_id}"

    def requested_permissions(self):
        """``wanted_permissions`` of the ``permissions``, ``identity_region`` (default: the module's region) and
        ``namespace`` options."""
        params = self.params
        identity_region = params["identity_region"] or self.module.region
        return wanted_permissions(params["permissions"], self.RESOURCE_TYPE, self.partition, identity_region, self.account_id, params["namespace"])

    def sync_permissions(self, update, current, wanted, read_back=None):
        """``sync_permissions`` with the ``purge_permissions`` option: (changed, the permissions after)."""
        return sync_permissions(update, current, wanted, self.params["purge_permissions"], self.check, read_back=read_back)

    def sync_tags(self, doing, arn, current_list, read_back=None):
        """``sync_tags`` with the ``tags`` and ``purge_tags`` options, described by ``description(doing)``: (changed, the
        tags after)."""
        handler = QuickSightErrorHandler.common_error_handler(self.description(doing))
        return handler(sync_tags)(self.client, arn, current_list, self.params["tags"], self.params["purge_tags"], self.check, read_back=read_back)
