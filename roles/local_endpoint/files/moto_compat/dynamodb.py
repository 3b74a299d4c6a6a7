# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DynamoDB: a table's TTL and recovery from CloudFormation (fix 6); UpdateItem and Query at pipeline rates (10, 11, 13, 22)."""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any, Callable

from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.parsing import validators as dynamodb_validators
from moto.dynamodb.parsing.ast_nodes import Node as ExpressionNode
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.parsing.validators import ActionCountValidator, OverlappingPathsValidator

from .cloudformation import truthy
from .registry import fix, patch

# moto's own, as the fixes found them (the tests put them back to compare with moto alone).
_create_table = Table.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
_check_for_overlapping_paths = OverlappingPathsValidator.check_for_overlapping_paths
_verify_action_counts = ActionCountValidator.verify_action_counts
_table_query = Table.query
_table_all_items = Table.all_items
_parse_update_expression = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]
_deepcopy = copy.deepcopy


# --- 6 ------------------------------------------------------------------------------------------------------------------
def _create_table_with_ttl_and_pitr(cls: type[Table], resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kwargs: Any) -> Table:
    table = _create_table(cls, resource_name, cloudformation_json, *args, **kwargs)
    properties = cloudformation_json.get("Properties", {})
    backend = dynamodb_backends[table.account_id][table.region_name]
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        backend.update_time_to_live(table.name, {"Enabled": truthy(ttl.get("Enabled")), "AttributeName": ttl["AttributeName"]})
    pitr = properties.get("PointInTimeRecoverySpecification")
    if pitr and truthy(pitr.get("PointInTimeRecoveryEnabled")):
        backend.update_continuous_backups(table.name, {"PointInTimeRecoveryEnabled": True})
    return table


@fix(6)
def tables_get_ttl_and_recovery() -> None:
    """An AWS::DynamoDB::Table made by CloudFormation gets its TimeToLiveSpecification and PointInTimeRecoverySpecification.

    moto: ignores both properties in templates (its UpdateTimeToLive and UpdateContinuousBackups APIs work).
    AWS: the table has TTL on the named attribute and point-in-time recovery enabled.
    Fix: after CloudFormation creates the table, the two settings are applied through moto's own APIs.
    """
    patch(Table, "create_from_cloudformation_json", classmethod(_create_table_with_ttl_and_pitr))


# --- 10 -----------------------------------------------------------------------------------------------------------------
def _at_the_root(name: str) -> Callable[..., Any]:
    """moto's AST node classes all derive from UpdateExpression, so these two checks run on every node and search its
    whole subtree again: O(n^2) for n clauses. The root holds every action, so checking it alone raises the same
    errors."""

    def check(self: Any, node: Any) -> Any:
        if node.parent is not None:
            return node
        return globals()[name](self, node)

    return check


@fix(10)
def update_expressions_are_checked_once() -> None:
    """DynamoDB UpdateItem checks overlapping paths and clause counts once, on the whole expression.

    moto: checks both on every node of the expression, each over its subtree, so an update with n SET clauses costs
    O(n^2) (100 clauses: about 0.45 s).
    AWS: (speed only) the same errors ("Two document paths overlap", too many clauses) at any size.
    Fix: both checks run at the root, which holds every action: the same errors, once per expression.
    """
    patch(OverlappingPathsValidator, "check_for_overlapping_paths", _at_the_root("_check_for_overlapping_paths"))
    patch(ActionCountValidator, "verify_action_counts", _at_the_root("_verify_action_counts"))


# --- 11 -----------------------------------------------------------------------------------------------------------------
ITEM_SIZE_LIMIT = 405000  # moto's own figure (AWS: 400 KB, measured between 409 and 410 KB)
ITEM_SIZE_RECHECK = 300000  # above this the size is summed in full, as moto does (nested values change in place)


def _entry_size(key: str, value: Any) -> int:
    return bytesize(key) + (value.size() if isinstance(value, DynamoType) else bytesize(str(value)))


def limited_setitem(self: LimitedSizeDict, key: str, value: Any) -> None:
    known = self.__dict__.get("_size")
    if known is None:
        known = sum(_entry_size(k, v) for k, v in self.items())
    elif key in self:
        known -= _entry_size(key, dict.__getitem__(self, key))
    new = _entry_size(key, value)
    if known + new > ITEM_SIZE_RECHECK:
        known = sum(_entry_size(k, v) for k, v in self.items() if k != key)
    if known + new > ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge
    dict.__setitem__(self, key, value)
    self.__dict__["_size"] = known + new


