"""The stand-ins' subcommands (pki, broker-config, gate, bridge, poller, view) and the local CA's device identity
that the device side's MQTT transport and the probes get from the CLI on env=local (``device_identity``)."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path
from typing import Any

from ..shared import EXIT_DEPENDENCY, LOG, DependencyError, aws_client, print_json
from . import broker as broker_mod
from .bridge import Bridge
from .crlsync import CrlSync
from .gate import Enroller, Gate, Registry
from .liveview import LiveView, load_geometry, serve
from .local_ca import LocalCA, PkiError
from .poller import Checkpoints, FunctionConfig, FunctionError, Mapping, Poller, Sandbox, checkpoint_dir, keep_base64_data
from .runtime import Beacon


def device_identity(args: argparse.Namespace, enroll: bool = True) -> tuple[str, Enroller | None]:
    """The MQTT transport's CA file (the local CA's: it signed the gate's server certificate) and, with ``enroll``,
    each device's certificate as the device_fleet role would give it: the local CA's, registered and attached at the
    endpoint (``Enroller``). The CLI hands this to the device side and the probes, which import no stand-in."""
    ca = LocalCA(args.pki_dir)
    if not enroll:
        return str(ca.ca_cert), None
    return str(ca.ca_cert), Enroller(aws_client("iot", args.region, args.endpoint_url), ca)


# --- pki / broker-config ---------------------------------------------------------------------------------------------
def cmd_pki(args: argparse.Namespace) -> int:
    ca = LocalCA(args.dir)
    if args.action == "init":
        print_json({"changed": ca.ensure_ca(), "ca": str(ca.ca_cert)})
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
        print_json(result)
    elif args.action == "sign":
        if not args.csr:
            raise PkiError("pki sign needs --csr FILE")
        pem = ca.sign_csr(Path(args.csr).read_text(), days=args.days)
        if args.out:
            Path(args.out).write_text(pem)
        print_json({"changed": True, "certificate_pem": pem, **({"cert": args.out} if args.out else {})})
    else:
        print_json({"changed": ca.revoke(args.name)})
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
    print_json({"changed": changed, "config": str(config), "acl": str(acl), "ca": str(ca.ca_cert), "socket": str(sock)})
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
