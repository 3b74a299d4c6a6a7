# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The numbered fixes and what each one replaced in moto.

A fix is a function decorated with ``@fix(N)`` in its service's module; its docstring says what moto does, what AWS
does and what the fix does. Importing a module only registers its fixes: moto is changed by ``moto_compat.apply()``,
which runs each fix once, in number order. A fix changes moto only through ``patch`` and ``patch_item`` (or says what
it added with ``added``), so that every change is recorded with the fix that made it and can be checked.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

_MISSING = object()


@dataclasses.dataclass
class Change:
    """One change a fix made to moto: ``where`` it is, the value before (moto's, or an earlier fix's that this one
    wraps), the value set, and how to tell it is still in place."""

    where: str
    original: Any
    value: Any
    in_place: Callable[[], bool]


@dataclasses.dataclass
class Fix:
    number: int
    function: Callable[[], None]
    changes: list[Change] = dataclasses.field(default_factory=list)

    @property
    def module(self) -> str:
        return self.function.__module__

    @property
    def title(self) -> str:
        return (self.function.__doc__ or "").strip().splitlines()[0] if self.function.__doc__ else ""

    @property
    def applied(self) -> bool:
        return bool(self.changes)


FIXES: dict[int, Fix] = {}
_APPLYING: list[Fix] = []


def fix(number: int) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register the decorated function as fix ``number`` (each number once)."""

    def register(function: Callable[[], None]) -> Callable[[], None]:
        if number in FIXES:
            known = FIXES[number].function
            raise ValueError(f"fix {number} is registered twice: {known.__module__}.{known.__name__} and {function.__module__}.{function.__name__}")
        FIXES[number] = Fix(number, function)
        return function

    return register


def run(item: Fix) -> None:
    """Apply one fix, recording its changes (moto_compat.apply() calls this in number order)."""
    _APPLYING.append(item)
    try:
        item.function()
    finally:
        _APPLYING.pop()
    if not item.changes:
        raise RuntimeError(f"fix {item.number} ({item.module}.{item.function.__name__}) changed nothing in moto")


def _recording() -> Fix:
    if not _APPLYING:
        raise RuntimeError("moto is changed only by moto_compat.apply(), one fix at a time")
    return _APPLYING[-1]


def patch(owner: Any, name: str, value: Any) -> None:
    """Set ``owner.name`` (a class's or a module's attribute) to ``value`` for the fix being applied."""
    current = _recording()
    original = vars(owner)[name] if name in vars(owner) else getattr(owner, name, _MISSING)
    setattr(owner, name, value)
    where = f"{owner.__module__}.{owner.__qualname__}" if isinstance(owner, type) else owner.__name__
    current.changes.append(Change(f"{where}.{name}", original, value, lambda: vars(owner).get(name, _MISSING) is value))


def patch_item(mapping: dict[Any, Any], key: Any, value: Any, where: str) -> None:
    """Set ``mapping[key]`` (``where`` names the mapping) to ``value`` for the fix being applied."""
    current = _recording()
    original = mapping.get(key, _MISSING)
    mapping[key] = value
    current.changes.append(Change(f"{where}[{key!r}]", original, value, lambda: mapping.get(key, _MISSING) is value))


def added(where: str, in_place: Callable[[], bool]) -> None:
    """Record something the fix being applied added to moto that is neither an attribute nor a mapping item."""
    _recording().changes.append(Change(where, _MISSING, None, in_place))
