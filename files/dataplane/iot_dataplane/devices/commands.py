"""The device side's subcommands (simulate, devices) and the transport a fleet publishes through (also the probes')."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from typing import Any

from ..shared import EXIT_DEPENDENCY, LOG, aws_client, print_json
from . import BEHAVIOURS
from .rotation_agent import DeviceStore, RotationOptions
from .simulator import Congestion, IotDataTransport, MqttTransport, Scenario, Silence, Simulator, build_fleet


def make_transport(args: argparse.Namespace, on_ack: Any) -> Any:
    """The transport of ``--transport``: AWS IoT's HTTPS data plane (the endpoint's, or AWS's), or MQTT with each
    device's own key store (``--device-dir``) or with the identity the CLI hands in (``args.device_identity``: on
    env=local the local CA's certificates, enrolled at the endpoint as the device_fleet role would)."""
    if args.transport == "iot-data":
        iot = aws_client("iot", args.region, args.endpoint_url)
        address = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
        client = aws_client("iot-data", args.region, f"https://{address}")
        return IotDataTransport(client, on_ack)
    store = DeviceStore(args.device_dir) if getattr(args, "device_dir", None) else None
    ca_file, enroller = args.device_identity(args, enroll=store is None)
    if store is not None:  # each device's own identity (enrolled by the controller)
        return MqttTransport(args.mqtt_host, args.mqtt_port, ca_file, store.current, on_ack)
    return MqttTransport(args.mqtt_host, args.mqtt_port, ca_file, enroller, on_ack)


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
    print_json(data)
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
    print_json([{"name": d.name, "zone": d.zone, "csr_path": str(store.init(d.name))} for d in devices])
    return 0
