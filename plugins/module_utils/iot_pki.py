# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Device certificates for AWS IoT: CSR checks, signing with our own CA, CA registration, issuing, finding, deleting.

The pure part (``validate_csr``, ``certificate_info``, ``public_key_sha256``, ``sign_csr``) needs only
``cryptography``; the rest takes an IoT client made by ``iot.iot_client`` (every call with ``aws_retry=True``).
Validity always comes from the PEM: an endpoint's ``validity`` field is not trusted (moto's is made up).
"""

from __future__ import annotations

import datetime
import hashlib

try:
    from botocore.exceptions import ClientError
except ImportError:
    ClientError = Exception  # AnsibleAWSModule reports a missing botocore

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # the module reports it with missing_required_lib
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.errors import error_code
from ansible_collections.smartcity.iot_analytics.plugins.module_utils.iot import missing_ok, paginate

CSR_MARKERS = ("-----BEGIN CERTIFICATE REQUEST-----", "-----BEGIN NEW CERTIFICATE REQUEST-----")
CERT_MARKER = "-----BEGIN CERTIFICATE-----"
RSA_MIN_BITS = 2048
RSA_MAX_BITS = 4096
CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
SUPPORTED_KEYS = "RSA >= 2048 or ECDSA P-256/P-384/P-521"
# Clock skew between us and devices: a certificate is valid from a little before it was issued.
BACKDATE = datetime.timedelta(minutes=5)
# Detaching a thing from a certificate is eventually consistent; DeleteCertificate may see it attached a while.
DELETE_RETRY_CODES = ["DeleteConflictException", "ThrottlingException", "ServiceUnavailableException", "InternalFailureException"]


class PkiError(ValueError):
    """A certificate, key or CA that cannot be used; the message starts with the field it is about."""


class CsrError(PkiError):
    """A certificate signing request that breaks a rule; the message names the field (``csr``) and the rule."""


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _to_bytes(pem: str | bytes) -> bytes:
    return pem.encode("ascii", "replace") if isinstance(pem, str) else pem


def _to_text(pem: str | bytes) -> str:
    return pem.decode("ascii", "replace") if isinstance(pem, bytes) else pem


def _key_type_name(key) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA"
    name = type(key).__name__.lstrip("_")
    return name[: -len("PublicKey")] if name.endswith("PublicKey") else name


def public_key_sha256(obj) -> str:
    """SHA-256 (hex) of the SubjectPublicKeyInfo DER of a CSR, certificate, private or public key (or their PEM)."""
    if isinstance(obj, (str, bytes)):
        obj = _load_any(obj)
    key = obj.public_key() if hasattr(obj, "public_key") else obj
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _load_any(pem: str | bytes):
    data = _to_bytes(pem)
    text = _to_text(pem)
    if any(marker in text for marker in CSR_MARKERS):
        return x509.load_pem_x509_csr(data)
    if CERT_MARKER in text:
        return x509.load_pem_x509_certificate(data)
    if "PRIVATE KEY-----" in text:
        return serialization.load_pem_private_key(data, password=None)
    return serialization.load_pem_public_key(data)


def _common_name(name) -> str | None:
    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _key_facts(key, field: str) -> dict:
    """key_type and key_size or curve of a public key, or the rule it breaks."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < RSA_MIN_BITS:
            raise CsrError(f"{field}: RSA key of {key.key_size} bits is too weak (at least {RSA_MIN_BITS})")
        if key.key_size > RSA_MAX_BITS:
            raise CsrError(f"{field}: RSA key of {key.key_size} bits is too large (at most {RSA_MAX_BITS})")
        return {"key_type": "RSA", "key_size": key.key_size}
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = CURVES.get(key.curve.name)
        if curve is None:
            raise CsrError(f"{field}: curve {key.curve.name} is not supported (P-256, P-384, P-521)")
        return {"key_type": "EC", "curve": curve}
    raise CsrError(f"{field}: key type {_key_type_name(key)} is not supported ({SUPPORTED_KEYS})")


def _load_one_csr(csr_pem: str | bytes):
    text = _to_text(csr_pem) if csr_pem is not None else ""
    count = sum(text.count(marker) for marker in CSR_MARKERS)
    if count > 1:
        raise CsrError(f"csr: holds {count} PEM certificate signing requests (exactly one expected)")
    try:
        if count != 1:
            raise ValueError("no PEM marker")
        return x509.load_pem_x509_csr(_to_bytes(text.strip()))
    except ValueError:
        raise CsrError("csr: does not parse as a PEM certificate signing request") from None


