"""What the three parts of the data plane share (the stand-ins, the device side, the probes): logging, the exit code
and error of a lost dependency, AWS clients with short timeouts, percentiles, and the PEM files of keys and
certificates. Imports no part of the data plane."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

LOG = logging.getLogger("iot_dataplane")

# Exit code of a component that stops because a dependency is gone for good or down too long.
EXIT_DEPENDENCY = 3


class DependencyError(Exception):
    """A dependency (the AWS endpoint, the broker) is gone or has lost its state; the message says what to do."""


class CommandError(Exception):
    """A command cannot do what it was asked (an argument missing, a file that is not what it should be): exit 2."""


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("botocore").setLevel(logging.WARNING)


def print_json(data: Any) -> None:
    """A command's result on stdout: one line of JSON."""
    sys.stdout.write(json.dumps(data, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def aws_client(service: str, region: str, endpoint_url: str | None, retries: int = 2) -> Any:
    """A client for the endpoint (or real AWS when endpoint_url is None), with short timeouts: a dead endpoint must be
    noticed in seconds, not after botocore's minute of retries."""
    config = Config(
        retries={"max_attempts": retries, "mode": "standard"},
        connect_timeout=3,
        read_timeout=30,
        max_pool_connections=4,
    )
    return boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def percentiles(samples: list[float], points: tuple[float, ...] = (50, 95, 99)) -> dict[str, float | None]:
    if not samples:
        return {f"p{int(p)}": None for p in points}
    ordered = sorted(samples)
    out: dict[str, float | None] = {}
    for p in points:
        index = min(len(ordered) - 1, max(0, math.ceil(round(p * len(ordered) / 100, 9)) - 1))  # nearest rank
        out[f"p{int(p)}"] = ordered[index]
    return out


# A thing name (= client id = certificate CN): the telemetry contract's sensor id rule.
NAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def write_private(path: Path, data: bytes) -> None:
    """A private key: 0600 from the start, replaced atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_public(path: Path, data: bytes) -> None:
    """A certificate or CSR: 0644, replaced atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
