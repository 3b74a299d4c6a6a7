"""The Mosquitto broker that stands in for the IoT Core broker: its configuration and its access control list.

Mosquitto listens only on a unix socket in the region's 0700 state directory. The region's MQTT port belongs to the
gate (``gate.py``), which does what IoT Core does at the door (mutual TLS with a certificate of the local CA that is
not revoked, client id = certificate CN, the certificate ACTIVE at the endpoint and attached to that thing, the device
policy on every PUBLISH and SUBSCRIBE) and passes the CN on as the username. The username is the client's identity
(``%u`` in the ACL, the thing name), and the ACL mirrors the template's device policy: a device publishes only under its own name, on
the telemetry topic or its Basic Ingest form, and uses only the topics of its own named shadow ``cert-rotation``
(the certificate rotation channel). The bridge reads the telemetry, and relays the rotation shadow's get and update
requests to the endpoint's shadow service and publishes its answers (accepted, rejected, delta).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from ..topics import SHADOW_ANSWERS, rotation_topic, shadow_request_filters, telemetry_filters


@dataclass(frozen=True)
class BrokerFiles:
    config: Path
    acl: Path


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


# The broker's socket, relative to the region's state directory (Mosquitto runs with that directory as its working
# directory): a unix socket address holds at most 107 bytes, which a deep state directory would exceed.
SOCKET_NAME = "mosquitto.sock"
MAX_SOCKET_PATH = 107
_DIR_FDS: dict[str, int] = {}


def socket_path(state_dir: Path) -> Path:
    """Where the region's broker listens: a unix socket in its 0700 state directory, reachable only by this user."""
    return Path(state_dir) / SOCKET_NAME


def socket_address(path: str | Path) -> str:
    """A path to connect to the socket at ``path`` that fits a unix socket address: itself when short enough, else
    the same file through a descriptor of its directory (``/proc/self/fd/N/mosquitto.sock``, kept open)."""
    text = str(path)
    if len(text.encode()) <= MAX_SOCKET_PATH:
        return text
    directory = str(Path(text).parent)
    if directory not in _DIR_FDS:
        _DIR_FDS[directory] = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    return f"/proc/self/fd/{_DIR_FDS[directory]}/{Path(text).name}"


def render_config(acl: Path) -> str:
    """Mosquitto behind the gate (``gate.py``): no TCP port, only the unix socket in the 0700 state directory.

    The gate has done what IoT Core does at the door (mutual TLS, CRL, client id = CN, the certificate's registration
    and thing) and passes the CN as the username; the bridge connects to the socket under its own name. So the socket
    takes a username without a password (``allow_anonymous true`` on a listener only this user can reach; an anonymous
    client gets no grant from the ACL), and the ACL's ``%u`` patterns mirror the device policy per thing. The socket
    is named relative to the working directory, which must be the state directory (the role starts it there)."""
    return "\n".join(
        [
            "# Written by the smartcity.iot_analytics data plane: the env=local stand-in for the IoT Core broker,",
            "# behind the data plane's gate (mutual TLS and the device policy on the region's MQTT port).",
            "per_listener_settings false",
            # the gate (or the trusted bridge) names the client; nothing else can reach the socket (0700 directory)
            "allow_anonymous true",
            f"acl_file {acl}",
            # Started as root, Mosquitto would switch to the user "mosquitto", which cannot use the 0700 directory.
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
            f"listener 0 {SOCKET_NAME}",
            "protocol mqtt",
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
