# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Glue and Athena: databases, tables and workgroups made by CloudFormation (fix 18)."""

from __future__ import annotations

import contextlib
import copy
import types
from typing import Any

import moto.cloudformation.parsing as cloudformation_parsing
from moto.athena.models import athena_backends
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.core.common_models import CloudFormationModel
from moto.core.utils import iso_8601_datetime_without_milliseconds, utcnow
from moto.glue.exceptions import EntityNotFoundException
from moto.glue.models import glue_backends

from .registry import added, fix

# moto has no CloudFormation model for these three types: it logs "No Moto CloudFormation support", skips them and
# still reports CREATE_COMPLETE. These models make them through moto's own Glue and Athena backends, with the Ref AWS
# gives (the name), update them, and delete them with the stack. moto finds models as CloudFormationModel's direct
# __subclasses__() (cached), and its model metaclass files each model under the service its module names: so the
# models below are plain classes, and fix 18 makes them CloudFormationModels (defining one would register it).


class _MadeByStack:
    """What the three models share: Ref = the name, created at once, deleted by name, no Fn::GetAtt by default."""

    def __init__(self, account_id: str, region_name: str, name: str, **identity: str) -> None:
        self.account_id, self.region_name, self.name = account_id, region_name, name
        self.__dict__.update(identity)

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""  # the name is inside DatabaseInput / TableInput

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    def is_created(self) -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        self.delete_from_cloudformation_json(self.name, {"Properties": self._identity()}, account_id, region_name)  # type: ignore[attr-defined]

    def _identity(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _replace(cls, old: Any, new_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> Any:
        """AWS's replacement: the new resource first, then the old one is deleted."""
        new = cls.create_from_cloudformation_json(new_name, cloudformation_json, account_id, region_name)  # type: ignore[attr-defined]
        old.delete(account_id, region_name)
        return new


class GlueDatabaseFromStack(_MadeByStack):
    """AWS::Glue::Database: Glue CreateDatabase with the DatabaseInput as given."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Glue::Database"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> Any:
        database_input = {"Name": resource_name.lower(), **cloudformation_json["Properties"]["DatabaseInput"]}
        glue_backends[account_id][region_name].create_database(database_input["Name"], database_input)
        return cls(account_id, region_name, database_input["Name"])

    @classmethod
    def update_from_cloudformation_json(  # moto passes these by keyword
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        database_input = {"Name": original_resource.name, **cloudformation_json["Properties"]["DatabaseInput"]}
        if database_input["Name"] != original_resource.name:
            return cls._replace(original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        glue_backends[account_id][region_name].update_database(original_resource.name, database_input)  # in place: its tables stay
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
        with contextlib.suppress(EntityNotFoundException):
            glue_backends[account_id][region_name].delete_database(resource_name)  # with its tables, as Glue does


class GlueTableFromStack(_MadeByStack):
    """AWS::Glue::Table: Glue CreateTable in DatabaseName with the TableInput as given."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Glue::Table"

    def _identity(self) -> dict[str, Any]:
        return {"DatabaseName": self.database_name}

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        table_input = {"Name": resource_name.lower(), **copy.deepcopy(properties["TableInput"])}
        glue_backends[account_id][region_name].create_table(
            properties["DatabaseName"], table_input["Name"], table_input, open_table_format_input=properties.get("OpenTableFormatInput")
        )
        return cls(account_id, region_name, table_input["Name"], database_name=properties["DatabaseName"])

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        properties = cloudformation_json["Properties"]
        table_input = {"Name": original_resource.name, **copy.deepcopy(properties["TableInput"])}
        if (properties["DatabaseName"], table_input["Name"]) != (original_resource.database_name, original_resource.name):
            return cls._replace(original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        glue_backends[account_id][region_name].update_table(original_resource.database_name, original_resource.name, table_input)  # a new version
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
        with contextlib.suppress(EntityNotFoundException):  # the stack may have deleted its database (and so the table) first
            glue_backends[account_id][region_name].delete_table(cloudformation_json["Properties"]["DatabaseName"], resource_name)


class AthenaWorkGroupFromStack(_MadeByStack):
    """AWS::Athena::WorkGroup: Athena CreateWorkGroup with WorkGroupConfiguration, Description, Tags and State."""
    ATTRIBUTES = ("CreationTime", "WorkGroupConfiguration.EngineVersion.EffectiveEngineVersion")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Athena::WorkGroup"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.ATTRIBUTES:
            raise UnformattedGetAttTemplateException()
        if attribute_name == "CreationTime":
            return self.creation_time
        return athena_backends[self.account_id][self.region_name].work_groups[self.name].configuration["EngineVersion"]["EffectiveEngineVersion"]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        configuration = copy.deepcopy(properties.get("WorkGroupConfiguration", {}))
        backend = athena_backends[account_id][region_name]
        made = backend.create_work_group(resource_name, configuration, properties.get("Description", ""), properties.get("Tags", []))
        if made is None:
            raise ValidationError(message=f"WorkGroup {resource_name} already exists")
        made.state = properties.get("State", "ENABLED")
        return cls(account_id, region_name, resource_name, creation_time=kwargs.get("creation_time") or iso_8601_datetime_without_milliseconds(utcnow()))

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        if new_resource_name != original_resource.name:
            return cls._replace(original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        # AWS updates a workgroup in place; moto has no UpdateWorkGroup, so it is made again under its name (same CreationTime).
        original_resource.delete(account_id, region_name)
        created = original_resource.creation_time
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name, creation_time=created)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
        backend = athena_backends[account_id][region_name]
        work_group = backend.work_groups.get(resource_name)
        if work_group is not None:
            backend.tagger.delete_all_tags_for_resource(work_group.arn)
            backend.delete_work_group(resource_name)


@fix(18)
def stacks_make_glue_and_athena_resources() -> None:
    """CloudFormation makes AWS::Glue::Database, AWS::Glue::Table and AWS::Athena::WorkGroup.

    moto: has no model for them: it skips them and still reports CREATE_COMPLETE (an Output that Refs one is dropped).
    AWS: creates them.
    Fix: they are made with moto's Glue CreateDatabase/CreateTable (the DatabaseInput/TableInput as given) and Athena
    CreateWorkGroup (WorkGroupConfiguration, Description, Tags, State); Ref is the name, as on AWS. An update changes
    them in place (Glue UpdateDatabase/UpdateTable, a new table version; the workgroup is made again under its name,
    as moto has no UpdateWorkGroup); a new name replaces them; they are deleted with the stack.
    """
    made = []
    for model, service in ((GlueDatabaseFromStack, "glue"), (GlueTableFromStack, "glue"), (AthenaWorkGroupFromStack, "athena")):
        namespace = {"__module__": f"moto.{service}.compat", "__doc__": model.__doc__}
        made.append(types.new_class(model.__name__, (model, CloudFormationModel), exec_body=lambda ns, namespace=namespace: ns.update(namespace)))
    for cached in (cloudformation_parsing.get_model_list, cloudformation_parsing.get_model_map, cloudformation_parsing.get_name_type_map):
        cached.cache_clear()
    for model in made:
        resource_type = model.cloudformation_type()
        added(f"moto.cloudformation.parsing.get_model_map()[{resource_type!r}]",
              lambda resource_type=resource_type, model=model: cloudformation_parsing.get_model_map().get(resource_type) is model)
