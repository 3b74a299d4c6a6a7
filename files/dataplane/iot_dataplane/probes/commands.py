"""The probes' subcommands: smoke (against AWS with ``--transport iot-data``, or the local stand-ins) and bench
(``bench.cmd_bench``, against the running local data plane)."""

from __future__ import annotations

import argparse
import time

from ..devices.commands import make_transport
from ..devices.simulator import Simulator
from ..shared import DependencyError, aws_client, print_json
from .smoke import cleanup, probe, smoke_scenario, stack_outputs


def cmd_smoke(args: argparse.Namespace) -> int:
    try:
        outputs = stack_outputs(args.region, args.endpoint_url, args.stack_name)
    except DependencyError as exc:
        print_json({"ok": False, "missing": [str(exc)]})
        return 1
    run_id = args.run_id or time.strftime("%Y%m%d%H%M%S", time.gmtime())
    scenario = smoke_scenario(run_id)
    simulator = Simulator(scenario, rule_name=outputs.get("TopicRuleName") if args.basic_ingest else None)
    zone = simulator.zones[0]
    try:
        transport = make_transport(args, simulator.ack)
        report = simulator.run(transport)
    except (ConnectionError, OSError) as exc:
        print_json({"ok": False, "zone": zone, "missing": [f"publishing failed: {exc}"]})
        return 1
    dynamodb = aws_client("dynamodb", args.region, args.endpoint_url)
    sqs = aws_client("sqs", args.region, args.endpoint_url)
    result = probe(
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
        result["cleaned_items"] = cleanup(dynamodb, outputs["TableName"], zone, sensor_ids)
        remove_all = getattr(getattr(transport, "cert_for", None), "remove_all", None)
        if remove_all is not None:  # an enroller's devices: their things and certificates at the endpoint
            result["removed_devices"] = remove_all()
    print_json(result)
    return 0 if result["ok"] else 1
