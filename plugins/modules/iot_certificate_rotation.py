#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iot_certificate_rotation
short_description: Rotate the X.509 certificates of a fleet of AWS IoT things, resumably, with the device's own key
version_added: 0.1.0
description:
  - Runs one pass of certificate rotation over a fleet of AWS IoT things. AWS IoT has no built-in rotation.
  - "Selection. Things of O(thing_type) (or the names in O(things)) whose active certificate expires within
    O(expires_within_days) days, or is older than O(max_age_days), are due. At most O(batch) due things, soonest
    expiry first, start a rotation per run. Rotations already in progress always continue."
  - "Per device. The module asks the device for a certificate signing request through the thing's named shadow
    O(shadow_name) (desired C(rotation.step=csr)); the new private key never leaves the device. It validates the CSR
    (it parses, its signature verifies, its subject CN is the thing name, RSA of at least 2048 bits or ECDSA on
    P-256, P-384 or P-521), issues the certificate (O(issuer)), attaches the device policy and the thing, and delivers
    it (desired C(rotation.step=install)). Only when the device reports C(installed) with that certificate id, which it
    does after it reconnected and published with the new certificate, is the old certificate set INACTIVE. After
    O(grace_period_hours) it is detached and deleted."
  - "A device that does not answer keeps its old, active certificate and is reported as C(pending). A CSR that fails
    validation is refused and reported as C(failed) with the reason, and nothing changes for that device."
  - "State. A device's rotation state lives in its thing attributes (C(rotation_id), C(rotation_state),
    C(rotation_old_cert), C(rotation_new_cert), C(rotation_csr_key), C(rotation_at), C(rotation_confirmed_at)) together with C(cert_id),
    C(cert_expires) and C(cert_issued) of the active certificate, so any controller can resume a run. Every step is
    idempotent; a run stopped anywhere is completed by the next one without a second certificate (the key being
    certified is recorded before the certificate is asked for, and its id right after). The things need a
    thing type (things without one hold only 3 attributes); M(smartcity.iot_analytics.iot_fleet) creates it."
  - "Scale. Every HTTP request, retries included, passes one client-side token bucket (O(rate_limit) requests per
    second) below the IoT control-plane quotas, on O(workers) threads; throttling is retried with jittered backoff.
    One device's failure is its result, not the run's."
  - The module waits up to O(wait_timeout) seconds for devices to answer, polling their shadows every
    O(poll_interval) seconds; what is still pending then is picked up by the next run.
author:
  - Smart City Platform Team (@smartcity)
