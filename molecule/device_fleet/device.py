"""Plays the devices of the fleet scenarios and reads back what AWS IoT holds about them (JSON on stdout).

  csr DIR NAME...           each device makes its key and CSR (CN = thing name) once; DIR/devices.yml lists them
                            (csr_path relative to DIR, and a key_path that the role must leave out)
  answer DIR NAME STEP      the device answers its rotation shadow: csr (a new key and its CSR), bad-csr (a CSR whose
                            CN is another thing's), installed (the certificate the controller delivered)
  state NAME...             things, their certificates (status, policies) and the rotation shadows

Keys stay in DIR (the scenario's ephemeral directory), never in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SHADOW = "cert-rotation"


def new_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.chmod(0o600)
    return key


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def csr_pem(key, common_name: str) -> str:
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    return request.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def clients():
    kwargs = {"region_name": os.environ["AWS_REGION"], "endpoint_url": os.environ["AWS_ENDPOINT_URL"]}
    return boto3.client("iot", **kwargs), boto3.client("iot-data", **kwargs)


def cmd_csr(args) -> dict:
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    changed = False
    devices = []
    for index, name in enumerate(args.names):
        key_path, csr_path = directory / f"{name}.key", directory / f"{name}.csr"
        if not key_path.exists():
            new_key(key_path)
            changed = True
        if not csr_path.exists():
            csr_path.write_text(csr_pem(load_key(key_path), name))
            changed = True
        # key_path: what a provisioning tool lists too; the role passes on only the module's keys.
        entry = {"name": name, "zone": args.zone, "csr_path": csr_path.name, "key_path": key_path.name}
        devices.append(dict(entry, attributes={"model": "molecule", "index": str(index)}))
    listing = directory / "devices.yml"
    text = "---\n" + "".join(f"- {json.dumps(d)}\n" for d in devices)
    if not listing.exists() or listing.read_text() != text:
        listing.write_text(text)
        changed = True
    return {"changed": changed, "devices_file": str(listing)}


def cmd_answer(args) -> dict:
    iot, data = clients()
    directory = Path(args.dir)
    rotation_id = iot.describe_thing(thingName=args.name)["attributes"]["rotation_id"]
    if args.step in ("csr", "bad-csr"):
        key_path = directory / f"{args.name}.{rotation_id}.key"
        key = load_key(key_path) if key_path.exists() else new_key(key_path)
        reported = {"id": rotation_id, "step": "csr", "csr": csr_pem(key, args.name if args.step == "csr" else f"{args.name}-impostor")}
    else:
        desired = json.loads(data.get_thing_shadow(thingName=args.name, shadowName=SHADOW)["payload"].read())["state"]["desired"]["rotation"]
        if desired.get("id") != rotation_id or desired.get("step") != "install":
            raise SystemExit(f"{args.name}: nothing to install (desired {desired})")
        (directory / f"{args.name}.crt").write_text(desired["certificate_pem"])
        reported = {"id": rotation_id, "step": "installed", "certificate_id": desired["certificate_id"]}
    payload = json.dumps({"state": {"reported": {"rotation": reported}}}).encode()
    data.update_thing_shadow(thingName=args.name, shadowName=SHADOW, payload=payload)
    return {"changed": True, "rotation_id": rotation_id, "reported_step": reported["step"]}


def cmd_state(args) -> dict:
    iot, data = clients()
    things = {}
    for name in args.names:
        try:
            thing = iot.describe_thing(thingName=name)
        except iot.exceptions.ResourceNotFoundException:
            things[name] = None
            continue
        certificates = []
        for arn in iot.list_thing_principals(thingName=name)["principals"]:
            cert_id = arn.rsplit("/", 1)[-1]
            description = iot.describe_certificate(certificateId=cert_id)["certificateDescription"]
            pem = description["certificatePem"]
            public_key = x509.load_pem_x509_certificate(pem.encode()).public_key()
            certificates.append(
                {
                    "certificate_id": cert_id,
                    "status": description["status"],
                    "policies": sorted(p["policyName"] for p in iot.list_attached_policies(target=arn)["policies"]),
                    "public_key": public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
                    "pem": pem,
                }
            )
        try:
            shadow = json.loads(data.get_thing_shadow(thingName=name, shadowName=SHADOW)["payload"].read())
        except data.exceptions.ResourceNotFoundException:
            shadow = None
        things[name] = {
            "thing_type": thing.get("thingTypeName"),
            "attributes": thing.get("attributes", {}),
            "certificates": certificates,
            "shadow": shadow,
        }
    return {"changed": False, "things": things}


def main() -> int:
    top = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("csr")
    p.add_argument("dir")
    p.add_argument("names", nargs="+")
    p.add_argument("--zone", default="molecule-z001")
    p.set_defaults(func=cmd_csr)
    p = sub.add_parser("answer")
    p.add_argument("dir")
    p.add_argument("name")
    p.add_argument("step", choices=("csr", "bad-csr", "installed"))
    p.set_defaults(func=cmd_answer)
    p = sub.add_parser("state")
    p.add_argument("names", nargs="+")
    p.set_defaults(func=cmd_state)
    args = top.parse_args()
    sys.stdout.write(json.dumps(args.func(args)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
