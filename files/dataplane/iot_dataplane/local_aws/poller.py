"""The poller: what the Lambda event source mapping (and the sweep schedule) do, for the local endpoint.

It reads the mapping and the function as the stack created them (batch size, batching window, starting position,
retries, record age, bisection, on-failure destination, the function's environment), reads every shard in order,
builds Kinesis events exactly as the Lambda service does, and invokes the real ``lambda_handler``. A batch goes out,
as the service sends it, when it has BatchSize records, when its batching window has passed, or when one more record
would take the event past Lambda's 6 MB invocation payload (large gateway records: a batch of 500 of them would be
tens of MB, which Lambda cannot take).
Like the service it honours ``batchItemFailures`` (everything before the first failed record is done, the batch is
retried from there), bisects a batch whose invocation raised, retries with backoff up to ``MaximumRetryAttempts`` or
``MaximumRecordAgeInSeconds``, then sends the batch's description to the on-failure queue and moves on.

The handler runs as on Lambda: in an execution environment of its own (a worker process, ``Sandbox``) with the
function's ``Timeout``. An invocation that runs past it is a failed invocation, like one that raised: the worker is
killed (as Lambda ends a timed-out sandbox, so an abandoned invocation writes nothing more), the next invocation gets a
new one (a cold start), and the batch is retried and bisected per the mapping. The sweep schedule's invocations run in
an execution environment of their own too.

Progress is checkpointed per shard in a file (the last sequence number the handler finished), written after each
finished batch. A poller killed in the middle of a batch starts again after the checkpoint: the handler sees the
batch again, and its exactly-once updates keep the counts exact.
"""

from __future__ import annotations

import base64
import datetime
import json
import multiprocessing
import os
import random
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..shared import LOG, DependencyError, percentiles, setup_logging
from .runtime import Beacon, Outage, endpoint_hint, error_code, stream_gone

GET_RECORDS_LIMIT = 10000  # the API's maximum per call
IDLE_POLL_SECONDS = 0.2
INVOCATION_PAYLOAD_LIMIT = 6 * 1024 * 1024  # Lambda's synchronous invocation payload: the mapping cuts batches there
SANDBOX_INIT_SECONDS = 60.0  # Lambda's init phase has its own limit (10 s); a loaded machine gets more here


@dataclass
class Mapping:
    """The event source mapping's settings that shape delivery (defaults are the service's)."""

    stream_arn: str
    batch_size: int = 100
    batching_window: float = 0.0
    starting_position: str = "LATEST"
    max_retries: int = -1  # -1: until the record expires
    max_record_age: int = -1  # -1: the stream's retention
    bisect: bool = False
    report_item_failures: bool = False
    on_failure_arn: str | None = None

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Mapping:
        destination = (raw.get("DestinationConfig") or {}).get("OnFailure") or {}
        return cls(
            stream_arn=raw["EventSourceArn"],
            batch_size=int(raw.get("BatchSize") or 100),
            batching_window=float(raw.get("MaximumBatchingWindowInSeconds") or 0),
            starting_position=raw.get("StartingPosition") or "LATEST",
            max_retries=int(raw["MaximumRetryAttempts"]) if raw.get("MaximumRetryAttempts") is not None else -1,
            max_record_age=(int(raw["MaximumRecordAgeInSeconds"]) if raw.get("MaximumRecordAgeInSeconds") is not None else -1),
            bisect=bool(raw.get("BisectBatchOnFunctionError")),
            report_item_failures="ReportBatchItemFailures" in (raw.get("FunctionResponseTypes") or []),
            on_failure_arn=destination.get("Destination"),
        )