options:
  thing_type:
    description:
      - Rotate the things of this thing type. One of O(thing_type) and O(things) is required.
    type: str
  things:
    description:
      - Rotate these things (names). A name without a thing is reported as C(failed).
    type: list
    elements: str
  policy_name:
    description:
      - The device policy attached to every new certificate (the stack's C(DevicePolicyName) output).
    type: str
    required: true
  issuer:
    description:
      - C(aws) has AWS IoT sign the CSR (CreateCertificateFromCsr).
      - C(own_ca) signs it with your CA (O(ca_certificate_path), O(ca_private_key_path)) and registers the certificate
        (RegisterCertificate); the CA is registered with AWS IoT first when it is not (with a verification certificate
        for the account's registration code).
    type: str
    choices: [aws, own_ca]
    default: aws
  ca_certificate_path:
    description:
      - PEM file of the CA certificate, on the host the module runs on. Required with O(issuer=own_ca).
    type: path
  ca_private_key_path:
    description:
      - PEM file of the CA private key, on the host the module runs on. Required with O(issuer=own_ca).
      - Keep it readable only by the controller's user; it is read, never returned or logged.
    type: path
  certificate_validity_days:
    description:
      - Validity of certificates issued with O(issuer=own_ca). AWS-signed certificates have AWS's validity.
    type: int
    default: 365
  expires_within_days:
    description:
      - A certificate that expires within this many days is due.
    type: int
    default: 30
  max_age_days:
    description:
      - A certificate older than this many days is due, whatever its expiry.
    type: int
  batch:
    description:
      - At most this many rotations start in one run (rotations in progress continue regardless).
    type: int
    default: 500
  grace_period_hours:
    description:
      - Hours between setting the old certificate INACTIVE and deleting it. During the grace period an operator
        can roll back by setting it ACTIVE again (see the rotation runbook in the collection's docs/fleet-rotation.md). C(0) deletes it in the same run.
    type: float
    default: 24
  wait_timeout:
    description:
      - Seconds this run waits for devices to answer before it reports the rest as C(pending).
    type: int
    default: 300
  poll_interval:
    description:
      - Seconds between two reads of the shadows of the devices that are still pending.
    type: float
    default: 5
  shadow_name:
    description:
      - The named shadow that carries the rotation conversation with the devices.
    type: str
    default: cert-rotation
  data_endpoint_url:
    description:
      - The IoT data-plane endpoint for the shadows. Defaults to O(endpoint_url) when that is set (a local endpoint),
        else to the account's C(iot:Data-ATS) endpoint from DescribeEndpoint.
    type: str
  rate_limit:
    description:
      - Requests per second, all calls of the run together, retries included.
    type: float
    default: 8
  shadow_rate_limit:
    description:
      - Requests per second to the shadows (the IoT data plane, whose quotas are far higher than the control
        plane's), paced separately from O(rate_limit).
    type: float
    default: 50
  workers:
    description:
      - Threads that work on devices at the same time.
    type: int
    default: 8
  max_failed:
    description:
      - The run's failures exceed the threshold (RV(verdict.over_threshold)) when more devices than this failed and,
        when O(max_failed_percent) is set, more than that percentage of the devices worked on. Pending devices are not
        failures. The module reports the verdict and does not fail on it, so that the caller can record the run first
        (the P(smartcity.iot_analytics.certificate_rotation#role) role writes its report, then fails on it).
    type: int
    default: 0
  max_failed_percent:
    description:
      - With O(max_failed), the percentage (0 to 100) of the devices worked on (all but C(not_due) and C(deferred))
        that the failed devices must also exceed; unset, O(max_failed) alone decides.
    type: float
notes:
  - "Check mode reports which devices would start a rotation (C(would_start)) and which are in progress, and writes
    nothing."
  - The IAM identity needs iot:ListThings, DescribeThing, UpdateThing, GetPolicy, DescribeCertificate,
    CreateCertificateFromCsr or RegisterCertificate (and RegisterCACertificate, GetRegistrationCode, ListCACertificates,
    DescribeCACertificate for own_ca), AttachPolicy, DetachPolicy, AttachThingPrincipal, DetachThingPrincipal,
    ListThingPrincipals, ListPrincipalThings, ListAttachedPolicies, UpdateCertificate, DeleteCertificate, and
    iot:GetThingShadow and iot:UpdateThingShadow on the things' shadow.
attributes:
  check_mode:
    support: full
    description: Reports which devices would start a rotation and which are in progress; writes nothing.
  diff_mode:
    support: none
    description: A fleet run has no before/after document; the per-device results say what changed.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Rotate what expires within 30 days, 500 devices per run, own CA
  smartcity.iot_analytics.iot_certificate_rotation:
    thing_type: city-prod-sensor
    policy_name: city-prod-device
    issuer: own_ca
    ca_certificate_path: /etc/smartcity/ca.crt
    ca_private_key_path: /etc/smartcity/ca.key
    expires_within_days: 30
    batch: 500
  register: rotation

- name: Fail when more than 2 devices and more than 1 % of those worked on failed
  smartcity.iot_analytics.iot_certificate_rotation:
    thing_type: city-prod-sensor
    policy_name: city-prod-device
    max_failed: 2
    max_failed_percent: 1
  register: rotation

- name: Stop here when the failures exceed the threshold
  ansible.builtin.assert:
    that: not rotation.verdict.over_threshold
    fail_msg: "{{ rotation.verdict.failed }} devices failed, over the threshold ({{ rotation.verdict.threshold }}): {{ rotation.verdict.failed_devices }}"
"""

RETURN = r"""
devices:
  description: One result per thing considered, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    thing_name:
      description: The thing.
      type: str
    status:
      description:
        - C(rotated) finished (old certificate deleted), C(in_grace) confirmed (old certificate INACTIVE, deleted after
          the grace period), C(pending) waiting for the device, C(failed) see RV(devices[].reason), C(not_due), C(deferred) due but
          over the batch, C(would_start) and C(in_progress) in check mode.
      type: str
    step:
      description: The rotation state at the end of the run (requested, issued, confirmed, done).
      type: str
    reason:
      description: Why the device is due, pending or failed.
      type: str
    rotation_id:
      description: The rotation's id (also in the thing attribute C(rotation_id) and the shadow).
      type: str
    old_certificate_id:
      description: The certificate being replaced.
      type: str
    new_certificate_id:
      description: The new certificate.
      type: str
    pending_seconds:
      description: Seconds since the rotation's last step.
      type: int
summary:
  description: Number of devices per status.
  returned: always
  type: dict
  sample: {"rotated": 98, "pending": 1, "failed": 1, "not_due": 0, "deferred": 0, "in_grace": 0}
metrics:
  description: What the run did and how fast.
  returned: always
  type: dict
  contains:
    requests:
      description: HTTP requests made to the IoT control plane (through the O(rate_limit) bucket).
      type: int
    shadow_requests:
      description: HTTP requests made to the shadows (through the O(shadow_rate_limit) bucket).
      type: int
    seconds:
      description: Duration of the run.
      type: float
    finished_seconds:
      description: Seconds from the run's start until its last rotation finished (rotated or in_grace); the rest of
        the run waited for pending devices.
      type: float
    devices_per_minute:
      description: Rotations finished (rotated or in_grace) per minute, over RV(metrics.finished_seconds).
      type: float
verdict:
  description: The run's failures weighed against O(max_failed) and O(max_failed_percent).
  returned: always
  type: dict
  contains:
    failed:
      description: Devices whose status is C(failed).
      type: int
      sample: 3
    worked_on:
      description: Devices the run worked on (every status but C(not_due) and C(deferred)).
      type: int
      sample: 120
    failed_percent:
      description: RV(verdict.failed) as a percentage of RV(verdict.worked_on), rounded to 2 decimals (0.0 when none were worked on).
      type: float
      sample: 2.5
    max_failed:
      description: O(max_failed).
      type: int
      sample: 0
    max_failed_percent:
      description: O(max_failed_percent) (none when unset).
      type: float
    over_threshold:
      description: Whether the failures exceed the threshold; a caller that stops on it needs this one field.
      type: bool
      sample: true
    threshold:
      description: The threshold in words, for messages.
      type: str
      sample: more than 0 failed device(s)
    failed_devices:
      description: The names of the failed things, in the order of RV(devices) (their reasons are in RV(devices)).
      type: list
      elements: str
      sample: ["rot-z002-s0001"]
"""

import time

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot import IoTError, IoTErrorHandler, iot_client
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot_bulk import TokenBucket, rate_limited
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot_rotation import FleetRotation, Shadow, summarize, verdict


def data_client(module, control):
    url = module.params.get("data_endpoint_url") or module.params.get("endpoint_url")
    if not url:
        address = control.describe_endpoint(endpointType="iot:Data-ATS", aws_retry=True)["endpointAddress"]
        url = f"https://{address}"
    return iot_client(module, "iot-data", endpoint=url)


def validate(module):
    p = module.params
    problems = []
    for field in ("batch", "workers", "certificate_validity_days", "wait_timeout"):
        if p[field] is not None and p[field] < (0 if field == "wait_timeout" else 1):
            problems.append(f"{field}: must be >= {0 if field == 'wait_timeout' else 1}")
    for field in ("expires_within_days", "grace_period_hours", "max_failed"):
        if p[field] < 0:
            problems.append(f"{field}: must be >= 0")
    if p["max_age_days"] is not None and p["max_age_days"] < 1:
        problems.append("max_age_days: must be >= 1")
    for field in ("rate_limit", "shadow_rate_limit"):
        if p[field] <= 0:
            problems.append(f"{field}: must be > 0 requests per second")
    if p["poll_interval"] <= 0:
        problems.append("poll_interval: must be > 0 seconds")
    if p["max_failed_percent"] is not None and not 0 <= p["max_failed_percent"] <= 100:
        problems.append("max_failed_percent: must be between 0 and 100")
    if problems:
        module.fail_json(msg="; ".join(problems))


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            thing_type=dict(type="str"),
            things=dict(type="list", elements="str"),
            policy_name=dict(type="str", required=True),
            issuer=dict(type="str", choices=["aws", "own_ca"], default="aws"),
            ca_certificate_path=dict(type="path"),
            ca_private_key_path=dict(type="path", no_log=False),
            certificate_validity_days=dict(type="int", default=365),
            expires_within_days=dict(type="int", default=30),
            max_age_days=dict(type="int"),
            batch=dict(type="int", default=500),
            grace_period_hours=dict(type="float", default=24),
            wait_timeout=dict(type="int", default=300),
            poll_interval=dict(type="float", default=5),
            shadow_name=dict(type="str", default="cert-rotation"),
            data_endpoint_url=dict(type="str"),
            rate_limit=dict(type="float", default=8),
            shadow_rate_limit=dict(type="float", default=50),
            workers=dict(type="int", default=8),
            max_failed=dict(type="int", default=0),
            max_failed_percent=dict(type="float"),
        ),
        required_one_of=[("thing_type", "things")],
        required_if=[("issuer", "own_ca", ("ca_certificate_path", "ca_private_key_path"))],
        supports_check_mode=True,
    )
    validate(module)
    started = time.monotonic()
    bucket = TokenBucket(module.params["rate_limit"])
    shadow_bucket = TokenBucket(module.params["shadow_rate_limit"])
    try:
        control = rate_limited(iot_client(module), bucket)
        data = IoTErrorHandler.common_error_handler("find the IoT data endpoint")(data_client)(module, control)
        shadow = Shadow(rate_limited(data, shadow_bucket), module.params["shadow_name"])
        rotation = FleetRotation(control, shadow, module.params, check_mode=module.check_mode)
        results = IoTErrorHandler.task_error_handler("certificate rotation")(rotation.run)()
    except IoTError as error:
        module.fail_json_aws_error(error)
    except OSError as error:
        module.fail_json(msg=f"issuer own_ca: cannot read {error.filename}: {error.strerror}")
    seconds = round(time.monotonic() - started, 2)
    summary = summarize(results)
    finished = summary.get("rotated", 0) + summary.get("in_grace", 0)
    module.exit_json(
        changed=rotation.changed,
        devices=results,
        summary=summary,
        verdict=verdict(results, module.params["max_failed"], module.params["max_failed_percent"]),
        metrics={
            "requests": bucket.acquired,
            "shadow_requests": shadow_bucket.acquired,
            "seconds": seconds,
            "finished_seconds": round(rotation.last_finished_seconds, 2),
            "devices_per_minute": round(finished * 60 / rotation.last_finished_seconds, 1) if rotation.last_finished_seconds else 0.0,
        },
    )


if __name__ == "__main__":
    main()
