#!/usr/bin/python
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iot_certificate
short_description: Issue, register, activate, deactivate and delete AWS IoT device certificates
version_added: 0.1.0
description:
  - Manages one AWS IoT X.509 client certificate, its status and what it is attached to (a thing, policies).
  - "The certificate comes from exactly one source. O(csr): a certificate signing request made on the device,
    signed by Amazon's CA (O(issuer=aws)) or by our own CA (O(issuer=own_ca)), the private key never leaves the
    device. O(certificate_pem): an existing certificate, registered as it is. O(create_keys): AWS IoT makes the key
    pair and the certificate and returns the private key once. O(certificate_id): a certificate already in AWS IoT."
  - A CSR is checked before anything is called. It must be exactly one PEM certificate signing request with a valid
    signature, its subject CN must be the thing name (O(thing)), and its key RSA of 2048 to 4096 bits or ECDSA on
    P-256, P-384 or P-521. A CSR that breaks a rule fails the task with a message that names the rule, and
    nothing is created or attached.
  - "Idempotence. With O(csr), a certificate attached to O(thing) with the CSR's public key is reused, so the same
    CSR twice gives one certificate. With O(create_keys), an ACTIVE certificate attached to O(thing) (any, as AWS
    keeps no record of which were made by this module) means no new certificate; to replace it, delete or
    deactivate it first. With O(certificate_pem), the certificate is found by its id (the SHA-256 of its DER)."
  - O(state=absent) deactivates the certificate, detaches it from every thing and policy and deletes it.
  - Validity dates are read from the certificate itself, not from the API's C(validity) field.
  - Credentials, region and endpoint come from the standard AWS options.
author:
  - Smart City Platform Team (@smartcity)
