#!/usr/bin/env python3
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A launcher fix still to be placed in roles/local_endpoint's moto_compat package, and a shim that applies it.

ExecuteChangeSet updates the stack as AWS does.
moto: applies the change set's resources but leaves the stack's parsed template, outputs and tags as they were: the
stack of an executed CREATE change set (a first deployment that waited for approval) has no outputs at all, and the
stack's other change sets stay AVAILABLE.
AWS: the stack gets the change set's template, parameters, tags and outputs, and CloudFormation deletes the stack's
other change sets.
Fix: after moto's ExecuteChangeSet the stack re-reads its template, rebuilds its outputs, takes the change set's tags,
and the stack's other change sets are deleted.

Until the fix is in the launcher, tests/e2e/test_awx_jobs.py runs the launcher through this file
(-e local_endpoint_python=<this file>): ``moto_execute_change_set.py LAUNCHER ARGS...`` applies the fix and runs the
launcher; ``-c CODE`` is what the local_endpoint role asks its interpreter first.
"""

from __future__ import annotations

import runpy
import sys
from typing import Any


def execute_change_set_updates_the_stack() -> None:
    from moto.cloudformation.models import CloudFormationBackend  # pylint: disable=import-outside-toplevel

    execute_change_set = CloudFormationBackend.execute_change_set

    def executed(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> Any:
        change_set = self.describe_change_set(change_set_name)
        result = execute_change_set(self, change_set_name, stack_name)
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()  # pylint: disable=protected-access
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()  # pylint: disable=protected-access
        if change_set.tags:
            stack.tags = change_set.tags
        for other in [key for key, item in self.change_sets.items() if item.stack_id == stack.stack_id and item is not change_set]:
            del self.change_sets[other]
        return result

    executed.__name__ = "execute_change_set"
    CloudFormationBackend.execute_change_set = executed


if __name__ == "__main__":
    if sys.argv[1:2] == ["-c"]:
        exec(sys.argv[2])  # pylint: disable=exec-used  # the role's "is moto[server] installed" probe
        sys.exit(0)
    execute_change_set_updates_the_stack()
    launcher = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, launcher.rsplit("/", 1)[0])
    runpy.run_path(launcher, run_name="__main__")