class LambdaContext:
    """The context object a Python handler receives (the attributes handlers and Powertools read)."""

    def __init__(self, function_name: str, function_arn: str, memory_mb: int, timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local-poller"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionError(Exception):
    """The function's invocation failed: its handler raised, or its execution environment died or timed out."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class FunctionTimeout(FunctionError):
    """The invocation ran past the function's Timeout (Lambda reports ``Task timed out after N seconds``)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__("Sandbox.Timedout", f"Task timed out after {timeout_s:.2f} seconds")


@dataclass(frozen=True)
class FunctionConfig:
    """What the execution environment needs of the function's configuration."""

    name: str
    arn: str
    memory_mb: int = 128
    timeout_s: float = 60.0


class Sandbox:
    """One execution environment of the function: a worker process that imports the handler from ``lambda_dir`` with
    the function's environment (an init phase, as Lambda's) and runs one invocation at a time.

    An invocation gets the function's Timeout: when it runs past it, the worker is killed (SIGKILL: nothing of the
    abandoned invocation runs on, as when Lambda ends the sandbox) and the invocation fails with FunctionTimeout; the
    next invocation starts a new worker. A worker that dies fails its invocation too. ``entry`` is ``stream`` (the
    handler) or ``sweep`` (the schedule's invocation, on a processor of its own). The worker dies with the poller."""

    def __init__(
        self,
        lambda_dir: str,
        environment: dict[str, str],
        function: FunctionConfig,
        entry: str = "stream",
        kill_switch_writes: int | None = None,
    ) -> None:
        self.lambda_dir = lambda_dir
        self.environment = {str(k): str(v) for k, v in environment.items()}
        self.function = function
        self.entry = entry
        self.kill_switch_writes = kill_switch_writes
        self.process: Any = None
        self.conn: Any = None
        self.starts = 0

    # --- lifecycle ------------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """A new worker, ready when its handler is imported; FunctionError when its init fails."""
        self.close()
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no locks or threads of this one
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=_sandbox_main,
            args=(child, self.lambda_dir, self.environment, self.function, self.entry, self.kill_switch_writes),
            name=f"sandbox-{self.entry}",
            daemon=True,
        )
        process.start()
        child.close()
        self.process, self.conn = process, parent
        self.starts += 1
        if not parent.poll(SANDBOX_INIT_SECONDS):
            self.close()
            raise FunctionError("Runtime.InitError", f"the handler's init took more than {SANDBOX_INIT_SECONDS:.0f}s")
        try:
            answer = parent.recv()
        except (EOFError, OSError) as exc:
            self.close()
            raise FunctionError("Runtime.ExitError", f"the execution environment died during init (exit code {process.exitcode})") from exc
        if answer[0] != "ready":
            self.close()
            raise FunctionError(answer[1], answer[2])

    def close(self) -> None:
        """Ends the worker (killed: an invocation in flight is abandoned)."""
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(5)

    # --- invocations ----------------------------------------------------------------------------------------------------
    def invoke(self, event: dict, abort: Callable[[], bool] | None = None) -> Any:
        """The handler's result, or FunctionError (FunctionTimeout past the Timeout). ``abort`` (checked a few times a
        second) ends the invocation early: the worker is killed and FunctionError raised."""
        if self.process is None or not self.process.is_alive():
            self.start()
        assert self.conn is not None
        self.conn.send(("invoke", event))
        deadline = time.monotonic() + self.function.timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise FunctionTimeout(self.function.timeout_s)
            try:
                if self.conn.poll(min(remaining, 0.2)):
                    answer = self.conn.recv()
                    break
            except (EOFError, OSError) as exc:
                code = self.process.exitcode if self.process is not None else None
                self.close()
                raise FunctionError("Runtime.ExitError", f"the execution environment died (exit code {code})") from exc
            if abort is not None and abort():
                self.close()
                raise FunctionError("Runtime.Aborted", "the poller is stopping")
        if answer[0] == "ok":
            return answer[1]
        raise FunctionError(answer[1], answer[2])

    def __call__(self, event: dict, context: Any = None) -> Any:
        return self.invoke(event)


def _die_with_parent() -> None:
    """SIGKILL this process when the poller dies (Linux), so that no orphaned invocation writes on."""
    try:
        import ctypes  # noqa: PLC0415  pylint: disable=import-outside-toplevel

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the closed pipe ends the worker after its invocation
        pass