def validate_csr(csr_pem: str, thing_name: str | None = None) -> dict:
    """The facts of one acceptable CSR, or CsrError naming the rule it breaks.

    Rules: exactly one PEM CSR, a valid signature, a subject CN (equal to thing_name when given),
    RSA of 2048 to 4096 bits or ECDSA on P-256, P-384 or P-521.
    """
    csr = _load_one_csr(csr_pem)
    try:
        key = csr.public_key()
    except (ValueError, TypeError) as error:  # a key algorithm cryptography cannot load
        raise CsrError(f"csr: key type is not supported ({SUPPORTED_KEYS}): {error}") from None
    try:
        signature_ok = csr.is_signature_valid
    except (ValueError, TypeError, InvalidSignature):
        signature_ok = False
    if not signature_ok:
        raise CsrError("csr: signature does not verify")
    subject_cn = _common_name(csr.subject)
    if not subject_cn:
        raise CsrError("csr: subject has no common name (CN); it must be the thing name")
    if thing_name is not None and subject_cn != thing_name:
        raise CsrError(f"csr: subject CN {subject_cn!r} does not match the thing name {thing_name!r}")
    facts = {"subject_cn": subject_cn}
    facts.update(_key_facts(key, "csr"))
    facts["public_key_sha256"] = public_key_sha256(key)
    return facts


def _load_certificate(cert_pem: str | bytes, field: str = "certificate_pem"):
    text = _to_text(cert_pem) if cert_pem is not None else ""
    if CERT_MARKER not in text:
        raise PkiError(f"{field}: does not parse as a PEM certificate")
    try:
        return x509.load_pem_x509_certificate(_to_bytes(text.strip()))
    except ValueError:
        raise PkiError(f"{field}: does not parse as a PEM certificate") from None


def certificate_info(cert_pem: str) -> dict:
    """What a certificate says about itself: serial (lowercase hex), subject and issuer CN, validity (UTC)."""
    cert = _load_certificate(cert_pem)
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    return {
        "serial_number": format(cert.serial_number, "x"),
        "subject_cn": _common_name(cert.subject),
        "issuer_cn": _common_name(cert.issuer),
        "not_before": _iso(not_before),
        "not_after": _iso(not_after),
        "not_after_epoch": int(not_after.timestamp()),
        "public_key_sha256": public_key_sha256(cert),
    }


def _signing_hash(key):
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None
    return hashes.SHA256()


def _load_ca(ca_cert_pem: str | bytes, ca_key_pem: str | bytes):
    """The CA certificate and its private key, checked to belong together and to be a CA."""
    ca_cert = _load_certificate(ca_cert_pem, "ca_certificate")
    try:
        ca_key = serialization.load_pem_private_key(_to_bytes(ca_key_pem or b""), password=None)
    except (ValueError, TypeError) as error:
        raise PkiError(f"ca_private_key: does not load as an unencrypted PEM private key ({error})") from None
    if public_key_sha256(ca_key) != public_key_sha256(ca_cert):
        raise PkiError("ca_private_key: does not belong to the CA certificate (its public key differs)")
    try:
        constraints = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise PkiError("ca_certificate: is not a CA certificate (BasicConstraints CA=true missing)")
    return ca_cert, ca_key


def read_ca_files(ca_certificate_path: str, ca_private_key_path: str) -> tuple[str, str]:
    """The PEM texts of an own CA's certificate and key (OSError when a file cannot be read)."""
    with open(ca_certificate_path) as f:
        ca_cert_pem = f.read()
    with open(ca_private_key_path) as f:
        ca_key_pem = f.read()
    return ca_cert_pem, ca_key_pem


def check_ca(ca_cert_pem: str, ca_key_pem: str) -> None:
    """PkiError unless the CA certificate parses, is a CA and the key belongs to it."""
    _load_ca(ca_cert_pem, ca_key_pem)


def certificate_id_candidates(cert_pem: str) -> list[str]:
    """The ids a certificate may have: the SHA-256 of its DER (AWS), then of its PEM text as sent (moto)."""
    der = _load_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    return [hashlib.sha256(der).hexdigest(), hashlib.sha256(_to_bytes(_to_text(cert_pem))).hexdigest()]


def _sign(subject_cn: str, public_key, ca_cert, ca_key, validity_days: int, client_auth: bool = True):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if client_auth:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(ca_key, _signing_hash(ca_key))


