#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iot_certificate_info
short_description: List AWS IoT device certificates with their validity, things and policies
version_added: 0.1.0
description:
  - Lists AWS IoT client certificates, selected by id (O(certificate_ids)), by the thing they are attached to
    (O(thing)), by the registered CA that signed them (O(ca_certificate_id)), or all of the account's certificates
    in the region when none of these is given.
  - Validity (RV(certificates[].not_before), RV(certificates[].not_after), RV(certificates[].days_to_expiry)) is
    read from each certificate's PEM, not from the API's C(validity) field, which emulators such as moto make up.
  - O(expires_within_days) keeps the certificates that expire within that many days (expired ones included),
    the list to renew. O(status) keeps those with that status.
  - Credentials, region and endpoint come from the standard AWS options.
author:
  - Smart City Platform Team (@smartcity)
options:
  certificate_ids:
    description:
      - Certificate ids to describe. Ids that do not exist are left out of the result (and listed in
        RV(missing_certificate_ids)).
    type: list
    elements: str
    aliases: [certificate_id]
  thing:
    description:
      - The certificates attached to this thing. A thing that does not exist has none.
    type: str
  ca_certificate_id:
    description:
      - The certificates registered as signed by this registered CA (ListCertificatesByCA).
    type: str
  expires_within_days:
    description:
      - Keep only certificates whose notAfter is less than this many days away (already expired ones too).
    type: int
  status:
    description:
      - Keep only certificates with this status.
    type: str
    choices: [ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER, REGISTER_INACTIVE, PENDING_ACTIVATION]
  include_pem:
    description:
      - Return each certificate's PEM (public data) in RV(certificates[].certificate_pem).
    type: bool
    default: true
notes:
  - O(certificate_ids), O(thing) and O(ca_certificate_id) are mutually exclusive.
  - Private keys are never returned (AWS IoT does not keep them).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Certificates that expire within 30 days (to renew)
  smartcity.iot_analytics.iot_certificate_info:
    expires_within_days: 30
    status: ACTIVE
  register: expiring

- name: The certificates of one device
  smartcity.iot_analytics.iot_certificate_info:
    thing: cam-0001

- name: Certificates signed by our CA
  smartcity.iot_analytics.iot_certificate_info:
    ca_certificate_id: "{{ ca_id }}"
    include_pem: false
"""

RETURN = r"""
certificates:
  description: The certificates selected, sorted by notAfter (soonest first), then id.
  returned: always
  type: list
  elements: dict
  contains:
    certificate_id:
      description: The certificate id.
      type: str
    certificate_arn:
      description: The certificate ARN.
      type: str
    status:
      description: ACTIVE, INACTIVE, REVOKED, ...
      type: str
      sample: ACTIVE
    certificate_pem:
      description: The certificate PEM, when O(include_pem=true).
      type: str
    ca_certificate_id:
      description: The registered CA that signed it, when AWS knows one.
      type: str
    subject_cn:
      description: The subject's common name (the thing name for device certificates).
      type: str
    issuer_cn:
      description: The issuer's common name.
      type: str
    serial_number:
      description: The serial number in lowercase hexadecimal.
      type: str
    not_before:
      description: Start of validity, ISO 8601 UTC, from the PEM.
      type: str
      sample: "2026-12-01T10:00:00Z"
    not_after:
      description: End of validity, ISO 8601 UTC, from the PEM.
      type: str
      sample: "2027-12-01T10:05:00Z"
    days_to_expiry:
      description: Whole days until notAfter (rounded down; negative once expired).
      type: int
      sample: 364
    things:
      description: Things the certificate is attached to.
      type: list
      elements: str
    policies:
      description: Policies attached to the certificate.
      type: list
      elements: str
missing_certificate_ids:
  description: Ids of O(certificate_ids) that do not exist.
  returned: when O(certificate_ids) is given
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import iot_pki
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot import IoTError, IoTErrorHandler, iot_client, paginate

DAY = 86400
FIELDS = (
    "certificate_id",
    "certificate_arn",
    "status",
    "certificate_pem",
    "ca_certificate_id",
    "subject_cn",
    "issuer_cn",
    "serial_number",
    "not_before",
    "not_after",
)


def selected_ids(module, client):
    """(ids to describe, ids asked for that do not exist are found later)."""
    params = module.params
    if params["certificate_ids"]:
        return list(dict.fromkeys(params["certificate_ids"]))
    if params["thing"]:
        return [iot_pki.certificate_id_from_arn(arn) for arn in iot_pki.thing_certificate_arns(client, params["thing"])]
    if params["ca_certificate_id"]:
        return [cert["certificateId"] for cert in paginate(client, "list_certificates_by_ca", "certificates", caCertificateId=params["ca_certificate_id"])]
    return [cert["certificateId"] for cert in paginate(client, "list_certificates", "certificates")]


def days_to_expiry(cert, now):
    if cert.get("not_after_epoch") is None:
        return None
    return int((cert["not_after_epoch"] - now) // DAY)


def keep(module, cert, now):
    params = module.params
    if params["status"] and cert.get("status") != params["status"]:
        return False
    if params["expires_within_days"] is not None:
        expiry = cert.get("not_after_epoch")
        if expiry is None or expiry - now >= params["expires_within_days"] * DAY:
            return False
    return True


@IoTErrorHandler.task_error_handler("listing IoT certificates")
def gather(module, client):
    now = time.time()
    certificates, missing = [], []
    for certificate_id in selected_ids(module, client):
        cert = iot_pki.describe_certificate(client, certificate_id)
        if cert is None:
            missing.append(certificate_id)
            continue
        if not keep(module, cert, now):
            continue
        view = {key: cert.get(key) for key in FIELDS}
        if not module.params["include_pem"]:
            view.pop("certificate_pem")
        view["days_to_expiry"] = days_to_expiry(cert, now)
        view["things"] = iot_pki.principal_things(client, cert["certificate_arn"])
        view["policies"] = iot_pki.principal_policies(client, cert["certificate_arn"])
        view["_sort"] = (cert.get("not_after_epoch") if cert.get("not_after_epoch") is not None else float("inf"), cert["certificate_id"])
        certificates.append(view)
    certificates.sort(key=lambda view: view["_sort"])
    for view in certificates:
        del view["_sort"]
    return certificates, missing


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            certificate_ids=dict(type="list", elements="str", aliases=["certificate_id"]),
            thing=dict(type="str"),
            ca_certificate_id=dict(type="str"),
            expires_within_days=dict(type="int"),
            status=dict(type="str", choices=["ACTIVE", "INACTIVE", "REVOKED", "PENDING_TRANSFER", "REGISTER_INACTIVE", "PENDING_ACTIVATION"]),
            include_pem=dict(type="bool", default=True),
        ),
        mutually_exclusive=[["certificate_ids", "thing", "ca_certificate_id"]],
        supports_check_mode=True,
    )
    if not iot_pki.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(iot_pki.CRYPTOGRAPHY_IMPORT_ERROR))
    client = iot_client(module)
    try:
        certificates, missing = gather(module, client)
    except IoTError as error:
        module.fail_json_aws_error(error)
    result = {"changed": False, "certificates": certificates}
    if module.params["certificate_ids"]:
        result["missing_certificate_ids"] = missing
    module.exit_json(**result)


if __name__ == "__main__":
    main()
