#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iot_fleet
short_description: Enroll (or remove) many AWS IoT devices in one call, rate limited, with a result per device
version_added: 0.1.0
description:
  - Enrolls a list of devices in one module call. For each device it creates or updates the thing (of
    O(thing_type), with its C(zone) and other attributes), issues a certificate for the device's own CSR (the private
    key stays on the device), and attaches the certificate to the thing and to the device policy O(policy_name).
  - "Idempotent and resumable. A thing that exists is updated only where its attributes differ; a CSR whose public key
    already has a certificate attached to the thing gets that certificate again, not a second one. A run stopped midway
    is completed by running it again. A thing that already holds an ACTIVE certificate for another key is refused for
    that device (rotate it with M(smartcity.iot_analytics.iot_certificate_rotation) instead)."
  - "Every HTTP request, retries included, passes one client-side token bucket of O(rate_limit) requests per second,
    below the IoT control-plane quotas, on O(workers) threads; throttling is retried with jittered backoff. A device's
    failure (a CSR that does not validate, an API error) is its result; the other devices go on."
  - "The thing type is created when missing, with C(zone) searchable. The thing attributes C(cert_id),
    C(cert_expires) and C(cert_issued) record the active certificate, which is what rotation selects on."
  - O(state=absent) removes the listed devices, their certificates (set INACTIVE, detached, deleted) and their things.
author:
  - Smart City Platform Team (@smartcity)
options:
  devices:
    description:
      - The devices.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The thing name, which is also the device's MQTT client id and its certificate's CN.
        type: str
        required: true
      zone:
        description:
          - The device's zone (thing attribute C(zone)).
        type: str
      attributes:
        description:
          - Further thing attributes (string values).
        type: dict
      csr:
        description:
          - The device's certificate signing request, PEM. One of O(devices[].csr) and O(devices[].csr_path) is
            required with O(state=present).
        type: str
      csr_path:
        description:
          - A file holding the CSR, on the host the module runs on.
        type: path
  state:
    description:
      - C(present) enrolls, C(absent) removes.
    type: str
    choices: [present, absent]
    default: present
  thing_type:
    description:
      - The thing type of the devices (created when missing).
    type: str
    required: true
  policy_name:
    description:
      - The device policy to attach to the certificates. Required with O(state=present).
    type: str
  issuer:
    description:
      - C(aws) (CreateCertificateFromCsr) or C(own_ca) (sign with O(ca_certificate_path)/O(ca_private_key_path) and
        RegisterCertificate; the CA is registered first when it is not).
    type: str
    choices: [aws, own_ca]
    default: aws
  ca_certificate_path:
    description:
      - PEM file of the CA certificate (O(issuer=own_ca)).
    type: path
  ca_private_key_path:
    description:
      - PEM file of the CA private key (O(issuer=own_ca)); read, never returned or logged.
    type: path
  certificate_validity_days:
    description:
      - Validity of certificates issued with O(issuer=own_ca).
    type: int
    default: 365
  certificate_dir:
    description:
      - When set, each device's certificate is written to C(<certificate_dir>/<name>.crt) (mode 0644) on the host
        the module runs on, for delivery to the device.
    type: path
  return_certificates:
    description:
      - Return each certificate's PEM in the device's result (large for a big fleet; off by default).
    type: bool
    default: false
  rate_limit:
    description:
      - Requests per second, all calls of the run together, retries included.
    type: float
    default: 8
  workers:
    description:
      - Threads that work on devices at the same time.
    type: int
    default: 8
notes:
  - Check mode reports per device what would be done (C(would_create), C(would_update), C(unchanged)) and writes
    nothing.
attributes:
  check_mode:
    support: full
    description: Reports per device what would be done and writes nothing.
  diff_mode:
    support: none
    description: A fleet run has no before/after document; the per-device results say what changed.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Enroll the sensors of a zone from the CSRs they produced
  smartcity.iot_analytics.iot_fleet:
    thing_type: city-prod-sensor
    policy_name: city-prod-device
    issuer: own_ca
    ca_certificate_path: /etc/smartcity/ca.crt
    ca_private_key_path: /etc/smartcity/ca.key
    certificate_dir: /srv/provisioning/certs
    devices:
      - name: z001-s0001
        zone: z001
        csr_path: /srv/provisioning/csr/z001-s0001.csr
      - name: z001-s0002
        zone: z001
        csr_path: /srv/provisioning/csr/z001-s0002.csr
  register: enrolled

- name: Stop on any failed device
  ansible.builtin.assert:
    that: enrolled.summary.failed | default(0) == 0
    fail_msg: "{{ enrolled.devices | selectattr('status', 'eq', 'failed') | list }}"