def sign_csr(csr_pem: str, ca_cert_pem: str, ca_key_pem: str, validity_days: int = 365) -> str:
    """A client certificate for the CSR's key and CN, signed by our own CA (the CSR is validated first)."""
    facts = validate_csr(csr_pem)
    if not isinstance(validity_days, int) or isinstance(validity_days, bool) or validity_days < 1:
        raise PkiError(f"validity_days: must be a whole number of days, at least 1 (got {validity_days!r})")
    csr = _load_one_csr(csr_pem)
    ca_cert, ca_key = _load_ca(ca_cert_pem, ca_key_pem)
    cert = _sign(facts["subject_cn"], csr.public_key(), ca_cert, ca_key, validity_days)
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def verify_signed_by(cert_pem: str, ca_cert_pem: str) -> bool:
    """True when cert_pem's signature verifies with the CA certificate's key (and names it as issuer)."""
    cert = _load_certificate(cert_pem)
    ca_cert = _load_certificate(ca_cert_pem, "ca_certificate")
    if cert.issuer != ca_cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _same_ca(registered_pem: str, ca_der: bytes, ca_key_sha: str) -> bool:
    try:
        cert = _load_certificate(registered_pem, "ca_certificate")
    except PkiError:
        return False
    return cert.public_bytes(serialization.Encoding.DER) == ca_der or public_key_sha256(cert) == ca_key_sha


def _describe_ca(client, certificate_id: str) -> dict | None:
    try:
        return client.describe_ca_certificate(certificateId=certificate_id, aws_retry=True)["certificateDescription"]
    except is_boto3_error_code(["ResourceNotFoundException", "InvalidRequestException"]):
        return None


