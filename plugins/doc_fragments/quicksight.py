# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The sharing options of quicksight_data_source, quicksight_data_set and quicksight_dashboard (the argument spec is
    # SHARING_SPEC of module_utils/quicksight.py): who may use the resource, and its tags.
    DOCUMENTATION = r"""
options:
  permissions:
    description:
      - The QuickSight users and groups that may use the resource, and what they may do. Each entry names a
        O(permissions[].principal) and either a O(permissions[].level) or explicit O(permissions[].actions).
      - Omitted, the permissions are left alone. A resource created without permissions is visible to nobody in the
        QuickSight console; grant at least one owner.
    type: list
    elements: dict
    suboptions:
      principal:
        description:
          - V(group/NAME), V(user/NAME) (in O(namespace) of O(identity_region)) or the ARN of a QuickSight user or
            group.
        type: str
        required: true
      level:
        description:
          - "V(viewer) (see and use it: describe it, use a data source or data set, query a dashboard) or V(owner)
            (also update, share and delete it, refresh a data set, publish a dashboard): the console's levels.
            Mutually exclusive with O(permissions[].actions)."
        type: str
        choices: [viewer, owner]
      actions:
        description:
          - The C(quicksight:...) actions to grant instead of a level (1 to 20 of them), for example
            C(quicksight:QueryDashboard).
        type: list
        elements: str
  purge_permissions:
    description:
      - With V(true), principals that O(permissions) does not list lose their permissions; with V(false) they keep
        them. A principal that is listed always ends up with exactly the given actions.
    type: bool
    default: true
  tags:
    description:
      - The tags of the resource, as a dictionary of strings. Omitted, the tags are left alone.
    type: dict
  purge_tags:
    description:
      - With V(true), tags that O(tags) does not name are removed; with V(false) they are kept (only when O(tags) is
        given).
    type: bool
    default: true
  identity_region:
    description:
      - The region where the account's QuickSight users and groups live (its identity region), used in the ARNs of
        the V(group/NAME) and V(user/NAME) principals of O(permissions). Defaults to the region of the module.
    type: str
  namespace:
    description:
      - The QuickSight namespace of the V(group/NAME) and V(user/NAME) principals of O(permissions).
    type: str
    default: default
"""

    # Modules that wait for what QuickSight does asynchronously (the module's description says what).
    WAIT_TIMEOUT = r"""
options:
  wait_timeout:
    description:
      - How many seconds to wait for QuickSight to finish what the task started. When the time is up the task fails;
        QuickSight goes on with the work, and the next run sees where it stands.
    type: int
    default: 600
"""

    # The read-only _info modules.
    INFO = r"""
notes:
  - Read-only; runs the same in check mode.
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
"""
