"""Command line of the local data plane: ``iot-dataplane <command> --help``.

pki            the local CA: init, issue a certificate, revoke one, sign a CSR
broker-config  the Mosquitto configuration and ACL of one region's broker (and its certificates)
gate           the region's MQTT port: mutual TLS, client id = CN, the endpoint's certificate status, the device policy
bridge         MQTT -> Kinesis, as the IoT rule does (long-running)
poller         Kinesis -> lambda_handler, as the event source mapping and the sweep schedule do (long-running)
view           the live congestion page (the CloudWatch custom widget's stand-in)
simulate       the sensor fleet: publish a scenario, print what was sent as JSON (--rotation: devices rotate certificates)
devices        the simulated devices' key store: init makes a key and an enrollment CSR per device
smoke          publish the smoke scenario and wait until the system shows it; JSON result, exit 1 if not
bench          the pipeline benchmark against the running local data plane
"""

# One entry point for three packages: the local stand-ins for AWS (local_aws: pki .. view), the device side (devices:
# simulate, devices) and the probes (probes: smoke, bench). A subcommand's package is imported only when it runs
# (``command``), and the device side and the probes get the local CA's identity from here (``device_identity``) when
# they publish over MQTT without a key store of their own: ``smoke --transport iot-data`` (AWS) loads no stand-in.

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path
from typing import Any, Callable

from .devices import BEHAVIOURS, GATEWAY_FORMATS, MALFORMED
from .shared import EXIT_DEPENDENCY, LOG, CommandError, DependencyError, setup_logging

LAMBDA_DIR = str(Path(__file__).resolve().parents[2] / "lambda")


def device_identity(args: argparse.Namespace, enroll: bool = True) -> tuple[str, Any]:
    """The local CA's CA file and device certificates for an MQTT transport (local_aws.commands.device_identity),
    loaded only when a command publishes over MQTT without a key store of its own."""
    from .local_aws.commands import device_identity as local_identity  # noqa: PLC0415  pylint: disable=import-outside-toplevel

    return local_identity(args, enroll)


def command(args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    """The subcommand's function; imports its package now, and no other."""
    module, function = args.run
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)


def _aws_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--region", required=True)
    p.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help="the local AWS endpoint (default: $AWS_ENDPOINT_URL; none: real AWS)")


def _mqtt_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--transport",
        choices=("mqtt", "iot-data"),
        default="mqtt",
        help="mqtt: the local broker with the local CA's certificates; iot-data: AWS IoT's HTTPS data plane",
    )
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, default=8883)
    p.add_argument("--pki-dir", help="the local CA's directory (mqtt transport)")