def _forgetting_size(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def changed(self: LimitedSizeDict, *args: Any, **kwargs: Any) -> Any:
        self.__dict__.pop("_size", None)
        return method(self, *args, **kwargs)

    return changed


@fix(11)
def item_size_is_kept_as_it_changes() -> None:
    """An item's size is kept as its attributes change, not summed on every set.

    moto: checks the 400 KB limit by summing the whole item on every attribute set, so writing an item of n
    attributes costs O(n^2).
    AWS: (speed only) an item over the limit is refused.
    Fix: the size is kept as it changes (any other change forgets it) and summed in full only near the limit.
    """
    patch(LimitedSizeDict, "__setitem__", limited_setitem)
    for name in ("__delitem__", "pop", "popitem", "clear", "update", "setdefault"):
        patch(LimitedSizeDict, name, _forgetting_size(getattr(dict, name)))


# --- 13 -----------------------------------------------------------------------------------------------------------------
_QUERY = threading.local()  # the partition that this request thread's Query reads


def table_query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name or hash_key is None or not self.range_key_attr:
        return _table_query(self, hash_key, *args, **kwargs)
    _QUERY.partition = (self, hash_key)
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        _QUERY.partition = None


def table_all_items(self: Table) -> list[Any]:
    """Inside a Query on the table's key: that partition's items, which are all that moto keeps of all_items()."""
    hint = getattr(_QUERY, "partition", None)
    if hint is None or hint[0] is not self:
        return _table_all_items(self)
    partition = self.items.get(hint[1]) or {}
    return sorted(partition.values(), key=lambda item: item.range_key)


@fix(13)
def queries_read_their_partition() -> None:
    """A DynamoDB Query on a table's key reads only the partition it asks for.

    moto: collects and sorts every item of the table to pick one partition: O(n log n) in the table's size (50,000
    sensors: about 0.1 s a query), and HTTP 500 ("dictionary changed size during iteration") when a write lands
    meanwhile.
    AWS: a Query reads one partition, whatever else is written.
    Fix: inside a Query on the table's key, moto's all_items() is that partition's items, in range-key order.
    """
    patch(Table, "query", table_query)
    patch(Table, "all_items", table_all_items)


# --- 22 -----------------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2048)
def _parsed_update_expression(cls: type, expression: str) -> Any:
    return _parse_update_expression(cls, expression)


def parse_update_expression(cls: type, expression: str) -> Any:
    """The parsed tree of an UpdateExpression, shared by every request with the same text (a syntax error is raised
    each time: lru_cache keeps no exceptions). moto reads the tree (the names and values it uses) and validates a copy
    of it (Validator makes one), so the shared tree is never changed."""
    return _parsed_update_expression(cls, expression)


def _copy_tree(node: Any, parent: Any, memo: dict[int, Any]) -> Any:
    clone = object.__new__(type(node))
    clone.__dict__.update(node.__dict__)
    clone.parent = parent if node.parent is not None else None
    children = node.children
    if isinstance(children, list):
        clone.children = [
            _copy_tree(child, clone, memo) if isinstance(child, ExpressionNode)
            else child if isinstance(child, (str, int, float, bool, type(None)))
            else _deepcopy(child, memo)
            for child in children
        ]
    return clone


def copy_expression(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """copy.deepcopy for moto's validators: an expression tree whose nodes hold only type, children and parent is
    copied node by node (the same tree deepcopy makes, several times faster); anything else goes to deepcopy."""
    if isinstance(value, ExpressionNode) and value.parent is None and set(vars(value)) == {"type", "children", "parent"}:
        return _copy_tree(value, None, memo if memo is not None else {})
    return _deepcopy(value, memo)


@fix(22)
def update_expressions_are_parsed_once() -> None:
    """DynamoDB UpdateItem parses an UpdateExpression once per text and copies its tree node by node.

    moto: parses the expression twice per request (once to check the names and values used, once to run it) and
    deep-copies the parsed tree with copy.deepcopy before validating it (about a third of an update's time).
    AWS: (speed only) the same results and errors.
    Fix: a parsed expression is kept per expression text (the processor sends the same few expressions with new
    values), and the validator's private copy of the tree is made node by node.
    """
    patch(UpdateExpressionParser, "make", classmethod(parse_update_expression))
    patch(dynamodb_validators, "deepcopy", copy_expression)