"""

RETURN = r"""
devices:
  description: One result per device, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The thing name.
      type: str
    status:
      description: C(created), C(updated), C(unchanged), C(removed), C(absent), C(failed), or in check mode
        C(would_create), C(would_update), C(would_remove).
      type: str
    certificate_id:
      description: The device's certificate.
      type: str
    certificate_pem:
      description: The certificate (only with O(return_certificates)).
      type: str
    error:
      description: Why the device failed.
      type: str
summary:
  description: Number of devices per status.
  returned: always
  type: dict
metrics:
  description: Requests made and the run's duration.
  returned: always
  type: dict
"""

import os
import time

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import iot_pki
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot import IoTError, IoTErrorHandler, iot_client, missing_ok, thing_name_error
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot_bulk import TokenBucket, rate_limited, run_each, summarize
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot_rotation import cert_attributes


class Enrollment:
    def __init__(self, module, iot):
        self.module = module
        self.p = module.params
        self.iot = iot
        self.check_mode = module.check_mode
        self.ca_cert_pem = None
        self.ca_key_pem = None

    @IoTErrorHandler.task_error_handler("preparing the enrollment (CA, policy, thing type)")
    def prepare(self):
        """Whether the CA was registered or activated, or the thing type created, before the devices."""
        changed = False
        if self.p["state"] == "present" and self.p["issuer"] == "own_ca":
            self.ca_cert_pem, self.ca_key_pem = iot_pki.read_ca_files(self.p["ca_certificate_path"], self.p["ca_private_key_path"])
            if not self.check_mode:
                _ca_id, changed = iot_pki.ensure_ca_registered(self.iot, self.ca_cert_pem, self.ca_key_pem)
        if self.p["state"] == "present":
            self.iot.get_policy(policyName=self.p["policy_name"], aws_retry=True)
            if missing_ok(self.iot.describe_thing_type, thingTypeName=self.p["thing_type"], aws_retry=True) is None:
                changed = True
                if not self.check_mode:
                    self.iot.create_thing_type(
                        thingTypeName=self.p["thing_type"],
                        thingTypeProperties={"thingTypeDescription": "smartcity.iot_analytics road sensors", "searchableAttributes": ["zone"]},
                        aws_retry=True,
                    )
        return changed

    def describe(self, name):
        return missing_ok(self.iot.describe_thing, thingName=name, aws_retry=True)

    def csr_of(self, device):
        if device.get("csr"):
            return device["csr"]
        with open(device["csr_path"]) as f:
            return f.read()

    def enroll(self, device):
        name = device["name"]
        result = {"name": name}
        csr = self.csr_of(device)
        try:
            key = iot_pki.validate_csr(csr, thing_name=name)
        except iot_pki.CsrError as error:
            return dict(result, status="failed", error=f"devices[{name}].{error}")
        wanted = {k: str(v) for k, v in (device.get("attributes") or {}).items()}
        if device.get("zone"):
            wanted["zone"] = device["zone"]
        thing = self.describe(name)
        certs = iot_pki.thing_certificates(self.iot, name) if thing else []
        mine = [c for c in certs if c["public_key_sha256"] == key["public_key_sha256"]]
        others = [c for c in certs if c["status"] == "ACTIVE" and c["public_key_sha256"] != key["public_key_sha256"]]
        if others and not mine:
            return dict(
                result,
                status="failed",
                error=f"devices[{name}]: the thing already holds ACTIVE certificate {others[0]['certificate_id']} for another key; "
                "rotate it (iot_certificate_rotation) instead of enrolling again",
            )
        current = (thing or {}).get("attributes") or {}
        attribute_changes = {k: v for k, v in wanted.items() if current.get(k) != v}
        if mine:
            cert = mine[0]
            attribute_changes.update({k: v for k, v in cert_attributes(cert).items() if current.get(k) != v})
        if self.check_mode:
            if thing is None:
                return dict(result, status="would_create")
            return dict(result, status="would_update" if attribute_changes or not mine or mine[0]["status"] != "ACTIVE" else "unchanged")
        status = "created" if thing is None else "unchanged"
        if thing is None:
            self.iot.create_thing(thingName=name, thingTypeName=self.p["thing_type"], attributePayload={"attributes": wanted}, aws_retry=True)
        cert, cert_changed = self.certificate(name, csr, mine[0] if mine else None)
        if cert_changed:
            attribute_changes.update({k: v for k, v in cert_attributes(cert).items() if current.get(k) != v})
            status = "created" if status == "created" else "updated"
        self.iot.attach_policy(policyName=self.p["policy_name"], target=cert["certificate_arn"], aws_retry=True)
        self.iot.attach_thing_principal(thingName=name, principal=cert["certificate_arn"], aws_retry=True)
        if thing is None:
            attribute_changes = cert_attributes(cert)
        if attribute_changes:
            self.iot.update_thing(thingName=name, attributePayload={"attributes": attribute_changes, "merge": True}, aws_retry=True)
            status = "updated" if status == "unchanged" else status
        pem = cert["certificate_pem"]
        if self.p["certificate_dir"]:
            self.write_certificate(name, pem)
        result.update(status=status, certificate_id=cert["certificate_id"])
        if self.p["return_certificates"]:
            result["certificate_pem"] = pem
        return result

    def certificate(self, name, csr, existing):
        """The device's certificate for this CSR: the one it already has (re-activated if needed) or a new one."""
        if existing is not None:
            if existing["status"] == "ACTIVE":
                return existing, False
            self.iot.update_certificate(certificateId=existing["certificate_id"], newStatus="ACTIVE", aws_retry=True)
            return dict(existing, status="ACTIVE"), True
        issued = iot_pki.issue_certificate(
            self.iot,
            self.p["issuer"],
            csr,
            thing_name=name,
            ca_cert_pem=self.ca_cert_pem,
            ca_key_pem=self.ca_key_pem,
            validity_days=self.p["certificate_validity_days"],
        )
        return dict(iot_pki.certificate_info(issued["certificate_pem"]), **issued), True

    def write_certificate(self, name, pem):
        path = os.path.join(self.p["certificate_dir"], f"{name}.crt")
        if os.path.exists(path):
            with open(path) as f:
                if f.read() == pem:
                    return
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(pem)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def remove(self, device):
        name = device["name"]
        thing = self.describe(name)
        if thing is None:
            return {"name": name, "status": "absent"}
        if self.check_mode:
            return {"name": name, "status": "would_remove"}
        for cert in iot_pki.thing_certificates(self.iot, name):
            iot_pki.deactivate_and_delete(self.iot, cert["certificate_id"], cert["certificate_arn"], [name], False)
        self.iot.delete_thing(thingName=name, aws_retry=True)
        return {"name": name, "status": "removed"}


