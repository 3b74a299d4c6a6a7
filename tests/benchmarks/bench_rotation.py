"""Certificate rotation benchmark: devices per minute against the local endpoint, and requests per device.

Not a timed test: it prints figures. Run it with ``scripts/bench-rotation`` (``--help`` for the knobs).

It starts its own local endpoint (the moto launcher on a free loopback port, stopped by pid at the end), creates a
device policy and a CA, enrolls ``--devices`` devices with iot_fleet (own CA), then rotates them all with
iot_certificate_rotation (grace 0: old certificates deleted in the same run) while a thread plays the devices over
the endpoint's shadow API. It prints enrollment and rotation rates, HTTP requests per device, and what those
requests mean for a 50,000-device fleet at a given client-side rate limit on AWS.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))

import boto3
from ansible.module_utils.testing import patch_module_args
from cryptography.hazmat.primitives.asymmetric import ec
from rotation_support import Devices, csr_for, make_ca

from ansible_collections.smartcity.iot_analytics.plugins.modules import iot_certificate_rotation, iot_fleet
from conftest import local_endpoint

REGION = "us-east-1"


def run_module(module: Any, args: dict[str, Any]) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), patch_module_args(args), contextlib.suppress(SystemExit):
        module.main()
    result = json.loads(out.getvalue())
    if result.get("failed"):
        raise SystemExit(f"{module.__name__} failed: {result.get('msg')}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--local-rate-limit", type=float, default=1000.0, help="requests/s against the local endpoint")
    parser.add_argument("--aws-rate-limit", type=float, default=8.0, help="requests/s assumed on AWS for the projection")
    parser.add_argument("--fleet", type=int, default=50_000, help="fleet size for the projection")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, local_endpoint(Path(tmp)) as url:
        kw = dict(region_name=REGION, endpoint_url=url, aws_access_key_id="x", aws_secret_access_key="x")
        iot, data = boto3.client("iot", **kw), boto3.client("iot-data", **kw)
        iot.create_policy(policyName="bench-device", policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}))
        ca_cert, ca_key = make_ca(Path(tmp))
        aws = {"endpoint_url": url, "region": REGION, "access_key": "testing-access-key", "secret_key": "testing-secret-not-in-any-pem",
               "rate_limit": args.local_rate_limit,
               "workers": args.workers, "policy_name": "bench-device", "issuer": "own_ca", "ca_certificate_path": str(ca_cert),
               "ca_private_key_path": str(ca_key)}
        names = [f"bench-{n:05d}" for n in range(args.devices)]
        devices = [{"name": n, "zone": f"z{n[-1]}", "csr": csr_for(n, ec.generate_private_key(ec.SECP256R1()))} for n in names]

        started = time.monotonic()
        enrolled = run_module(iot_fleet, {**aws, "devices": devices, "thing_type": "bench-sensor", "certificate_validity_days": 10})
        enroll_s = time.monotonic() - started

        players = Devices(data, names, {})
        players.start()
        try:
            rotated = run_module(iot_certificate_rotation, {**aws, "thing_type": "bench-sensor", "expires_within_days": 30, "batch": args.devices,
                                                            "grace_period_hours": 0, "wait_timeout": 600, "poll_interval": 0.5,
                                                            "shadow_rate_limit": args.local_rate_limit})
        finally:
            players.stop.set()
            players.join()

    done = rotated["summary"].get("rotated", 0)
    rotate_s = rotated["metrics"]["finished_seconds"] or rotated["metrics"]["seconds"]
    enroll_requests = enrolled["metrics"]["requests"] / args.devices
    rotate_requests = rotated["metrics"]["requests"] / max(done, 1)
    shadow_requests = rotated["metrics"]["shadow_requests"] / max(done, 1)
    print(f"devices: {args.devices}, workers: {args.workers}, local rate limit: {args.local_rate_limit:g} requests/s")
    print(f"enrollment: {enroll_s:.1f} s, {args.devices * 60 / enroll_s:,.0f} devices/min, {enroll_requests:.1f} requests/device")
    print(f"rotation:   {rotate_s:.1f} s, {done} rotated, {done * 60 / rotate_s:,.0f} devices/min, {rotate_requests:.1f} control-plane "
          f"and {shadow_requests:.1f} shadow requests/device, summary {rotated['summary']}")
    for device in rotated["devices"]:
        if device["status"] != "rotated":
            print(f"  {device['thing_name']}: {device['status']} at {device.get('step')}: {device.get('reason')}")
    for label, per_device in (("enrollment", enroll_requests), ("rotation", rotate_requests)):
        hours = args.fleet * per_device / args.aws_rate_limit / 3600
        print(f"projection: {label} of {args.fleet:,} devices at {args.aws_rate_limit:g} requests/s on AWS: {hours:.1f} h "
              f"({args.aws_rate_limit * 60 / per_device:,.0f} devices/min)")
    return 0 if done == args.devices else 1


if __name__ == "__main__":
    sys.exit(main())
