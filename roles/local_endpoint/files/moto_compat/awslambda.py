# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lambda: a function made by CloudFormation keeps its Architectures (fix 5)."""

from __future__ import annotations

from typing import Any, Callable

from moto.awslambda.models import LambdaFunction

from .registry import fix, patch


def _with_architectures(function: LambdaFunction, cloudformation_json: dict[str, Any]) -> LambdaFunction:
    architectures = cloudformation_json.get("Properties", {}).get("Architectures")
    if architectures:
        function.architectures = architectures  # the setter validates like the API does
    return function


def _keeping_architectures(original: Callable[..., LambdaFunction], position: int) -> classmethod:
    """Wrap a CloudFormation create/update classmethod; ``position`` is where moto passes cloudformation_json."""

    def wrapped(cls: type[LambdaFunction], *args: Any, **kwargs: Any) -> LambdaFunction:
        cloudformation_json = kwargs["cloudformation_json"] if "cloudformation_json" in kwargs else args[position]
        return _with_architectures(original(cls, *args, **kwargs), cloudformation_json)

    return classmethod(wrapped)


@fix(5)
def functions_keep_their_architectures() -> None:
    """An AWS::Lambda::Function made by CloudFormation keeps its Architectures.

    moto: ignores the property (always x86_64), so the deployed function would not say which platform its packaged
    wheels were built for.
    AWS: the function gets the architecture the template names (arm64 or x86_64).
    Fix: CloudFormation's create and update set the function's architectures from the property, validated as the API
    validates them.
    """
    # create(resource_name, cloudformation_json, ...) and update(original_resource, new_resource_name, cloudformation_json, ...)
    create = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    update = LambdaFunction.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    patch(LambdaFunction, "create_from_cloudformation_json", _keeping_architectures(create, 1))
    patch(LambdaFunction, "update_from_cloudformation_json", _keeping_architectures(update, 2))