def validate(module):
    p = module.params
    problems = []
    names = set()
    for index, device in enumerate(p["devices"]):
        name = device.get("name") or ""
        problem = thing_name_error(name)
        if problem:
            problems.append(f"devices[{index}].name: {problem}")
        if name in names:
            problems.append(f"devices[{index}].name: {name} is listed twice")
        names.add(name)
        if p["state"] == "present" and bool(device.get("csr")) == bool(device.get("csr_path")):
            problems.append(f"devices[{index}] ({name}): exactly one of csr and csr_path is required")
    if p["state"] == "present" and not p["policy_name"]:
        problems.append("policy_name: required with state=present")
    if p["state"] == "present" and p["issuer"] == "own_ca" and not (p["ca_certificate_path"] and p["ca_private_key_path"]):
        problems.append("ca_certificate_path, ca_private_key_path: required with issuer=own_ca")
    if p["rate_limit"] <= 0:
        problems.append("rate_limit: must be > 0 requests per second")
    if p["workers"] < 1:
        problems.append("workers: must be >= 1")
    if p["certificate_dir"] and not os.path.isdir(p["certificate_dir"]):
        problems.append(f"certificate_dir: {p['certificate_dir']} is not a directory")
    if problems:
        module.fail_json(msg="; ".join(problems))


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            devices=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    name=dict(type="str", required=True),
                    zone=dict(type="str"),
                    attributes=dict(type="dict"),
                    csr=dict(type="str"),
                    csr_path=dict(type="path"),
                ),
            ),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            thing_type=dict(type="str", required=True),
            policy_name=dict(type="str"),
            issuer=dict(type="str", choices=["aws", "own_ca"], default="aws"),
            ca_certificate_path=dict(type="path"),
            ca_private_key_path=dict(type="path", no_log=False),
            certificate_validity_days=dict(type="int", default=365),
            certificate_dir=dict(type="path"),
            return_certificates=dict(type="bool", default=False),
            rate_limit=dict(type="float", default=8),
            workers=dict(type="int", default=8),
        ),
        supports_check_mode=True,
    )
    validate(module)
    started = time.monotonic()
    bucket = TokenBucket(module.params["rate_limit"])
    try:
        enrollment = Enrollment(module, rate_limited(iot_client(module), bucket))
        changed = enrollment.prepare()
        work = enrollment.enroll if module.params["state"] == "present" else enrollment.remove
        results = run_each(module.params["devices"], work, module.params["workers"])
    except IoTError as error:
        module.fail_json_aws_error(error)
    except OSError as error:
        module.fail_json(msg=f"cannot read {error.filename}: {error.strerror}")
    for device, result in zip(module.params["devices"], results):
        result.setdefault("name", device["name"])
    changed = changed or any(r["status"] in ("created", "updated", "removed") for r in results)
    if module.check_mode:
        changed = changed or any(r["status"].startswith("would_") for r in results)
    module.exit_json(
        changed=changed,
        devices=results,
        summary=summarize(results),
        metrics={"requests": bucket.acquired, "seconds": round(time.monotonic() - started, 2)},
    )


if __name__ == "__main__":
    main()
