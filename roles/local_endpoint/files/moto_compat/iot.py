# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IoT: policies made by CloudFormation (fix 8); ListCACertificates, DeleteCertificate, CreateCertificateFromCsr (15-17)."""

from __future__ import annotations

import datetime
import functools
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from moto.core.responses import ActionResult
from moto.iot.exceptions import CertificateStateException, DeleteConflictException
from moto.iot.models import FakeCertificate, FakePolicy, IoTBackend, iot_backends
from moto.iot.responses import IoTResponse

from .cloudformation import with_json_property
from .registry import fix, patch


# --- 8 ------------------------------------------------------------------------------------------------------------------
def _delete_iot_policy(cls: type[FakePolicy], resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
    """Delete a CloudFormation-made IoT policy as AWS does: its non-default versions first, then the policy."""
    backend = iot_backends[account_id][region_name]
    # moto passes the physical id (the policy name, see physical_resource_id below) and the unresolved properties.
    name = resource_name if isinstance(resource_name, str) else cloudformation_json.get("Properties", {}).get("PolicyName")
    policy = backend.policies.get(name)
    if policy is None:
        return
    for version in list(policy.versions):
        if not version.is_default:
            backend.delete_policy_version(name, version.version_id)
    backend.delete_policy(policy_name=name)


@fix(8)
def policies_from_stacks_are_named_json_and_deletable() -> None:
    """An AWS::IoT::Policy made by CloudFormation: Ref is its name, its document JSON, and it is deleted with the stack.

    moto: its Ref is an object's repr instead of the policy name, GetPolicy returns its document as a Python repr
    instead of JSON, and deleting it after an update fails (DeleteConflict: non-default versions).
    AWS: returns the name and JSON, and deletes the old versions with the policy.
    Fix: the PolicyDocument object reaches moto as JSON text, the physical id is the name, and deleting it deletes
    its non-default versions first.
    """
    with_json_property(FakePolicy, "PolicyDocument")
    patch(FakePolicy, "physical_resource_id", property(lambda self: self.name))  # Ref = the policy name
    patch(FakePolicy, "delete_from_cloudformation_json", classmethod(_delete_iot_policy))


# --- 15 -----------------------------------------------------------------------------------------------------------------
def list_ca_certificates(self: IoTResponse) -> Any:
    certificates = sorted(self.iot_backend.ca_certificates.values(), key=lambda c: c.creation_date)
    return ActionResult(
        {
            "certificates": [
                {"certificateArn": c.arn, "certificateId": c.certificate_id, "status": c.status, "creationDate": c.creation_date}
                for c in certificates
            ]
        }
    )


@fix(15)
def ca_certificates_are_listed() -> None:
    """IoT ListCACertificates lists the registered CA certificates.

    moto: not implemented (HTTP 500), though RegisterCACertificate and DescribeCACertificate are; registering your own
    CA idempotently (issuer own_ca) and the data plane's certificate-status sync need it.
    AWS: lists them (ARN, id, status, creation date).
    Fix: lists moto's registered CA certificates as AWS does (one page).
    """
    patch(IoTResponse, "list_ca_certificates", list_ca_certificates)


# --- 16 -----------------------------------------------------------------------------------------------------------------
def validation_delete(self: IoTBackend, cert: FakeCertificate, force_delete: bool = False) -> None:
    if cert.status == "ACTIVE":
        raise CertificateStateException("Certificate must be deactivated (not ACTIVE) before deletion.", cert.certificate_id)
    if any(key[0] == cert.arn for key in list(self.principal_things)):
        raise DeleteConflictException(f"Things must be detached before deletion (arn: {cert.arn})")
    if not force_delete and any(key[0] == cert.arn for key in list(self.principal_policies)):
        raise DeleteConflictException(f"Certificate policies must be detached before deletion (arn: {cert.arn})")


@fix(16)
def delete_certificate_checks_its_own_attachments() -> None:
    """IoT DeleteCertificate checks the certificate's own attachments.

    moto: resolves every principal of the account while iterating the live attachment maps: O(all attachments) per
    delete, and HTTP 500 ("dictionary changed size during iteration", or a principal deleted meanwhile) when
    attachments change concurrently, as in a fleet rotation.
    AWS: DeleteConflict while the certificate is attached, whatever else changes.
    Fix: checks the certificate's own ARN against a snapshot of the attachments, with moto's errors.
    """
    patch(IoTBackend, "_validation_delete", validation_delete)


# --- 17 -----------------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _moto_ca_key() -> ec.EllipticCurvePrivateKey:
    """This endpoint's stand-in for the AWS IoT CA's key (made on first use, never stored)."""
    return ec.generate_private_key(ec.SECP256R1())


def create_certificate_from_csr(self: IoTBackend, csr: str, set_as_active: bool) -> FakeCertificate:
    request = x509.load_pem_x509_csr(csr.encode("utf-8"))
    issuer = x509.Name([x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Moto"), x509.NameAttribute(x509.NameOID.COMMON_NAME, "Moto")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(issuer)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(_moto_ca_key(), hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("utf-8")
    return self.register_certificate(pem, ca_certificate_pem=None, set_as_active=set_as_active, status="INACTIVE")


@fix(17)
def certificates_from_csrs_certify_the_csr_key() -> None:
    """IoT CreateCertificateFromCsr certifies the CSR's key and subject.

    moto: certifies a fresh key that moto makes itself, not the CSR's public key, so a device could never use the
    certificate and nobody could tell which CSR it came from.
    AWS: the certificate certifies the CSR's public key.
    Fix: the certificate certifies the CSR's key and subject (still issued by "Moto", one year, as before).
    """
    patch(IoTBackend, "create_certificate_from_csr", create_certificate_from_csr)
