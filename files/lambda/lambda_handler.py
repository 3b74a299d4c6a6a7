"""Stream processor entry point: handler ``lambda_handler.lambda_handler``.

Kinesis events (from the event source mapping, or the local data plane's poller) are aggregated into zone windows,
sensor state and alerts; an event ``{"action": "sweep"}`` (the stack's one-minute schedule) runs silence and
data-drop detection. Configuration comes only from environment variables (see ``stream_processor.config``).
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the package beside this file, however imported

import boto3
from stream_processor.aws import DynamoStore, EventBridgePublisher, SqsQuarantine, client_config
from stream_processor.config import from_env
from stream_processor.observability import Telemetry
from stream_processor.processor import Processor


def build(env: dict[str, str] | None = None) -> Processor:
    """A processor wired to AWS through boto3 (which honours ``AWS_ENDPOINT_URL`` for the local endpoint)."""
    settings = from_env(os.environ if env is None else env)
    session = boto3.session.Session()
    config = client_config()
    store = DynamoStore(session.client("dynamodb", config=config), settings.table_name)
    publisher = EventBridgePublisher(session.client("events", config=config), settings.event_bus_name)
    quarantine = None
    if settings.quarantine_queue_url:
        quarantine = SqsQuarantine(session.client("sqs", config=config), settings.quarantine_queue_url)
    return Processor(settings, store, publisher, quarantine, Telemetry())


@functools.lru_cache(maxsize=1)
def processor() -> Processor:
    """The container's processor, built at the first invocation and kept for the next ones (warm starts)."""
    return build()


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    if isinstance(event, dict) and event.get("action") == "sweep":
        return processor().sweep()
    return processor().handle_kinesis(event)
