"""The MQTT topics of the device contract (docs/DESIGN: telemetry message, device policy), shared by the device side
(it publishes telemetry and talks to its rotation shadow) and the stand-ins (the broker's ACL, the gate's policy
check, the bridge's subscriptions)."""

from __future__ import annotations

# The thing's named shadow that carries the certificate rotation (plugins/module_utils/iot.py ROTATION_SHADOW).
ROTATION_SHADOW = "cert-rotation"

# The shadow service's answers to a get or an update request.
SHADOW_ANSWERS = ("get/accepted", "get/rejected", "update/accepted", "update/rejected", "update/delta")


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
