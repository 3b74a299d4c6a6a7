"""The shadow service's MQTT side for the local broker: the bridge relays the rotation shadow's requests.

IoT Core answers a device's ``$aws/things/<thing>/shadow/name/<shadow>/get`` and ``.../update`` itself; locally the
broker cannot, so the bridge subscribes to those requests and calls the endpoint's shadow service over HTTP (iot-data
GetThingShadow / UpdateThingShadow, as a controller does), then publishes the answer where IoT Core would:
``.../get/accepted`` (the document) or ``.../get/rejected`` (``{"code": 404, ...}``), ``.../update/accepted`` or
``.../update/rejected``, and ``.../update/delta`` when the update left desired and reported apart.

Only the named shadow ``cert-rotation`` is relayed (the device policy grants no other). A controller's update over
HTTP does not pass the broker, so it publishes no delta here: the devices poll (get) instead, as the rotation protocol
says. Requests are served by one worker thread, never on paho's network thread and never on the Kinesis path.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..shared import LOG
from ..topics import ROTATION_SHADOW
from .runtime import error_code

SHADOW_QUEUE_LIMIT = 10000


@dataclass(frozen=True)
class ShadowRequest:
    thing: str
    shadow: str
    operation: str  # get | update


def parse_request(topic: str) -> ShadowRequest | None:
    """``$aws/things/<thing>/shadow/name/<shadow>/(get|update)`` -> the request; anything else (answers too) -> None."""
    parts = topic.split("/")
    if len(parts) != 7 or parts[0] != "$aws" or parts[1] != "things" or parts[3] != "shadow" or parts[4] != "name":
        return None
    thing, shadow, operation = parts[2], parts[5], parts[6]
    if not thing or shadow != ROTATION_SHADOW or operation not in ("get", "update") or "+" in thing or "#" in thing:
        return None
    return ShadowRequest(thing, shadow, operation)


def answer_topic(request: ShadowRequest, outcome: str) -> str:
    return f"$aws/things/{request.thing}/shadow/name/{request.shadow}/{request.operation}/{outcome}"


def _client_token(payload: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The request's JSON document (None if it is not a JSON object) and its clientToken."""
    if not payload:
        return {}, None
    try:
        document = json.loads(payload)
    except ValueError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    token = document.get("clientToken")
    return document, token if isinstance(token, str) else None


def error_document(code: int, message: str, client_token: str | None = None) -> dict[str, Any]:
    """IoT Core's error document on a rejected topic."""
    document: dict[str, Any] = {"code": code, "message": message, "timestamp": int(time.time())}
    if client_token:
        document["clientToken"] = client_token
    return document


def prune(value: Any) -> Any:
    """A delta without its empty objects (the endpoint reports ``{"rotation": {}}`` when nothing differs)."""
    if isinstance(value, dict):
        pruned = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v != {}}
    return value


def delta_document(shadow: dict[str, Any], client_token: str | None = None) -> dict[str, Any] | None:
    """The ``update/delta`` message for a shadow document (None when desired and reported agree)."""
    delta = prune((shadow.get("state") or {}).get("delta") or {})
    if not delta:
        return None
    document: dict[str, Any] = {"state": delta, "version": shadow.get("version"), "timestamp": shadow.get("timestamp", int(time.time()))}
    metadata = (shadow.get("metadata") or {}).get("desired")
    if metadata:
        document["metadata"] = metadata
    if client_token:
        document["clientToken"] = client_token
    return document


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if error_code(exc) == "ResourceNotFoundException":
        return 404
    return int(status) if isinstance(status, int) and 400 <= status < 600 else 500


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Message") or str(exc)


def serve(iot_data: Any, request: ShadowRequest, payload: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The answers IoT Core would publish for one request: [(topic, document)], in order."""
    document, token = _client_token(payload)
    if request.operation == "get":
        try:
            shadow = json.loads(iot_data.get_thing_shadow(thingName=request.thing, shadowName=request.shadow)["payload"].read())
        except Exception as exc:  # answered on the rejected topic, like IoT Core
            code = _status(exc)
            message = f"No shadow exists with name: '{request.thing}~{request.shadow}'" if code == 404 else _message(exc)
            return [(answer_topic(request, "rejected"), error_document(code, message, token))]
        if token:
            shadow["clientToken"] = token
        return [(answer_topic(request, "accepted"), shadow)]
    if document is None or not isinstance(document.get("state"), dict):
        message = "Missing required node: state" if document is not None else "Payload contains invalid json"
        return [(answer_topic(request, "rejected"), error_document(400, message, token))]
    try:
        response = iot_data.update_thing_shadow(thingName=request.thing, shadowName=request.shadow, payload=json.dumps(document).encode())
        accepted = json.loads(response["payload"].read())
    except Exception as exc:  # answered on the rejected topic
        return [(answer_topic(request, "rejected"), error_document(_status(exc), _message(exc), token))]
    if token:
        accepted["clientToken"] = token
    answers = [(answer_topic(request, "accepted"), accepted)]
    if "desired" in document["state"]:
        try:
            shadow = json.loads(iot_data.get_thing_shadow(thingName=request.thing, shadowName=request.shadow)["payload"].read())
        except Exception as exc:  # the update stands; only its delta is missing
            LOG.warning("shadow %s~%s: reading it back for the delta failed: %s", request.thing, request.shadow, exc)
        else:
            delta = delta_document(shadow, token)
            if delta:
                answers.append((f"$aws/things/{request.thing}/shadow/name/{request.shadow}/update/delta", delta))
    return answers


class ShadowRelay:
    """One worker thread: takes (request, payload, done) from the bridge's MQTT callback, calls the shadow service,
    publishes the answers through ``publish(topic, payload)``, then calls ``done()`` (the bridge's PUBACK)."""

    def __init__(self, iot_data: Any, publish: Callable[[str, bytes], None], stopping: threading.Event) -> None:
        self.iot_data = iot_data
        self.publish = publish
        self.stopping = stopping
        self.inbox: queue.Queue[tuple[ShadowRequest, bytes, Callable[[], None]]] = queue.Queue(SHADOW_QUEUE_LIMIT)
        self.served = 0
        self.rejected = 0
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, name="shadow-relay", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def submit(self, request: ShadowRequest, payload: bytes, done: Callable[[], None]) -> None:
        """On paho's network thread: never blocks. A full queue drops the request (acknowledged: devices poll again)."""
        try:
            self.inbox.put_nowait((request, payload, done))
        except queue.Full:
            self.dropped += 1
            done()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                request, payload, done = self.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                answers = serve(self.iot_data, request, payload)
            except Exception:  # never kill the relay; the request stays unanswered and is logged
                LOG.exception("shadow request %s on %s~%s failed", request.operation, request.thing, request.shadow)
                done()
                continue
            for topic, document in answers:
                if topic.endswith("/rejected"):
                    self.rejected += 1
                    LOG.info("shadow %s on %s~%s rejected: %s", request.operation, request.thing, request.shadow, document.get("message"))
                self.publish(topic, json.dumps(document, sort_keys=True).encode())
            self.served += 1
            done()

    def stats(self) -> dict[str, int]:
        return {"served": self.served, "rejected": self.rejected, "dropped": self.dropped, "queued": self.inbox.qsize()}
