"""The Mosquitto broker that stands in for the IoT Core broker: its configuration and its access control list.

Like IoT Core it accepts only mutual TLS (TLS 1.2 or 1.3) with a client certificate from the local CA that is not on
the CA's revocation list, and no anonymous client. The certificate's CN is the client's identity (``%u`` in the ACL,
the thing name), and the ACL mirrors the template's device policy: a device publishes only under its own name, on
the telemetry topic or its Basic Ingest form, and uses only the topics of its own named shadow ``cert-rotation``
(the certificate rotation channel). The bridge reads the telemetry, and relays the rotation shadow's get and update
requests to the endpoint's shadow service and publishes its answers (accepted, rejected, delta).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from .pki import LocalCA

# The thing's named shadow that carries the certificate rotation (plugins/module_utils/iot.py ROTATION_SHADOW).
ROTATION_SHADOW = "cert-rotation"


@dataclass(frozen=True)
class BrokerFiles:
    config: Path
    acl: Path


def telemetry_filters(rule_name: str) -> list[str]:
    """The topic filters the IoT rule selects: the plain topic and its Basic Ingest form."""
    return ["traffic/+/+/telemetry", f"$aws/rules/{rule_name}/traffic/+/+/telemetry"]


def rotation_topic(thing: str, suffix: str = "") -> str:
    """A topic of the thing's rotation shadow: ``$aws/things/<thing>/shadow/name/cert-rotation[/<suffix>]``."""
    base = f"$aws/things/{thing}/shadow/name/{ROTATION_SHADOW}"
    return f"{base}/{suffix}" if suffix else base


def shadow_request_filters() -> list[str]:
    """What the bridge relays to the shadow service: every device's get and update requests."""
    return [rotation_topic("+", "get"), rotation_topic("+", "update")]


SHADOW_ANSWERS = ("get/accepted", "get/rejected", "update/accepted", "update/rejected", "update/delta")


def render_acl(rule_name: str, bridge_name: str) -> str:
    plain, basic = telemetry_filters(rule_name)
    return "\n".join(
        [
            "# Written by the smartcity.iot_analytics data plane; mirrors the template's DevicePolicy.",
            "# The bridge (the IoT rule's stand-in) reads every telemetry topic; as the shadow service's stand-in it",
            "# reads the rotation shadow's requests and writes its answers.",
            f"user {bridge_name}",
            f"topic read {plain}",
            f"topic read {basic}",
            *(f"topic read {topic}" for topic in shadow_request_filters()),
            *(f"topic write {rotation_topic('+', answer)}" for answer in SHADOW_ANSWERS),
            "",
            "# Every device, identified by its certificate's CN (= client id = thing name), publishes only under its",
            "# own name, and reads and writes only the topics of its own named shadow cert-rotation (the rotation channel).",
            f"pattern write {plain.replace('+/telemetry', '%u/telemetry')}",
            f"pattern write {basic.replace('+/telemetry', '%u/telemetry')}",
            f"pattern readwrite {rotation_topic('%u', '#')}",
            "",
        ]
    )


def render_config(ca: LocalCA, server_name: str, acl: Path, host: str, port: int) -> str:
    server = ca.paths(server_name)
    return "\n".join(
        [
            "# Written by the smartcity.iot_analytics data plane: the env=local stand-in for the IoT Core broker.",
            "per_listener_settings false",
            "allow_anonymous false",
            f"acl_file {acl}",
            # Started as root, Mosquitto would switch to the user "mosquitto", which cannot read the 0700 CA directory.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            "connection_messages true",
            # A subscriber that falls behind (the bridge during an endpoint outage) gets its backlog, not a drop.
            "max_queued_messages 1000000",
            "max_queued_bytes 0",
            "max_packet_size 1048576",
            "",
            f"listener {port} {host}",
            "protocol mqtt",
            f"cafile {ca.ca_cert}",
            f"certfile {server.cert}",
            f"keyfile {server.key}",
            f"crlfile {ca.crl}",
            "require_certificate true",
            "use_identity_as_username true",
            # Mosquitto 2.0 allows TLS 1.2 and 1.3 unless told otherwise; this makes the floor explicit.
            "tls_version tlsv1.2",
            "",
        ]
    )


def write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True