def _sandbox_main(conn: Any, lambda_dir: str, environment: dict[str, str], function: FunctionConfig, entry: str, kill_switch_writes: int | None) -> None:
    """The worker: init (import the handler), then one invocation per request until the pipe closes."""
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the poller decides when its sandboxes end
    setup_logging()
    try:
        stream_handler, sweep_handler = load_handler(lambda_dir, environment)
        if kill_switch_writes:
            install_kill_switch(kill_switch_writes, also_kill=parent)
    except BaseException as exc:  # any init failure is the function's: reported, as Lambda's Runtime.ImportModuleError
        conn.send(("error", "Runtime.ImportModuleError", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        return
    handler = sweep_handler if entry == "sweep" else stream_handler
    conn.send(("ready",))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        context = LambdaContext(function.name, function.arn, function.memory_mb, function.timeout_s)
        try:
            result = handler(request[1], context)
        except Exception as exc:  # the function's error, reported to the poller as Lambda reports it to the service
            LOG.error("%s", traceback.format_exc().rstrip())
            conn.send(("error", type(exc).__name__, str(exc)))
            continue
        conn.send(("ok", result))


@dataclass
class ShardState:
    shard_id: str
    iterator: str | None = None
    buffer: list[dict] = field(default_factory=list)
    first_buffered: float | None = None
    closed: bool = False


class StatsMark:
    """A benchmark's request to start a component's figures afresh: a token in ``<stats file>.mark``. When the token
    changes, the component starts new figures and names the token in them (``mark``, ``since``), so that a benchmark
    reports its own traffic only, not what the component saw before (a deploy's smoke test, an earlier run)."""

    def __init__(self, stats_file: Path | str | None, every: float = 0.5) -> None:
        self.path = Path(f"{stats_file}.mark") if stats_file else None
        self.every = every
        self.next_check = 0.0
        self.token = self._read()
        self.since = time.time()

    def _read(self) -> str | None:
        if self.path is None:
            return None
        try:
            return self.path.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def changed(self) -> bool:
        """True once per new token (looked at every ``every`` seconds at most)."""
        now = time.monotonic()
        if self.path is None or now < self.next_check:
            return False
        self.next_check = now + self.every
        token = self._read()
        if token is None or token == self.token:
            return False
        self.token, self.since = token, time.time()
        return True

    def fields(self) -> dict[str, Any]:
        return {"mark": self.token, "since": self.since}


@dataclass
class PollerStats:
    invocations: int = 0
    records: int = 0
    item_failures: int = 0
    function_errors: int = 0
    timeouts: int = 0
    retries: int = 0
    dead_lettered: int = 0
    sweeps: int = 0
    get_records_calls: int = 0
    handler_ms: list[float] = field(default_factory=list)
    get_records_ms: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    batch_wait_ms: list[float] = field(default_factory=list)

    def snapshot(self, behind: dict[str, str], mark: StatsMark | None = None) -> dict[str, Any]:
        return {
            **(mark.fields() if mark is not None else {}),
            "component": "poller",
            "invocations": self.invocations,
            "records": self.records,
            "item_failures": self.item_failures,
            "function_errors": self.function_errors,
            "timeouts": self.timeouts,
            "retries": self.retries,
            "dead_lettered": self.dead_lettered,
            "sweeps": self.sweeps,
            "get_records_calls": self.get_records_calls,
            "handler_ms": percentiles(self.handler_ms[-2000:]),
            "get_records_ms": percentiles(self.get_records_ms[-2000:]),
            "batch_size": percentiles([float(b) for b in self.batch_sizes[-2000:]]),
            "batch_wait_ms": percentiles(self.batch_wait_ms[-2000:]),
            "checkpoints": behind,
            "time": time.time(),
        }


def kinesis_event_record(raw: dict[str, Any], shard_id: str, stream_arn: str, region: str, role_arn: str) -> dict:
    """One record of a Kinesis event as the Lambda service builds it."""
    arrival = raw["ApproximateArrivalTimestamp"]
    if isinstance(arrival, datetime.datetime):
        arrival = arrival.timestamp()
    data = raw["Data"]  # bytes, or the base64 text itself from a client that keeps it (keep_base64_data)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": raw["PartitionKey"],
            "sequenceNumber": raw["SequenceNumber"],
            "data": data if isinstance(data, str) else base64.b64encode(data).decode("ascii"),
            "approximateArrivalTimestamp": float(arrival),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{raw['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def keep_base64_data(kinesis: Any) -> Any:
    """GetRecords answers with each record's data in base64, and the Lambda service hands the same base64 text to the
    function: this client keeps it as text instead of decoding it (botocore's default) for the poller to encode again
    (at 50,000 readings/s that decode and encode were a third of the poller's own time)."""
    from botocore.parsers import ResponseParserFactory  # noqa: PLC0415  pylint: disable=import-outside-toplevel

    endpoint = getattr(kinesis, "_endpoint", None)
    if endpoint is not None and hasattr(endpoint, "_response_parser_factory"):
        factory = ResponseParserFactory()  # this client's own: the session's factory serves its other clients too
        factory.set_parser_defaults(blob_parser=lambda value: value)
        endpoint._response_parser_factory = factory  # pylint: disable=protected-access
    return kinesis


class Checkpoints:
    """The last finished sequence number per shard, one small JSON file per shard, replaced atomically."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, shard_id: str) -> Path:
        return self.dir / f"{shard_id}.json"

    def get(self, shard_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(shard_id).read_text())
        except FileNotFoundError:
            return None

    def put(self, shard_id: str, **values: Any) -> None:
        tmp = self._path(shard_id).with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(values, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self._path(shard_id))

    def all(self) -> dict[str, str]:
        out = {}
        for path in self.dir.glob("*.json"):
            data = json.loads(path.read_text())
            out[path.stem] = data.get("sequence_number") or data.get("position", "")
        return out


def checkpoint_dir(state_dir: Path, kinesis: Any, stream_name: str) -> Path:
    """Where the checkpoints of this incarnation of the stream live: a stream deleted and created again under the same
    name (a teardown and a new deploy, a restarted local endpoint) starts over with new sequence numbers, and an old
    checkpoint would skip its records, so the directory carries the stream's creation time."""
    try:
        summary = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
    except Exception as exc:  # any failure here means the poller cannot start; the message says which stream
        raise DependencyError(f"cannot describe Kinesis stream {stream_name} at the AWS endpoint: {exc}. Deploy the stack first.") from exc
    created = summary["StreamCreationTimestamp"]
    if isinstance(created, datetime.datetime):
        created = created.timestamp()
    return state_dir / "checkpoints" / f"{stream_name}-{int(float(created) * 1000)}"


class Poller:
    def __init__(
        self,
        kinesis: Any,
        sqs: Any,
        mapping: Mapping,
        handler: Sandbox | Callable[[dict, Any], Any],
        context_factory: Callable[[], LambdaContext | None],
        region: str,
        role_arn: str,
        function_arn: str,
        checkpoints: Checkpoints,
        beacon: Beacon,
        sweep_seconds: float | None = 60.0,
        outage_seconds: float = 60.0,
        max_backoff: float = 5.0,
        sweeper: Sandbox | Callable[[dict, Any], Any] | None = None,
    ) -> None:
        self.kinesis = kinesis
        self.sqs = sqs
        self.mapping = mapping
        self.handler = handler
        self.context_factory = context_factory
        self.region = region
        self.role_arn = role_arn
        self.function_arn = function_arn
        self.checkpoints = checkpoints
        self.beacon = beacon
        self.sweep_seconds = sweep_seconds
        self.max_backoff = max_backoff
        self.stream_name = mapping.stream_arn.split("/", 1)[1]
        self.shards: dict[str, ShardState] = {}
        self.stats = PollerStats()
        self.mark = StatsMark(beacon.stats)
        self.stopping = threading.Event()
        self.endpoint = Outage(f"Kinesis stream {self.stream_name} at the AWS endpoint", outage_seconds)
        if sweeper is None and isinstance(handler, Sandbox):  # the schedule's invocations: an environment of their own
            sweeper = Sandbox(handler.lambda_dir, handler.environment, handler.function, entry="sweep")
        self.sweeper = sweeper or handler
        self._dlq_url: str | None = None
        # an event record's bytes besides its data, partition key and sequence number (the eventID repeats the number)
        blank = {"Data": "", "PartitionKey": "", "SequenceNumber": "", "ApproximateArrivalTimestamp": time.time()}
        self._record_overhead = len(json.dumps(kinesis_event_record(blank, "shardId-000000000000", mapping.stream_arn, region, role_arn))) + 2
        self._record_bytes_seen = 0.0  # the mean size of the records read so far (how many records the next read needs)

    # --- shards and iterators ---------------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """An endpoint call that tells a lost endpoint state from an outage; outages are retried, then fatal."""
        attempt = 0
        while True:
            try:
                result = fn(**kwargs)
            except Exception as exc:
                code = error_code(exc)
                if code == "ResourceNotFoundException":
                    raise stream_gone(self.stream_name, f" ({what})") from exc
                if code == "ExpiredIteratorException":
                    raise
                self.endpoint.failed(exc, endpoint_hint(exc))
                self._sleep(attempt)
                attempt += 1
                if self.stopping.is_set():
                    raise DependencyError("stopping") from exc
                continue
            self.endpoint.ok()
            return result

    def refresh_shards(self) -> None:
        shards = []
        kwargs: dict[str, Any] = {"StreamName": self.stream_name}
        while True:
            page = self._call("ListShards", self.kinesis.list_shards, **kwargs)
            shards.extend(page["Shards"])
            if not page.get("NextToken"):
                break
            kwargs = {"NextToken": page["NextToken"]}
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in self.shards:
                continue
            parent = shard.get("ParentShardId")
            if parent and parent in self.shards and not self.shards[parent].closed:
                continue  # children start after their parent is drained, as the service does
            self.shards[shard_id] = ShardState(shard_id)

    def _iterator(self, state: ShardState) -> str:
        saved = self.checkpoints.get(state.shard_id)
        kwargs: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": state.shard_id}
        if saved and saved.get("sequence_number"):
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=saved["sequence_number"])
        elif saved and saved.get("timestamp") is not None:
            kwargs.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=saved["timestamp"])
        elif self.mapping.starting_position == "TRIM_HORIZON":
            kwargs.update(ShardIteratorType="TRIM_HORIZON")
        else:
            # LATEST, remembered as a time, so that a restart before the first batch does not skip what came since.
            now = time.time()
            self.checkpoints.put(state.shard_id, timestamp=now)
            kwargs.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=now)
        return self._call("GetShardIterator", self.kinesis.get_shard_iterator, **kwargs)["ShardIterator"]

    def _read(self, state: ShardState) -> None:
        if state.closed:
            return
        if state.iterator is None:
            state.iterator = self._iterator(state)
        started = time.monotonic()
        try:
            # Only what the next batch still needs: AWS caps a call at 10 MB, moto at nothing, and a backlog of large
            # gateway records read at once made one response of hundreds of MB.
            limit = max(1, min(GET_RECORDS_LIMIT, self.mapping.batch_size - len(state.buffer)))
            if self._record_bytes_seen:  # and no more than the next invocation's payload takes
                buffered = sum(self._record_bytes(r) for r in state.buffer)
                limit = max(1, min(limit, int((INVOCATION_PAYLOAD_LIMIT - buffered) / self._record_bytes_seen) + 1))
            page = self._call("GetRecords", self.kinesis.get_records, ShardIterator=state.iterator, Limit=limit)
        except Exception as exc:
            if error_code(exc) == "ExpiredIteratorException":
                state.iterator = None
                state.buffer.clear()
                state.first_buffered = None
                return
            raise
        self.stats.get_records_calls += 1
        self.stats.get_records_ms.append((time.monotonic() - started) * 1000)
        records = page.get("Records", [])
        if records:
            mean = sum(self._record_bytes(r) for r in records) / len(records)
            self._record_bytes_seen = mean if not self._record_bytes_seen else 0.8 * self._record_bytes_seen + 0.2 * mean
            if not state.buffer:
                state.first_buffered = time.monotonic()
            state.buffer.extend(records)
        state.iterator = page.get("NextShardIterator")
        if state.iterator is None:
            state.closed = not state.buffer
            LOG.info("shard %s is closed (resharded)", state.shard_id)

    # --- invocations --------------------------------------------------------------------------------------------------
    def _record_bytes(self, record: dict) -> int:
        """The record's share of the event, as JSON (its data in base64)."""
        data = record["Data"]
        encoded = len(data) if isinstance(data, str) else 4 * ((len(data) + 2) // 3)
        return encoded + len(record["PartitionKey"]) + 2 * len(record["SequenceNumber"]) + self._record_overhead

    def _batch_length(self, buffer: list[dict]) -> int:
        """How many of the buffered records the next batch takes: up to BatchSize, and no more than fit in one
        invocation's payload (at least one)."""
        total = len('{"Records": []}')
        for count, record in enumerate(buffer[: self.mapping.batch_size]):
            total += self._record_bytes(record)
            if total > INVOCATION_PAYLOAD_LIMIT:
                return max(1, count)
        return min(len(buffer), self.mapping.batch_size)

    def _ready(self, state: ShardState) -> bool:
        if not state.buffer:
            return False
        if state.iterator is None or self._batch_length(state.buffer) < len(state.buffer) or len(state.buffer) >= self.mapping.batch_size:
            return True  # closed shard, a full payload, or a full batch
        waited = time.monotonic() - (state.first_buffered or time.monotonic())
        return waited >= self.mapping.batching_window

    def _invoke(self, event: dict) -> tuple[dict | None, BaseException | None]:
        """One invocation; a handler that raised or ran past the function's Timeout is a function error."""
        started = time.monotonic()
        self.stats.invocations += 1
        try:
            if isinstance(self.handler, Sandbox):
                result = self.handler.invoke(event, abort=self.stopping.is_set)
            else:  # a plain callable (the tests' stand-ins) runs in this process, with no deadline
                result = self.handler(event, self.context_factory())
        except Exception as exc:
            if self.stopping.is_set():
                return None, exc
            self.stats.function_errors += 1
            if isinstance(exc, FunctionTimeout):
                self.stats.timeouts += 1
                LOG.warning("function error: %s (%d records); the execution environment is ended", exc.message, len(event["Records"]))
            else:
                LOG.warning("function error: %s: %s", type(exc).__name__, exc)
            return None, exc
        finally:
            self.stats.handler_ms.append((time.monotonic() - started) * 1000)
            if len(self.stats.handler_ms) > 10000:
                del self.stats.handler_ms[:5000]
        return (result if isinstance(result, dict) else {}), None

    def _deliver(self, state: ShardState, batch: list[dict]) -> None:
        """Deliver one batch the way the service does, until it is done or given up (on-failure destination)."""
        attempts = 0
        todo = batch
        while todo:
            if self.stopping.is_set():
                return
            event = {"Records": [kinesis_event_record(r, state.shard_id, self.mapping.stream_arn, self.region, self.role_arn) for r in todo]}
            result, error = self._invoke(event)
            if error is None:
                failures = (result or {}).get("batchItemFailures") or [] if self.mapping.report_item_failures else []
                if not failures:
                    self.stats.records += len(todo)
                    self._checkpoint(state, todo[-1])
                    return
                self.stats.item_failures += len(failures)
                position = self._first_failure(todo, failures)
                if position is None:  # an identifier that is not in the batch: the whole batch failed
                    position = 0
                if position > 0:
                    self.stats.records += position
                    self._checkpoint(state, todo[position - 1])
                todo = todo[position:]
                LOG.warning("batch item failure at sequence number %s; retrying %d record(s) from there", todo[0]["SequenceNumber"], len(todo))
            elif self.mapping.bisect and len(todo) > 1:
                half = len(todo) // 2
                LOG.warning("function error on %d records; bisecting", len(todo))
                self._deliver(state, todo[:half])
                todo = todo[half:]
                continue
            attempts += 1
            self.stats.retries += 1
            exhausted = 0 <= self.mapping.max_retries < attempts
            too_old = self._oldest_age(todo) > self.mapping.max_record_age >= 0
            if exhausted or too_old:
                condition = "RetryAttemptsExhausted" if exhausted else "RecordAgeExceeded"
                self._dead_letter(state, todo, condition, attempts, error)
                self._checkpoint(state, todo[-1])
                return
            self._sleep(attempts - 1)

    @staticmethod
    def _first_failure(batch: list[dict], failures: list[dict]) -> int | None:
        wanted = {str(f.get("itemIdentifier")) for f in failures}
        for index, record in enumerate(batch):
            if record["SequenceNumber"] in wanted:
                return index
        return None

    @staticmethod
    def _oldest_age(batch: list[dict]) -> float:
        arrival = batch[0]["ApproximateArrivalTimestamp"]
        if isinstance(arrival, datetime.datetime):
            arrival = arrival.timestamp()
        return time.time() - float(arrival)

    def _checkpoint(self, state: ShardState, record: dict) -> None:
        self.checkpoints.put(state.shard_id, sequence_number=record["SequenceNumber"])

    def _dead_letter(self, state: ShardState, batch: list[dict], condition: str, attempts: int, error: BaseException | None) -> None:
        def iso(record: dict) -> str:
            value = record["ApproximateArrivalTimestamp"]
            if not isinstance(value, datetime.datetime):
                value = datetime.datetime.fromtimestamp(float(value), datetime.timezone.utc)
            return value.isoformat()

        body = {
            "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": self.function_arn, "condition": condition, "approximateInvokeCount": attempts},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled" if error is not None else ""},
            "version": "1.0",
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "KinesisBatchInfo": {
                "shardId": state.shard_id,
                "startSequenceNumber": batch[0]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": iso(batch[0]),
                "approximateArrivalOfLastRecord": iso(batch[-1]),
                "batchSize": len(batch),
                "streamArn": self.mapping.stream_arn,
            },
        }
        self.stats.dead_lettered += len(batch)
        LOG.error(
            "giving up on %d record(s) of %s (%s after %d attempts); their description goes to %s",
            len(batch),
            state.shard_id,
            condition,
            attempts,
            self.mapping.on_failure_arn or "nowhere",
        )
        if self.mapping.on_failure_arn:
            if self._dlq_url is None:
                name = self.mapping.on_failure_arn.rsplit(":", 1)[1]
                self._dlq_url = self._call("GetQueueUrl", self.sqs.get_queue_url, QueueName=name)["QueueUrl"]
            self._call("SendMessage", self.sqs.send_message, QueueUrl=self._dlq_url, MessageBody=json.dumps(body))

    def _sleep(self, attempt: int) -> None:
        self.stopping.wait(random.uniform(0.5, 1.0) * min(self.max_backoff, 0.2 * 2**attempt))

    # --- sweep ----------------------------------------------------------------------------------------------------------
    def _sweep_loop(self) -> None:
        """The stack's schedule: the sweep runs once a period in its own invocation, beside the stream's batches."""
        while not self.stopping.wait(self.sweep_seconds or 60):
            started = time.monotonic()
            self.stats.sweeps += 1
            try:
                if isinstance(self.sweeper, Sandbox):
                    result = self.sweeper.invoke({"action": "sweep"}, abort=self.stopping.is_set)
                else:
                    result = self.sweeper({"action": "sweep"}, self.context_factory())
            except Exception as exc:
                LOG.warning("sweep failed: %s (the schedule runs it again at the next period)", exc)
            else:
                LOG.info("sweep done in %.1fs: %s", time.monotonic() - started, {k: v for k, v in (result or {}).items() if k != "alerts"})

    # --- main loop ------------------------------------------------------------------------------------------------------
    def run_once(self) -> bool:
        """One pass over every shard; True when a batch was delivered."""
        delivered = False
        for state in list(self.shards.values()):
            if len(state.buffer) < self.mapping.batch_size and self._batch_length(state.buffer) == len(state.buffer):
                self._read(state)
            if self._ready(state):
                batch = state.buffer[: self._batch_length(state.buffer)]
                self.stats.batch_sizes.append(len(batch))
                if state.first_buffered is not None:
                    self.stats.batch_wait_ms.append((time.monotonic() - state.first_buffered) * 1000)
                self._deliver(state, batch)
                del state.buffer[: len(batch)]
                state.first_buffered = time.monotonic() if state.buffer else None
                delivered = True
                if state.iterator is None and not state.buffer:
                    state.closed = True
        if len(self.stats.batch_sizes) > 10000:
            del self.stats.batch_sizes[:5000]
            del self.stats.batch_wait_ms[:5000]
            del self.stats.get_records_ms[: len(self.stats.get_records_ms) // 2]
        return delivered

    def run(self, max_seconds: float | None = None) -> None:
        started = time.monotonic()
        self.refresh_shards()
        LOG.info(
            "polling %s: shards %s, batch size %d, batching window %.1fs, retries %s, bisect %s",
            self.stream_name,
            sorted(self.shards),
            self.mapping.batch_size,
            self.mapping.batching_window,
            self.mapping.max_retries,
            self.mapping.bisect,
        )
        last_refresh = time.monotonic()
        if self.sweep_seconds:
            threading.Thread(target=self._sweep_loop, name="sweep", daemon=True).start()
        try:
            while not self.stopping.is_set():
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    break
                if time.monotonic() - last_refresh > 30 or any(s.closed for s in self.shards.values()):
                    self.refresh_shards()
                    last_refresh = time.monotonic()
                delivered = self.run_once()
                marked = self.mark.changed()
                if marked:
                    self.stats = PollerStats()
                self.beacon.beat(self.stats.snapshot(self.checkpoints.all(), self.mark), force=marked)
                if not delivered and not any(s.buffer for s in self.shards.values()):
                    self.stopping.wait(IDLE_POLL_SECONDS)
                elif not delivered:
                    self.stopping.wait(0.02)
        finally:
            self.beacon.beat(self.stats.snapshot(self.checkpoints.all(), self.mark), healthy=False, force=True)
            self.beacon.clear()
            self.stopping.set()
            for function in (self.handler, self.sweeper):
                if isinstance(function, Sandbox):
                    function.close()

    def stop(self) -> None:
        self.stopping.set()


def load_handler(lambda_dir: str, environment: dict[str, str]) -> tuple[Callable[[dict, Any], Any], Callable]:
    """Import the real handler from the collection's files/lambda with the function's environment, as Lambda does.

    Returns the handler and a second handler for the sweep: the schedule's invocations run in their own execution
    environment on AWS, so the sweep gets its own processor (its own clients and caches) here too."""
    os.environ.update({str(k): str(v) for k, v in environment.items()})
    if lambda_dir not in sys.path:
        sys.path.insert(0, lambda_dir)
    import lambda_handler  # noqa: PLC0415  pylint: disable=import-outside-toplevel,import-error

    sweep_processor = lambda_handler.build()

    def sweep_handler(event: dict, context: Any) -> Any:
        return sweep_processor.sweep()

    return lambda_handler.lambda_handler, sweep_handler


def install_kill_switch(zone_window_writes: int, also_kill: int | None = None) -> None:
    """Fault injection for the tests: SIGKILL this process (and ``also_kill``: the poller, from its sandbox) right after
    its n-th zone-window update, which is in the middle of a batch (the handler writes one item per zone and window).
    Set by IOT_DATAPLANE_TEST_KILL_AFTER_WRITES."""
    import botocore.client  # noqa: PLC0415  pylint: disable=import-outside-toplevel

    original = botocore.client.BaseClient._make_api_call  # pylint: disable=protected-access
    done = [0]

    def make_api_call(client: Any, operation: str, params: dict) -> Any:
        result = original(client, operation, params)
        if operation == "UpdateItem" and str(params.get("Key", {}).get("sk", {}).get("S", "")).startswith("W#"):
            done[0] += 1
            if done[0] >= zone_window_writes:
                LOG.warning("test kill switch: SIGKILL after %d zone-window writes", done[0])
                if also_kill:
                    os.kill(also_kill, signal.SIGKILL)
                os.kill(os.getpid(), signal.SIGKILL)
        return result

    botocore.client.BaseClient._make_api_call = make_api_call  # pylint: disable=protected-access
