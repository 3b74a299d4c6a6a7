# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS's behaviour for moto in server mode, where the collection needs it: the local endpoint's numbered fixes.

moto 5.2.5 differs from AWS where an idempotent, check-mode-capable deployment needs AWS's answer (CloudFormation
change sets and parameters, executed change sets, resources CloudFormation makes, EventBridge targets), lacks calls the collection makes
(IoT, Glue and Athena through CloudFormation, QuickSight), and is too slow at the data plane's rates. Each fix is a
function ``@fix(N)`` in the module of the service it changes; its docstring says what moto does, what AWS does and
what the fix does (docs/local-endpoint.md lists them):

- ``cloudformation``: 1-4 (change sets, no-op updates, parameter validation), 26 (executed change sets)
- ``awslambda``: 5 (a function's Architectures)
- ``dynamodb``: 6 (TTL and recovery of a table), 10, 11, 13, 22 (the cost of UpdateItem and Query)
- ``events``: 7 (an archive's EventPattern object), 9 (PutEvents to SNS, Lambda and Kinesis targets)
- ``iot``: 8 (policies made by CloudFormation), 15-17 (CA list, DeleteCertificate, certificates from CSRs)
- ``core``: 12, 21, 23 (routing, kept-alive connections, request ids)
- ``kinesis``: 14, 24 (PutRecords without Docker, GetRecords from the iterator's position)
- ``glue_athena``: 18 (Glue databases and tables and Athena workgroups made by CloudFormation)
- ``quicksight``: 19, 20 (Enterprise account, data sets, permissions, refresh, dashboard versions, ingestions)
- ``stepfunctions``: 25 (state machines made by CloudFormation)

Importing the package changes nothing; ``apply()`` applies every fix, once, and only to the moto version the fixes
were reviewed against (``MOTO_VERSION``, the same as requirements/dev.txt). Pointed at AWS or LocalStack, the
collection does not use this package.
"""

from __future__ import annotations

import moto

from . import awslambda, cloudformation, core, dynamodb, events, glue_athena, iot, kinesis, quicksight, stepfunctions  # noqa: F401  register their fixes
from .registry import FIXES, Fix, run

# The moto release every fix was reviewed against. Bump it only after reviewing each fix against the new release
# (tests/unit/moto_compat/ runs each against moto's own behaviour), together with requirements/dev.in and dev.txt.
MOTO_VERSION = "5.2.5"
SERVICES = ("cloudformation", "awslambda", "dynamodb", "events", "iot", "core", "kinesis", "glue_athena", "quicksight", "stepfunctions")


class MotoVersionError(RuntimeError):
    """The installed moto is not the release the fixes were reviewed against."""


def check_moto_version(installed: str | None = None) -> None:
    """MotoVersionError unless the installed moto is MOTO_VERSION."""
    installed = moto.__version__ if installed is None else installed
    if installed != MOTO_VERSION:
        raise MotoVersionError(
            f"The local endpoint's moto fixes (roles/local_endpoint/files/moto_compat) were reviewed against moto {MOTO_VERSION}, "
            f"but moto {installed} is installed. They replace private moto methods, which {installed} may have changed: "
            f"install moto[server]=={MOTO_VERSION} (requirements/dev.txt, scripts/setup), or review each fix against moto {installed} "
            "(docs/local-endpoint.md; tests/unit/moto_compat/ runs each fix against moto), then set MOTO_VERSION in "
            f"moto_compat/__init__.py and the moto pin in requirements/dev.in and dev.txt to {installed}."
        )


def apply() -> list[int]:
    """Apply every fix to moto, in number order, once (later calls change nothing); the numbers of the fixes applied.

    Refuses (MotoVersionError) any moto other than MOTO_VERSION, before changing anything."""
    check_moto_version()
    for number in sorted(FIXES):
        if not FIXES[number].applied:
            run(FIXES[number])
    return sorted(FIXES)


__all__ = ["FIXES", "MOTO_VERSION", "SERVICES", "Fix", "MotoVersionError", "apply", "check_moto_version"]