options:
  state:
    description:
      - V(active) and V(inactive) make sure the certificate exists with that status (issuing or registering it
        when needed); V(absent) makes sure it does not exist.
      - A REVOKED certificate cannot change status; the task fails for it unless O(state=absent).
    type: str
    choices: [active, inactive, absent]
    default: active
  csr:
    description:
      - A PEM certificate signing request (the content, not a path; use a C(lookup('file', ...)) for a file).
      - Needs O(thing); the CSR's subject CN must equal it.
      - Mutually exclusive with O(certificate_pem), O(create_keys) and O(certificate_id).
    type: str
  issuer:
    description:
      - Who signs a O(csr).
      - V(aws) uses CreateCertificateFromCsr (Amazon's CA, validity chosen by AWS).
      - V(own_ca) signs it here with the CA of O(ca_certificate_path) and O(ca_private_key_path) (O(validity_days),
        SHA-256, BasicConstraints CA=false, extended key usage clientAuth) and registers the result. The CA is
        registered in AWS IoT (with a verification certificate for the account's registration code) and made
        ACTIVE when it is not; auto-registration stays off.
    type: str
    choices: [aws, own_ca]
    default: aws
  ca_certificate_path:
    description:
      - PEM file of our own CA certificate. Needed for O(issuer=own_ca).
      - With O(certificate_pem), the certificate is registered as signed by this (registered) CA; without it the
        certificate is registered without a CA (RegisterCertificateWithoutCA).
    type: path
  ca_private_key_path:
    description:
      - PEM file of the CA's unencrypted private key, needed for O(issuer=own_ca). It is read on the host the module
        runs on and never sent to AWS. Keep the file readable only by the user that runs the play.
    type: path
  certificate_pem:
    description:
      - An existing PEM certificate to register (the content). Mutually exclusive with O(csr), O(create_keys) and
        O(certificate_id).
    type: str
  create_keys:
    description:
      - Let AWS IoT create the key pair and the certificate (CreateKeysAndCertificate). Needs O(thing).
      - The private key is returned, in RV(private_key), only by the run that creates it, and AWS cannot
        return it again. Anyone who can read the task's output or log can then impersonate the device, so run such
        a task with C(no_log) set to V(true), store the key at once (for example with M(ansible.builtin.copy),
        C(mode=0600), also under C(no_log)) and prefer O(csr), where the key never leaves the device.
      - Mutually exclusive with O(csr), O(certificate_pem) and O(certificate_id).
    type: bool
  certificate_id:
    description:
      - The id of a certificate already in AWS IoT, to change its status or attachments or to delete it.
      - With O(state=active) or O(state=inactive) a certificate that does not exist fails the task.
    type: str
  thing:
    description:
      - The thing the certificate is attached to (it must exist). Other things stay attached.
      - Required with O(csr) and O(create_keys), where it also decides which certificate is reused.
    type: str
  policies:
    description:
      - IoT policies (names) attached to the certificate; they must exist.
      - Policies not listed are left attached unless O(purge_policies=true).
    type: list
    elements: str
  purge_policies:
    description:
      - Detach the policies that are not in O(policies). Without O(policies), nothing is detached.
    type: bool
    default: false
  validity_days:
    description:
      - Days the certificate is valid, for O(issuer=own_ca). It starts five minutes before it is signed (clock skew).
      - A reused certificate keeps its validity; this option does not renew it.
    type: int
    default: 365
notes:
  - Supports check mode and diff mode. In check mode nothing is created, and a certificate that would be created has
    no id in the result.
  - The private key of a certificate is never returned except by the O(create_keys) run that made it.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Certificate for a device's CSR, signed by our own CA, attached to its thing and policy
  smartcity.iot_analytics.iot_certificate:
    csr: "{{ lookup('ansible.builtin.file', 'csr/cam-0001.csr') }}"
    issuer: own_ca
    ca_certificate_path: /etc/smartcity/ca/ca.crt
    ca_private_key_path: /etc/smartcity/ca/ca.key
    validity_days: 400
    thing: cam-0001
    policies: [smartcity-device]
  register: cert

- name: Certificate for a CSR, signed by Amazon's CA
  smartcity.iot_analytics.iot_certificate:
    csr: "{{ lookup('ansible.builtin.file', 'csr/cam-0002.csr') }}"
    thing: cam-0002
    policies: [smartcity-device]

- name: Keys made by AWS IoT (the private key is in the result once, so no_log)
  smartcity.iot_analytics.iot_certificate:
    create_keys: true
    thing: test-bench-01
    policies: [smartcity-device]
  register: bench_cert
  no_log: true

- name: Deactivate a certificate
  smartcity.iot_analytics.iot_certificate:
    certificate_id: "{{ cert.certificate.certificate_id }}"
    state: inactive

- name: Delete it (deactivated, detached from things and policies, deleted)
  smartcity.iot_analytics.iot_certificate:
    certificate_id: "{{ cert.certificate.certificate_id }}"
    state: absent
"""

RETURN = r"""
certificate:
  description:
    - The certificate after the task. Empty after O(state=absent).
    - In check mode, a certificate that would be created has no RV(certificate.certificate_id), ARN or PEM.
  returned: always
  type: dict
  contains:
    certificate_id:
      description: The certificate id (the SHA-256 of its DER in AWS).
      type: str
      sample: 8a5c3e...
    certificate_arn:
      description: The certificate ARN.
      type: str
      sample: arn:aws:iot:eu-west-1:123456789012:cert/8a5c3e...
    status:
      description: ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER, ...
      type: str
      sample: ACTIVE
    certificate_pem:
      description: The certificate (public; no private key).
      type: str
    ca_certificate_id:
      description: The registered CA that signed it, when AWS knows one.
      type: str
    subject_cn:
      description: The subject's common name, read from the certificate.
      type: str
      sample: cam-0001
    issuer_cn:
      description: The issuer's common name, read from the certificate.
      type: str
    serial_number:
      description: The serial number in lowercase hexadecimal.
      type: str
    not_before:
      description: Start of validity (ISO 8601, UTC), read from the certificate.
      type: str
      sample: "2026-12-01T10:00:00Z"
    not_after:
      description: End of validity (ISO 8601, UTC), read from the certificate.
      type: str
      sample: "2027-12-01T10:05:00Z"
    public_key_sha256:
      description: SHA-256 (hex) of the certificate's SubjectPublicKeyInfo.
      type: str
    things:
      description: Things the certificate is attached to.
      type: list
      elements: str
    policies:
      description: Policies attached to the certificate.
      type: list
      elements: str
private_key:
  description:
    - The PEM private key AWS IoT made, only when O(create_keys) created the certificate in this run.
    - A secret. Run the task with C(no_log) set to V(true) and store it at once; it cannot be fetched again.
  returned: when O(create_keys=true) created a certificate
  type: str
ca_certificate_id:
  description: The id of our CA in AWS IoT, for O(issuer=own_ca) (none in check mode when it would be registered).
  returned: when O(issuer=own_ca) issued or reused a certificate for O(csr)
  type: str
"""

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.smartcity.iot_analytics.plugins.module_utils import iot_pki
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot import IoTError, IoTErrorHandler, iot_client, missing_ok

SOURCES = ("csr", "certificate_pem", "create_keys", "certificate_id")
STATUS = {"active": "ACTIVE", "inactive": "INACTIVE"}
SHOWN = ("status", "things", "policies")


def read_file(module, option):
    path = module.params[option]
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        module.fail_json(msg=f"{option}: cannot read {path}: {error}")


class Certificates:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.check = module.check_mode
        self.result = {}

    # ---- checks before anything changes ----

    def validate(self):
        params = self.params
        given = [name for name in SOURCES if params[name]]
        if len(given) > 1:
            self.module.fail_json(msg="parameters are mutually exclusive: " + ", ".join(given))
        if not given:
            self.module.fail_json(msg="one of csr, certificate_pem, create_keys, certificate_id is required")
        self.source = given[0]
        if self.source in ("csr", "create_keys") and not params["thing"]:
            self.module.fail_json(msg=f"thing: required with {self.source} (the CSR's CN is the thing name; the thing decides what is reused)")
        if self.source == "create_keys" and params["state"] == "absent":
            self.module.fail_json(msg="state: absent needs certificate_id, certificate_pem or csr (create_keys names no certificate)")
        if self.source == "csr" and params["issuer"] == "own_ca":
            missing = [name for name in ("ca_certificate_path", "ca_private_key_path") if not params[name]]
            if missing:
                self.module.fail_json(msg="issuer: own_ca needs " + " and ".join(missing))
        if params["validity_days"] < 1:
            self.module.fail_json(msg=f"validity_days: must be at least 1 (got {params['validity_days']})")
        self.ca_cert_pem = read_file(self.module, "ca_certificate_path") if params["ca_certificate_path"] else None
        self.ca_key_pem = read_file(self.module, "ca_private_key_path") if params["ca_private_key_path"] else None
        try:
            if self.source == "csr":
                self.csr_facts = iot_pki.validate_csr(params["csr"], params["thing"])
            if self.source == "certificate_pem":
                self.pem_facts = iot_pki.certificate_info(params["certificate_pem"])
            if self.ca_cert_pem and self.ca_key_pem:
                iot_pki.check_ca(self.ca_cert_pem, self.ca_key_pem)
        except iot_pki.PkiError as error:
            self.module.fail_json(msg=self._path_message(str(error)))

    def _path_message(self, message):
        """iot_pki names the CA fields by content; the options are paths."""
        for field in ("ca_certificate", "ca_private_key"):
            if message.startswith(field + ":"):
                return field + "_path" + message[len(field) :]
        return message

    def check_targets(self):
        """The thing and the policies must exist before a certificate is made for them."""
        if self.params["thing"] and self.params["state"] != "absent":
            if missing_ok(self.client.describe_thing, thingName=self.params["thing"], aws_retry=True) is None:
                self.module.fail_json(msg=f"thing: no thing named {self.params['thing']!r}")
        policies = self.params["policies"] if self.params["state"] != "absent" else None
        for policy in policies or []:
            if missing_ok(self.client.get_policy, policyName=policy, aws_retry=True) is None:
                self.module.fail_json(msg=f"policies: no policy named {policy!r}")

    # ---- finding the certificate ----

    def find(self):
        """The existing certificate the options name (described), or None."""
        params = self.params
        if self.source == "certificate_id":
            return iot_pki.describe_certificate(self.client, params["certificate_id"])
        if self.source == "certificate_pem":
            return self._find_pem(params["certificate_pem"])
        if self.source == "csr":
            return iot_pki.find_certificate_for_key(self.client, params["thing"], self.csr_facts["public_key_sha256"])
        certs = [cert for cert in iot_pki.thing_certificates(self.client, params["thing"]) if cert["status"] == "ACTIVE"]
        if not certs and params["state"] == "inactive":
            certs = [cert for cert in iot_pki.thing_certificates(self.client, params["thing"]) if cert["status"] == "INACTIVE"]
        return certs[0] if certs else None

    def _find_pem(self, pem):
        for candidate in iot_pki.certificate_id_candidates(pem):
            found = iot_pki.describe_certificate(self.client, candidate)
            if found is not None:
                return found
        if self.params["thing"]:
            for cert in iot_pki.thing_certificates(self.client, self.params["thing"]):
                if (cert.get("public_key_sha256"), cert.get("serial_number")) == (self.pem_facts["public_key_sha256"], self.pem_facts["serial_number"]):
                    return cert
        return None

    def attachments(self, cert):
        if not cert or not cert.get("certificate_arn"):
            return [], []
        return iot_pki.principal_things(self.client, cert["certificate_arn"]), iot_pki.principal_policies(self.client, cert["certificate_arn"])

    # ---- making it ----

    def create(self):
        """A new certificate (in check mode: the facts predicted for it)."""
        params = self.params
        status = STATUS[params["state"]]
        if self.source == "csr":
            ca_id = None
            if params["issuer"] == "own_ca":
                ca_id, _ca_changed = iot_pki.ensure_ca_registered(self.client, self.ca_cert_pem, self.ca_key_pem, self.check)
                self.result["ca_certificate_id"] = ca_id
            if self.check:
                return {"status": status, "subject_cn": self.csr_facts["subject_cn"], "public_key_sha256": self.csr_facts["public_key_sha256"]}
            issued = iot_pki.issue_certificate(
                self.client, params["issuer"], params["csr"], params["thing"], self.ca_cert_pem, self.ca_key_pem, params["validity_days"]
            )
            certificate_id = issued["certificate_id"]
        elif self.source == "certificate_pem":
            if self.check:
                return dict(self.pem_facts, status=status, certificate_pem=params["certificate_pem"])
            if self.ca_cert_pem:
                response = self.client.register_certificate(
                    certificatePem=params["certificate_pem"], caCertificatePem=self.ca_cert_pem, status=status, aws_retry=True
                )
            else:
                response = self.client.register_certificate_without_ca(certificatePem=params["certificate_pem"], status=status, aws_retry=True)
            certificate_id = response["certificateId"]
        elif self.source == "create_keys":
            if self.check:
                return {"status": status}
            response = self.client.create_keys_and_certificate(setAsActive=status == "ACTIVE", aws_retry=True)
            self.result["private_key"] = response["keyPair"]["PrivateKey"]
            certificate_id = response["certificateId"]
        else:
            self.module.fail_json(msg=f"certificate_id: no certificate {params['certificate_id']!r} (state={params['state']} needs one)")
        cert = iot_pki.describe_certificate(self.client, certificate_id)
        if cert["status"] != status:  # CreateCertificateFromCsr and RegisterCertificate(own CA) make ACTIVE ones
            self.client.update_certificate(certificateId=certificate_id, newStatus=status, aws_retry=True)
            cert["status"] = status
        return cert

    # ---- changing it ----

    def set_status(self, cert):
        """Whether the status changed to the one ``state`` asks for."""
        desired = STATUS[self.params["state"]]
        if cert.get("status") == desired:
            return False
        if cert.get("status") == "REVOKED":
            self.module.fail_json(msg=f"state: certificate {cert['certificate_id']} is REVOKED; its status cannot change (use state=absent)")
        if not self.check:
            self.client.update_certificate(certificateId=cert["certificate_id"], newStatus=desired, aws_retry=True)
        cert["status"] = desired
        return True

    def set_attachments(self, cert, things, policies):
        """(changed, things, policies after): the thing and the policies attached (extra policies detached with
        ``purge_policies``)."""
        thing = self.params["thing"]
        arn = cert.get("certificate_arn")
        changed = False
        if thing and thing not in things:
            changed = True
            if not self.check:
                self.client.attach_thing_principal(thingName=thing, principal=arn, aws_retry=True)
            things = sorted([*things, thing])
        wanted = self.params["policies"]
        if wanted is not None:
            for policy in sorted(set(wanted) - set(policies)):
                changed = True
                if not self.check:
                    self.client.attach_policy(policyName=policy, target=arn, aws_retry=True)
            if self.params["purge_policies"]:
                for policy in sorted(set(policies) - set(wanted)):
                    changed = True
                    if not self.check:
                        self.client.detach_policy(policyName=policy, target=arn, aws_retry=True)
                policies = sorted(set(wanted))
            else:
                policies = sorted(set(policies) | set(wanted))
        return changed, things, policies

    # ---- the task ----

    def run(self):
        """(changed, before, after) of the task."""
        self.check_targets()
        current = self.find()
        things, policies = self.attachments(current)
        before = _shown(current, things, policies)
        if self.params["state"] == "absent":
            changed = current is not None and iot_pki.deactivate_and_delete(
                self.client, current["certificate_id"], current["certificate_arn"], things, self.check
            )
            self.result["certificate"] = {}
            return changed, before, {}
        if current is None:
            cert = self.create()
            changed = True
            things, policies = self.attachments(cert)
        else:
            cert = current
            if self.source == "csr" and self.params["issuer"] == "own_ca":
                self.result["ca_certificate_id"] = cert.get("ca_certificate_id")
            changed = self.set_status(cert)
        attached, things, policies = self.set_attachments(cert, things, policies)
        self.result["certificate"] = public_view(cert, things, policies)
        return changed or attached, before, _shown(cert, things, policies)


def _shown(cert, things, policies):
    if cert is None:
        return {}
    return {"certificate_id": cert.get("certificate_id"), "status": cert.get("status"), "things": list(things), "policies": list(policies)}


def public_view(cert, things, policies):
    keys = (
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
        "public_key_sha256",
    )
    view = {key: cert.get(key) for key in keys}
    view.update(things=list(things), policies=list(policies))
    return view


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            state=dict(type="str", choices=["active", "inactive", "absent"], default="active"),
            csr=dict(type="str"),
            issuer=dict(type="str", choices=["aws", "own_ca"], default="aws"),
            ca_certificate_path=dict(type="path"),
            ca_private_key_path=dict(type="path", no_log=False),
            certificate_pem=dict(type="str"),
            create_keys=dict(type="bool"),
            certificate_id=dict(type="str"),
            thing=dict(type="str"),
            policies=dict(type="list", elements="str"),
            purge_policies=dict(type="bool", default=False),
            validity_days=dict(type="int", default=365),
        ),
        supports_check_mode=True,
    )
    if not iot_pki.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(iot_pki.CRYPTOGRAPHY_IMPORT_ERROR))
    certificates = Certificates(module, iot_client(module))
    certificates.validate()
    try:
        changed, before, after = IoTErrorHandler.task_error_handler("managing the IoT certificate")(certificates.run)()
    except iot_pki.PkiError as error:
        module.fail_json(msg=certificates._path_message(str(error)))
    except IoTError as error:
        module.fail_json_aws_error(error)
    result = dict(certificates.result, changed=changed)
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