def _listing_unavailable(error) -> bool:
    """An endpoint without ListCACertificates (moto answers HTTP 500 "not implemented")."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status in (500, 501) or error_code(error) in ("500", "501", "NotImplemented")


def find_ca_certificate(client, ca_cert_pem: str) -> dict | None:
    """The registered CA certificate (certificateDescription) with this PEM's DER or public key, or None.

    AWS IoT's certificate id is the SHA-256 of the certificate's DER, so the CA is first described by that id
    (and by the SHA-256 of the PEM text, moto's id); only then are the registered CAs listed and compared.
    """
    ca_cert = _load_certificate(ca_cert_pem, "ca_certificate")
    ca_der = ca_cert.public_bytes(serialization.Encoding.DER)
    ca_key_sha = public_key_sha256(ca_cert)
    for candidate in (hashlib.sha256(ca_der).hexdigest(), hashlib.sha256(_to_bytes(_to_text(ca_cert_pem))).hexdigest()):
        description = _describe_ca(client, candidate)
        if description is not None and _same_ca(description.get("certificatePem", ""), ca_der, ca_key_sha):
            return description
    try:
        summaries = paginate(client, "list_ca_certificates", "certificates")
    except ClientError as error:
        if _listing_unavailable(error):
            return None  # registering answers ResourceAlreadyExists when it is there after all
        raise
    for summary in summaries:
        description = _describe_ca(client, summary["certificateId"])  # None: removed since the listing
        if description is not None and _same_ca(description.get("certificatePem", ""), ca_der, ca_key_sha):
            return description
    return None


def ensure_ca_registered(client, ca_cert_pem: str, ca_key_pem: str, check_mode: bool = False) -> tuple[str | None, bool]:
    """Our CA registered and ACTIVE in AWS IoT: (its certificate id, or None when check mode would register it; changed).

    A registered but INACTIVE CA is activated. A missing one is registered with a verification certificate
    (a fresh key, CN = the account's registration code, signed by the CA), without auto-registration.
    """
    _ca_cert, ca_key = _load_ca(ca_cert_pem, ca_key_pem)
    existing = find_ca_certificate(client, ca_cert_pem)
    if existing is not None:
        if existing.get("status") == "ACTIVE":
            return existing["certificateId"], False
        if not check_mode:
            client.update_ca_certificate(certificateId=existing["certificateId"], newStatus="ACTIVE", aws_retry=True)
        return existing["certificateId"], True
    if check_mode:
        return None, True
    code = client.get_registration_code(aws_retry=True)["registrationCode"]
    verification_key = ec.generate_private_key(ec.SECP256R1())
    verification = _sign(code, verification_key.public_key(), _ca_cert, ca_key, 1, client_auth=False)
    try:
        response = client.register_ca_certificate(
            caCertificate=_to_text(ca_cert_pem),
            verificationCertificate=verification.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            setAsActive=True,
            allowAutoRegistration=False,
            aws_retry=True,
        )
    except is_boto3_error_code("ResourceAlreadyExistsException") as error:
        existing_id = error.response.get("resourceId")
        if not existing_id:
            raise
        described = _describe_ca(client, existing_id) or {}
        if described.get("status") == "ACTIVE":
            return existing_id, False
        client.update_ca_certificate(certificateId=existing_id, newStatus="ACTIVE", aws_retry=True)
        return existing_id, True
    return response["certificateId"], True


def issue_certificate(
    client,
    issuer: str,
    csr_pem: str,
    thing_name: str | None = None,
    ca_cert_pem: str | None = None,
    ca_key_pem: str | None = None,
    validity_days: int = 365,
) -> dict:
    """A new ACTIVE certificate for the CSR: {certificate_id, certificate_arn, certificate_pem}.

    issuer ``aws``: CreateCertificateFromCsr (signed by Amazon's CA). ``own_ca``: signed here with our CA and
    registered with RegisterCertificate (the CA must be registered: ``ensure_ca_registered``).
    The CSR is validated (against thing_name) before any call, so a bad CSR changes nothing.
    """
    validate_csr(csr_pem, thing_name)
    if issuer == "aws":
        response = client.create_certificate_from_csr(certificateSigningRequest=_to_text(csr_pem), setAsActive=True, aws_retry=True)
        pem = response["certificatePem"]
    elif issuer == "own_ca":
        if not ca_cert_pem or not ca_key_pem:
            raise PkiError("issuer: own_ca needs the CA certificate and the CA private key")
        pem = sign_csr(csr_pem, ca_cert_pem, ca_key_pem, validity_days)
        response = client.register_certificate(certificatePem=pem, caCertificatePem=_to_text(ca_cert_pem), status="ACTIVE", aws_retry=True)
    else:
        raise PkiError(f"issuer: {issuer!r} is not one of aws, own_ca")
    return {"certificate_id": response["certificateId"], "certificate_arn": response["certificateArn"], "certificate_pem": pem}


def describe_certificate(client, certificate_id: str) -> dict | None:
    """One certificate as a snake_case dict (with the facts of its PEM), or None when it does not exist."""
    described = missing_ok(client.describe_certificate, certificateId=certificate_id, aws_retry=True)
    if described is None:
        return None
    description = described["certificateDescription"]
    result = {
        "certificate_id": description["certificateId"],
        "certificate_arn": description["certificateArn"],
        "status": description.get("status"),
        "certificate_pem": description.get("certificatePem"),
        "ca_certificate_id": description.get("caCertificateId"),
        "certificate_mode": description.get("certificateMode"),
    }
    try:
        result.update(certificate_info(result["certificate_pem"]))
    except PkiError:
        pass  # a certificate without a readable PEM keeps the AWS fields only
    return result


def certificate_id_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def thing_certificate_arns(client, thing_name: str) -> list[str]:
    """The ARNs of the certificates attached to the thing ([] when the thing does not exist)."""
    principals = missing_ok(paginate, client, "list_thing_principals", "principals", thingName=thing_name, default=[])
    return [arn for arn in principals if ":cert/" in arn]


def thing_certificates(client, thing_name: str) -> list[dict]:
    """The certificates attached to the thing, described (status, PEM and the PEM's facts)."""
    certificates = []
    for arn in thing_certificate_arns(client, thing_name):
        described = describe_certificate(client, certificate_id_from_arn(arn))
        if described is not None:
            certificates.append(described)
    return certificates


def find_certificate_for_key(client, thing_name: str, public_key_sha256: str) -> dict | None:
    """The thing's attached certificate for this public key, so that the same CSR twice issues once.

    An ACTIVE one is preferred over an INACTIVE one; REVOKED certificates are never reused.
    """
    matches = [
        cert for cert in thing_certificates(client, thing_name) if cert.get("public_key_sha256") == public_key_sha256 and cert.get("status") != "REVOKED"
    ]
    matches.sort(key=lambda cert: cert.get("status") != "ACTIVE")
    return matches[0] if matches else None


def principal_things(client, certificate_arn: str) -> list[str]:
    return sorted(paginate(client, "list_principal_things", "things", principal=certificate_arn))


def principal_policies(client, certificate_arn: str) -> list[str]:
    return sorted(policy["policyName"] for policy in paginate(client, "list_attached_policies", "policies", target=certificate_arn))


def deactivate_and_delete(client, certificate_id: str, certificate_arn: str, thing_names, check_mode: bool) -> bool:
    """Delete a certificate as AWS requires: INACTIVE, detached from every thing and policy, then deleted.

    thing_names are detached besides those the certificate lists itself. Returns True (a change); in check mode
    nothing is called.
    """
    if check_mode:
        return True
    # Another run (or a killed run's module) may be deleting the same certificate: what is already gone is the outcome.
    described = describe_certificate(client, certificate_id)
    if described is None:
        return True
    if described["status"] == "ACTIVE":
        client.update_certificate(certificateId=certificate_id, newStatus="INACTIVE", aws_retry=True)
    things = set(thing_names or []) | set(principal_things(client, certificate_arn))
    for thing in sorted(things):
        missing_ok(client.detach_thing_principal, thingName=thing, principal=certificate_arn, aws_retry=True)
    for policy in principal_policies(client, certificate_arn):
        missing_ok(client.detach_policy, policyName=policy, target=certificate_arn, aws_retry=True)

    @AWSRetry.jittered_backoff(retries=8, delay=1, max_delay=15, catch_extra_error_codes=DELETE_RETRY_CODES)
    def _delete():
        missing_ok(client.delete_certificate, certificateId=certificate_id)

    _delete()
    return True
