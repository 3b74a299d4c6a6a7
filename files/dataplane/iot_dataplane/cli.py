"""Command line of the local data plane: ``iot-dataplane <command> --help``.

pki            the local CA: init, issue a certificate, revoke one, sign a CSR
broker-config  the Mosquitto configuration and ACL of one region's broker (and its certificates)
gate           the region's MQTT port: mutual TLS, client id = CN, the endpoint's certificate status, the device policy
bridge         MQTT -> Kinesis, as the IoT rule does (long-running)
poller         Kinesis -> lambda_handler, as the event source mapping and the sweep schedule do (long-running)
simulate       the sensor fleet: publish a scenario, print what was sent as JSON (--rotation: devices rotate certificates)
devices        the simulated devices' key store: init makes a key and an enrollment CSR per device
smoke          publish the smoke scenario and wait until the system shows it; JSON result, exit 1 if not
bench          the pipeline benchmark against the running local data plane
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import broker as broker_mod
from . import smoke
from .bench import add_arguments as add_bench_arguments
from .bridge import Bridge
from .common import EXIT_DEPENDENCY, LOG, Beacon, DependencyError, aws_client, setup_logging, stack_outputs
from .crlsync import CrlSync
from .gate import Enroller, Gate, Registry
from .liveview import LiveView, load_geometry, serve
from .pki import LocalCA, PkiError
from .poller import Checkpoints, FunctionConfig, FunctionError, Mapping, Poller, Sandbox, checkpoint_dir, keep_base64_data
from .rotation import BEHAVIOURS, DeviceStore, RotationOptions, StoreError
from .simulator import GATEWAY_FORMATS, MALFORMED_KINDS, Congestion, IotDataTransport, MqttTransport, Scenario, Silence, Simulator, build_fleet

LAMBDA_DIR = str(Path(__file__).resolve().parents[2] / "lambda")


def _print(data: Any) -> None:
    sys.stdout.write(json.dumps(data, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


# --- pki / broker-config ---------------------------------------------------------------------------------------------
def cmd_pki(args: argparse.Namespace) -> int:
    ca = LocalCA(args.dir)
    if args.action == "init":
        _print({"changed": ca.ensure_ca(), "ca": str(ca.ca_cert)})
    elif args.action == "issue":
        changed = ca.ensure_ca()
        changed = ca.ensure_leaf(args.name, server=args.server, hosts=tuple(args.host or ())) or changed
        paths = ca.paths(args.name)
        result = {"changed": changed, "cert": str(paths.cert), "key": str(paths.key)}
        if args.register:  # registered ACTIVE at the endpoint and attached to the thing of that name (created)
            if not args.region:
                raise PkiError("pki issue --register needs --region (and --endpoint-url for the local endpoint)")
            Enroller(aws_client("iot", args.region, args.endpoint_url), ca)(args.name)
            result["registered"] = True
        _print(result)
    elif args.action == "sign":
        if not args.csr:
            raise PkiError("pki sign needs --csr FILE")
        pem = ca.sign_csr(Path(args.csr).read_text(), days=args.days)
        if args.out:
            Path(args.out).write_text(pem)
        _print({"changed": True, "certificate_pem": pem, **({"cert": args.out} if args.out else {})})
    else:
        _print({"changed": ca.revoke(args.name)})
    return 0


def cmd_broker_config(args: argparse.Namespace) -> int:
    ca = LocalCA(args.pki_dir)
    changed = ca.ensure_ca()
    changed = ca.ensure_leaf("broker", server=True, hosts=("127.0.0.1", "localhost")) or changed
    changed = ca.ensure_leaf(args.bridge_name) or changed
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if out.stat().st_mode & 0o777 != 0o700:  # the broker's socket lives here: this user only
        out.chmod(0o700)
        changed = True
    sock = broker_mod.socket_path(out)
    acl = out / "acl"
    config = out / "broker.conf"  # mosquitto.conf was the broker with its own TLS port, before the gate
    changed = broker_mod.write_if_changed(acl, broker_mod.render_acl(args.rule_name, args.bridge_name)) or changed
    changed = broker_mod.write_if_changed(config, broker_mod.render_config(acl)) or changed
    _print({"changed": changed, "config": str(config), "acl": str(acl), "ca": str(ca.ca_cert), "socket": str(sock)})
    return 0


# --- long-running components -----------------------------------------------------------------------------------------
def _run_component(component: Any, max_seconds: float | None) -> int:
    def on_signal(signum: int, frame: Any) -> None:
        LOG.info("signal %d: stopping", signum)
        component.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    profile_path = os.environ.get("IOT_DATAPLANE_PROFILE")
    profiler = None
    if profile_path:
        import cProfile  # noqa: PLC0415  pylint: disable=import-outside-toplevel

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        component.run(max_seconds=max_seconds)
    except DependencyError as exc:
        LOG.error("stopping: %s", exc)
        return EXIT_DEPENDENCY
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile_path)
    LOG.info("stopped")
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    ca = LocalCA(args.pki_dir)
    state = Path(args.state_dir)
    gate = Gate(
        registry=Registry(aws_client("iot", args.region, args.endpoint_url, retries=1), ca),
        ca=ca,
        server_name=args.server_name,
        broker_socket=args.broker_socket or str(broker_mod.socket_path(state)),
        rule_name=args.rule_name,
        reserved=tuple(args.reserved or ()),
        host=args.host,
        port=args.port,
        beacon=Beacon(None, str(state / "gate.stats.json")),
        workers=args.workers,
    )
    try:
        return _run_component(gate, args.max_seconds)
    except OSError as exc:  # the port is taken, or the broker's socket does not answer
        LOG.error("not starting: %s", exc)
        return EXIT_DEPENDENCY


def cmd_bridge(args: argparse.Namespace) -> int:
    ca = LocalCA(args.pki_dir)
    paths = ca.paths(args.name)
    state = Path(args.state_dir)
    bridge = Bridge(
        kinesis=aws_client("kinesis", args.region, args.endpoint_url),
        stream_name=args.stream_name,
        rule_name=args.rule_name,
        client_id=args.name,
        host=args.mqtt_host,
        port=args.mqtt_port,
        ca_file=str(ca.ca_cert),
        cert_file=str(paths.cert),
        key_file=str(paths.key),
        beacon=Beacon(str(state / "bridge.health"), str(state / "bridge.stats.json")),
        outage_seconds=args.outage_seconds,
        iot_data=aws_client("iot-data", args.region, args.endpoint_url),
        crl_sync=CrlSync(
            aws_client("iot", args.region, args.endpoint_url),
            ca,
            state / "crl-sync.json",
            Path(args.broker_pid_file) if args.broker_pid_file else None,
        ),
        crl_sync_seconds=args.crl_sync_seconds,
        socket_path=args.mqtt_socket,
    )
    where = args.mqtt_socket or f"{args.mqtt_host}:{args.mqtt_port}"
    LOG.info("bridge %s: %s -> Kinesis %s (%s at %s)", args.name, where, args.stream_name, args.region, args.endpoint_url or "AWS")
    return _run_component(bridge, args.max_seconds)


def build_poller(args: argparse.Namespace) -> Any:
    lam = aws_client("lambda", args.region, args.endpoint_url)
    try:
        function = lam.get_function_configuration(FunctionName=args.function_name)
        mappings = lam.list_event_source_mappings(FunctionName=args.function_name)["EventSourceMappings"]
    except Exception as exc:
        raise DependencyError(
            f"cannot read function {args.function_name} and its event source mapping in {args.region}: {exc}. Deploy the stack first."
        ) from exc
    mappings = [m for m in mappings if ":kinesis:" in m.get("EventSourceArn", "")]
    if not mappings:
        raise DependencyError(f"function {args.function_name} has no Kinesis event source mapping")
    mapping = Mapping.from_api(mappings[0])
    environment = dict((function.get("Environment") or {}).get("Variables") or {})
    environment.update(
        AWS_REGION=args.region,
        AWS_DEFAULT_REGION=args.region,
        AWS_LAMBDA_FUNCTION_NAME=function["FunctionName"],
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(function.get("MemorySize", 128)),
    )
    if args.endpoint_url:
        environment["AWS_ENDPOINT_URL"] = args.endpoint_url
    config = FunctionConfig(
        name=function["FunctionName"],
        arn=function["FunctionArn"],
        memory_mb=int(function.get("MemorySize", 128)),
        timeout_s=float(function.get("Timeout", 3)),  # the service's default when the template sets none
    )
    kill_after = int(os.environ.get("IOT_DATAPLANE_TEST_KILL_AFTER_WRITES") or 0) or None
    # The handler runs in execution environments of its own (worker processes) with the function's Timeout, the
    # stream's batches in one, the sweep schedule's invocations in another. A handler that cannot be imported stops
    # the poller here, before it reads a record.
    handler = Sandbox(args.lambda_dir, environment, config, entry="stream", kill_switch_writes=kill_after)
    sweeper = Sandbox(args.lambda_dir, environment, config, entry="sweep")
    try:
        handler.start()
    except FunctionError as exc:
        raise DependencyError(f"the function's handler in {args.lambda_dir} does not load: {exc}") from exc
    state = Path(args.state_dir)
    stream_name = mapping.stream_arn.split("/", 1)[1]
    kinesis = keep_base64_data(aws_client("kinesis", args.region, args.endpoint_url))

    return Poller(
        kinesis=kinesis,
        sqs=aws_client("sqs", args.region, args.endpoint_url),
        mapping=mapping,
        handler=handler,
        context_factory=lambda: None,
        region=args.region,
        role_arn=function.get("Role", ""),
        function_arn=function["FunctionArn"],
        checkpoints=Checkpoints(checkpoint_dir(state, kinesis, stream_name)),
        beacon=Beacon(str(state / "poller.health"), str(state / "poller.stats.json")),
        sweep_seconds=args.sweep_seconds or None,
        outage_seconds=args.outage_seconds,
        sweeper=sweeper,
    )


def cmd_poller(args: argparse.Namespace) -> int:
    try:
        poller = build_poller(args)
    except DependencyError as exc:
        LOG.error("not starting: %s", exc)
        return EXIT_DEPENDENCY
    return _run_component(poller, args.max_seconds)


def cmd_view(args: argparse.Namespace) -> int:
    """The live congestion page on 127.0.0.1 (exit 3 when its port is taken or the function cannot be read)."""

    def on_signal(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    try:
        view = LiveView(aws_client("lambda", args.region, args.endpoint_url), aws_client("dynamodb", args.region, args.endpoint_url),
                        args.function_name, args.region, args.lambda_dir, load_geometry(args.zones_geojson), args.every_seconds)
        view.settings()
        serve(view, args.host, args.port, args.max_seconds)
    except DependencyError as exc:
        LOG.error("not starting: %s", exc)
        return EXIT_DEPENDENCY
    except OSError as exc:  # the port is taken
        LOG.error("not starting: cannot listen on %s:%s: %s", args.host, args.port, exc)
        return EXIT_DEPENDENCY
    return 0


# --- simulate / smoke ------------------------------------------------------------------------------------------------
def make_transport(args: argparse.Namespace, on_ack: Any) -> Any:
    if args.transport == "iot-data":
        iot = aws_client("iot", args.region, args.endpoint_url)
        address = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
        client = aws_client("iot-data", args.region, f"https://{address}")
        return IotDataTransport(client, on_ack)
    ca = LocalCA(args.pki_dir)
    store = DeviceStore(args.device_dir) if getattr(args, "device_dir", None) else None

    if store is not None:  # each device's own identity (enrolled by the controller)
        return MqttTransport(args.mqtt_host, args.mqtt_port, str(ca.ca_cert), store.current, on_ack)
    # the local CA's certificate of each device, enrolled at the endpoint as the device_fleet role would
    enroller = Enroller(aws_client("iot", args.region, args.endpoint_url), ca)
    return MqttTransport(args.mqtt_host, args.mqtt_port, str(ca.ca_cert), enroller, on_ack)


def parse_scenario(args: argparse.Namespace) -> Scenario:
    congestions = []
    for spec in args.congest or []:
        zone, start, minutes = spec.rsplit(":", 2)
        congestions.append(Congestion(zone, float(start), float(minutes)))
    silences = []
    for spec in args.silence or []:
        sensor, start = spec.rsplit(":", 1)
        silences.append(Silence(sensor, float(start)))
    malformed = {}
    for spec in args.malformed or []:
        kind, _sep, count = spec.partition("=")
        malformed[kind] = int(count or 1)
    return Scenario(
        sensors=args.sensors,
        zones=args.zones,
        rate_hz=args.rate,
        duration_s=args.duration,
        gateway_size=args.gateway_size,
        gateway_format=args.gateway_format,
        seed=args.seed,
        prefix=args.prefix,
        congestions=congestions,
        silences=silences,
        malformed=malformed,
        hour_offset=args.hour,
        window_seconds=args.window_seconds,
    )


def rotation_options(args: argparse.Namespace) -> RotationOptions | None:
    if not args.rotation:
        return None
    if not args.device_dir:
        raise ValueError("--rotation needs --device-dir (the devices' key store)")
    behaviours = {}
    for spec in args.rotation_behaviour or []:
        thing, _sep, kind = spec.partition("=")
        if kind not in BEHAVIOURS:
            raise ValueError(f"--rotation-behaviour {spec}: the kind must be one of {', '.join(BEHAVIOURS)}")
        behaviours[thing] = kind
    return RotationOptions(DeviceStore(args.device_dir), poll_seconds=args.rotation_poll_seconds, behaviours=behaviours)


def cmd_simulate(args: argparse.Namespace) -> int:
    try:
        scenario = parse_scenario(args)
        simulator = Simulator(scenario, rule_name=args.rule_name, rotation=rotation_options(args))
    except ValueError as exc:
        LOG.error("bad scenario: %s", exc)
        return 2
    if simulator.rotation is not None and args.transport != "mqtt":
        LOG.error("--rotation needs the mqtt transport (the rotation shadow's MQTT topics)")
        return 2
    transport = make_transport(args, simulator.ack)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    try:
        report = simulator.run(transport, stop)
    except ConnectionError as exc:
        LOG.error("%s", exc)
        return EXIT_DEPENDENCY
    data = report.as_dict()
    if args.report:
        Path(args.report).write_text(json.dumps(data, indent=2, sort_keys=True))
    _print(data)
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    try:
        scenario = parse_scenario(args)
        scenario.validate()
    except ValueError as exc:
        LOG.error("bad scenario: %s", exc)
        return 2
    _zones, devices = build_fleet(scenario)
    store = DeviceStore(args.dir)
    _print([{"name": d.name, "zone": d.zone, "csr_path": str(store.init(d.name))} for d in devices])
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    try:
        outputs = stack_outputs(args.region, args.endpoint_url, args.stack_name)
    except DependencyError as exc:
        _print({"ok": False, "missing": [str(exc)]})
        return 1
    run_id = args.run_id or time.strftime("%Y%m%d%H%M%S", time.gmtime())
    scenario = smoke.smoke_scenario(run_id)
    simulator = Simulator(scenario, rule_name=outputs.get("TopicRuleName") if args.basic_ingest else None)
    zone = simulator.zones[0]
    try:
        transport = make_transport(args, simulator.ack)
        report = simulator.run(transport)
    except (ConnectionError, OSError) as exc:
        _print({"ok": False, "zone": zone, "missing": [f"publishing failed: {exc}"]})
        return 1
    dynamodb = aws_client("dynamodb", args.region, args.endpoint_url)
    sqs = aws_client("sqs", args.region, args.endpoint_url)
    result = smoke.probe(
        dynamodb,
        sqs,
        outputs,
        zone,
        expected_readings=report.readings_acked,
        expected_alert="CongestionAlert",
        expected_reasons=dict(report.malformed_acked),
        timeout=args.timeout,
    )
    result["published"] = {
        "messages": report.messages_sent,
        "acknowledged": report.messages_acked,
        "refused": report.messages_refused,
        "readings": report.readings_acked,
        "malformed": report.malformed_acked,
    }
    if report.messages_refused or report.readings_acked != report.readings_sent:
        result["ok"] = False
        result["missing"].append(f"the broker acknowledged {report.messages_acked} of {report.messages_sent} messages ({report.messages_refused} refused)")
    if result["ok"] and not args.keep:
        sensor_ids = sorted({s.sensor_id for d in simulator.devices for s in d.sensors})
        result["cleaned_items"] = smoke.cleanup(dynamodb, outputs["TableName"], zone, sensor_ids)
        if isinstance(transport.cert_for, Enroller):  # its devices' things and certificates at the endpoint
            result["removed_devices"] = transport.cert_for.remove_all()
    _print(result)
    return 0 if result["ok"] else 1


# --- parser ----------------------------------------------------------------------------------------------------------
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
    p.set_defaults(func=cmd_pki)

    p = sub.add_parser("broker-config", help="one region's Mosquitto configuration, ACL and certificates")
    p.add_argument("--pki-dir", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--rule-name", required=True)
    p.add_argument("--bridge-name", required=True)
    p.add_argument("--host", default="127.0.0.1", help="unused: the gate owns the MQTT port (kept for old callers)")
    p.add_argument("--port", type=int, help="unused: the gate owns the MQTT port (kept for old callers)")
    p.set_defaults(func=cmd_broker_config)

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
    p.set_defaults(func=cmd_gate)

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
    p.set_defaults(func=cmd_bridge)

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
    p.set_defaults(func=cmd_poller)
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
    p.set_defaults(func=cmd_view)


def _tool_parsers(sub: Any) -> None:
    p = sub.add_parser("simulate", help="publish a scenario from the sensor fleet")
    _aws_args(p)
    _mqtt_args(p)
    p.add_argument("--rule-name", help="publish to the Basic Ingest topic of this rule")
    _scenario_args(p)
    p.add_argument("--congest", action="append", metavar="ZONE:START_S:MINUTES")
    p.add_argument("--silence", action="append", metavar="SENSOR:START_S")
    p.add_argument("--malformed", action="append", metavar="KIND=N", help=f"kinds: {', '.join(sorted(MALFORMED_KINDS))}")
    p.add_argument("--report", help="also write the report to this file")
    p.add_argument(
        "--device-dir",
        help="the devices' key store (devices init): each device connects with <name>.crt/<name>.key from it (default: the local CA's certificates)",
    )
    p.add_argument("--rotation", action="store_true", help="every device runs a rotation agent on its cert-rotation shadow (needs --device-dir)")
    p.add_argument("--rotation-poll-seconds", type=float, default=2.0, help="how often a device gets its rotation shadow")
    p.add_argument("--rotation-behaviour", action="append", metavar="THING=KIND", help=f"a misbehaving device, for tests; kinds: {', '.join(BEHAVIOURS)}")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("devices", help="the simulated devices' key store")
    p.add_argument("action", choices=("init",))
    p.add_argument("--dir", required=True, help="the key store: <name>.key (0600) and <name>.csr per device")
    _scenario_args(p)
    p.set_defaults(func=cmd_devices, congest=None, silence=None, malformed=None)

    p = sub.add_parser("smoke", help="publish the smoke scenario and check that the system shows it")
    _aws_args(p)
    _mqtt_args(p)
    p.add_argument("--stack-name", required=True)
    p.add_argument("--basic-ingest", action="store_true", help="publish to the rule's Basic Ingest topic")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--run-id", help="up to 21 characters [a-z0-9] (default: the UTC time)")
    p.add_argument("--keep", action="store_true", help="keep what the run stored (default: removed when green)")
    p.set_defaults(func=cmd_smoke)

    p = sub.add_parser("bench", help="the pipeline benchmark against the running local data plane")
    add_bench_arguments(p)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return args.func(args)
    except (PkiError, StoreError, DependencyError) as exc:
        LOG.error("%s", exc)
        return EXIT_DEPENDENCY if isinstance(exc, DependencyError) else 2