def _scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sensors", type=int, default=20)
    p.add_argument("--zones", type=int, default=4)
    p.add_argument("--rate", type=float, default=1.0, help="readings per sensor per second")
    p.add_argument("--duration", type=float, default=10.0, help="seconds")
    p.add_argument("--gateway-size", type=int, default=0, help="sensors per gateway (0: no gateways)")
    p.add_argument("--gateway-format", choices=GATEWAY_FORMATS, default="columns", help="a gateway message's layout (columns: compact)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--prefix", default="sim")
    p.add_argument("--hour", type=float, help="hour of the daily profile at the start (default: now)")
    p.add_argument("--window-seconds", type=int, default=60)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="iot-dataplane", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("-v", "--verbose", action="store_true")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pki", help="the local CA")
    p.add_argument("action", choices=("init", "issue", "revoke", "sign"))
    p.add_argument("name", nargs="?")
    p.add_argument("--dir", required=True)
    p.add_argument("--server", action="store_true")
    p.add_argument("--host", action="append")
    p.add_argument("--csr", help="sign: the CSR (PEM file) to sign as a client certificate (subject and key from the CSR)")
    p.add_argument("--out", help="sign: also write the certificate here")
    p.add_argument("--days", type=int, default=397, help="sign: validity in days")
    p.add_argument("--register", action="store_true", help="issue: also register it ACTIVE at the endpoint, attached to the thing NAME (created)")
    p.add_argument("--region", help="issue --register: the region")
    p.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help="issue --register: the local AWS endpoint")
    p.set_defaults(run=("local_aws.commands", "cmd_pki"))

    p = sub.add_parser("broker-config", help="one region's Mosquitto configuration, ACL and certificates")
    p.add_argument("--pki-dir", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--rule-name", required=True)
    p.add_argument("--bridge-name", required=True)
    p.add_argument("--host", default="127.0.0.1", help="unused: the gate owns the MQTT port (kept for old callers)")
    p.add_argument("--port", type=int, help="unused: the gate owns the MQTT port (kept for old callers)")
    p.set_defaults(run=("local_aws.commands", "cmd_broker_config"))

    _component_parsers(sub)
    _tool_parsers(sub)
    return top


def _component_parsers(sub: Any) -> None:
    p = sub.add_parser("gate", help="the region's MQTT port: mutual TLS and IoT Core's checks in front of the broker")
    _aws_args(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="the region's MQTT/TLS port")
    p.add_argument("--pki-dir", required=True)
    p.add_argument("--server-name", default="broker", help="the local CA's server certificate to present")
    p.add_argument("--state-dir", required=True, help="the region's state directory (the broker's socket, gate.stats.json)")
    p.add_argument("--broker-socket", help="the broker's unix socket (default: mosquitto.sock in --state-dir)")
    p.add_argument("--rule-name", required=True, help="the IoT rule (the Basic Ingest topics the device policy allows)")
    p.add_argument("--reserved", action="append", metavar="NAME", help="a client name only the data plane uses (the bridge): refused here")
    p.add_argument("--workers", type=int, default=8, help="threads for the endpoint's certificate checks")
    p.add_argument("--plane-version", help="the data plane's own code (a new one restarts the process)")
    p.add_argument("--max-seconds", type=float)
    p.set_defaults(run=("local_aws.commands", "cmd_gate"))

    p = sub.add_parser("bridge", help="MQTT -> Kinesis, as the IoT rule does")
    _aws_args(p)
    p.add_argument("--stream-name", required=True)
    p.add_argument("--rule-name", required=True)
    p.add_argument("--name", required=True, help="the bridge's client id and certificate name")
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, help="the broker's TLS port (a client certificate --name of --pki-dir)")
    p.add_argument("--mqtt-socket", help="the broker's unix socket (as the local data plane runs it: no TLS, username --name)")
    p.add_argument("--pki-dir", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--outage-seconds", type=float, default=60.0, help="stop (exit 3) when the endpoint or the broker has failed this long")
    p.add_argument(
        "--crl-sync-seconds",
        type=float,
        default=2.0,
        help="period of the certificate status sync: the local CA's certificates that are not ACTIVE at the endpoint (or deleted) go on the CRL (0: off)",
    )
    p.add_argument("--broker-pid-file", help="the broker's pid file: it gets SIGHUP (reloads the CRL) when the CRL changed")
    p.add_argument("--plane-version", help="the data plane's own code (a new one restarts the process)")
    p.add_argument("--max-seconds", type=float)
    p.set_defaults(run=("local_aws.commands", "cmd_bridge"))

    p = sub.add_parser("poller", help="Kinesis -> lambda_handler, as the event source mapping does")
    _aws_args(p)
    p.add_argument("--function-name", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--lambda-dir", default=LAMBDA_DIR)
    p.add_argument("--sweep-seconds", type=float, default=60.0, help="the sweep schedule's period (0: no sweep)")
    p.add_argument("--outage-seconds", type=float, default=60.0)
    p.add_argument("--code-version", help="the package the stack runs (logged; a new one restarts the poller)")
    p.add_argument("--plane-version", help="the data plane's own code (a new one restarts the process)")
    p.add_argument("--max-seconds", type=float)
    p.set_defaults(run=("local_aws.commands", "cmd_poller"))
    _view_parser(sub)


def _view_parser(sub: Any) -> None:
    p = sub.add_parser("view", help="the live congestion page (the CloudWatch custom widget's stand-in) on 127.0.0.1")
    _aws_args(p)
    p.add_argument("--function-name", required=True, help="the stream processor: its table, window and thresholds")
    p.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"], help="loopback only")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--lambda-dir", default=LAMBDA_DIR)
    p.add_argument("--zones-geojson", help="GeoJSON with each zone's polygon (properties.zone); others get a grid cell")
    p.add_argument("--every-seconds", type=float, default=1.0, help="how often the page asks for a new picture")
    p.add_argument("--code-version", help="the processor package (its renderer; a new one restarts the page)")
    p.add_argument("--plane-version", help="the data plane's own code (a new one restarts the process)")
    p.add_argument("--max-seconds", type=float)
    p.set_defaults(run=("local_aws.commands", "cmd_view"))


def _tool_parsers(sub: Any) -> None:
    p = sub.add_parser("simulate", help="publish a scenario from the sensor fleet")
    _aws_args(p)
    _mqtt_args(p)
    p.add_argument("--rule-name", help="publish to the Basic Ingest topic of this rule")
    _scenario_args(p)
    p.add_argument("--congest", action="append", metavar="ZONE:START_S:MINUTES")
    p.add_argument("--silence", action="append", metavar="SENSOR:START_S")
    p.add_argument("--malformed", action="append", metavar="KIND=N", help=f"kinds: {', '.join(sorted(MALFORMED))}")
    p.add_argument("--report", help="also write the report to this file")
    p.add_argument(
        "--device-dir",
        help="the devices' key store (devices init): each device connects with <name>.crt/<name>.key from it (default: the local CA's certificates)",
    )
    p.add_argument("--rotation", action="store_true", help="every device runs a rotation agent on its cert-rotation shadow (needs --device-dir)")
    p.add_argument("--rotation-poll-seconds", type=float, default=2.0, help="how often a device gets its rotation shadow")
    p.add_argument("--rotation-behaviour", action="append", metavar="THING=KIND", help=f"a misbehaving device, for tests; kinds: {', '.join(BEHAVIOURS)}")
    p.set_defaults(run=("devices.commands", "cmd_simulate"))

    p = sub.add_parser("devices", help="the simulated devices' key store")
    p.add_argument("action", choices=("init",))
    p.add_argument("--dir", required=True, help="the key store: <name>.key (0600) and <name>.csr per device")
    _scenario_args(p)
    p.set_defaults(run=("devices.commands", "cmd_devices"), congest=None, silence=None, malformed=None)

    p = sub.add_parser("smoke", help="publish the smoke scenario and check that the system shows it")
    _aws_args(p)
    _mqtt_args(p)
    p.add_argument("--stack-name", required=True)
    p.add_argument("--basic-ingest", action="store_true", help="publish to the rule's Basic Ingest topic")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--run-id", help="up to 21 characters [a-z0-9] (default: the UTC time)")
    p.add_argument("--keep", action="store_true", help="keep what the run stored (default: removed when green)")
    p.set_defaults(run=("probes.commands", "cmd_smoke"))

    p = sub.add_parser("bench", help="the pipeline benchmark against the running local data plane")
    _bench_args(p)


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--region", required=True)
    p.add_argument("--endpoint-url", required=True)
    p.add_argument("--stack-name", required=True)
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, required=True)
    p.add_argument("--pki-dir", required=True)
    p.add_argument("--state-dir", required=True, help="the region's data plane state (bridge and poller stats)")
    p.add_argument("--sensors", type=int, default=50_000)
    p.add_argument("--zones", type=int, default=100)
    p.add_argument("--gateway-size", type=int, default=500)
    p.add_argument("--gateway-format", choices=GATEWAY_FORMATS, default="columns", help="a gateway message's layout")
    p.add_argument("--rate", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--latency-zones", type=int, default=4)
    p.add_argument("--settle", type=float, default=60.0, help="at most this long to wait for the pipeline to drain")
    p.add_argument("--basic-ingest", action="store_true")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--json", help="also write the result to this file")
    p.set_defaults(run=("probes.bench", "cmd_bench"))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.device_identity = device_identity
    setup_logging(args.verbose)
    try:
        return command(args)(args)
    except (CommandError, DependencyError) as exc:
        LOG.error("%s", exc)
        return EXIT_DEPENDENCY if isinstance(exc, DependencyError) else 2
