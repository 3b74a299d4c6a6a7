"""Fuzz: random and mutated records through the handler core (40,000 in the suite; SMARTCITY_FUZZ_RECORDS=120000 for
the long run). No exception escapes, and every reading is either accepted (counted in a zone window) or rejected
with a known reason."""

from __future__ import annotations

import base64
import json
import os
import random
from typing import Any

from processor_support import kinesis_event, kinesis_record, make_processor, reading
from stream_processor.readings import REASONS, REC, Caches, parse_batch

NOW = 1_767_225_600
RECORDS = int(os.environ.get("SMARTCITY_FUZZ_RECORDS", "40000"))
CHUNK = 1_000
ODD_VALUES: list[Any] = [None, True, False, 0, -1, 1e308, -1e308, 2**70, "", "x" * 300, [], {}, [1], {"a": None}, 0.5, "NaN", "1"]


def valid(rng: random.Random) -> dict[str, Any]:
    r = reading(
        f"s-{rng.randint(0, 500)}",
        f"z{rng.randint(0, 20)}",
        rng.choice([(NOW - rng.randint(0, 600)) * 1000, "2025-12-31T23:59:59.5Z"]),
        vehicles=rng.randint(0, 10_000),
        speed=rng.uniform(0, 300),
    )
    if rng.random() < 0.5:
        r["occupancy"] = rng.random()
    if rng.random() < 0.3:
        r["congestion_index"] = rng.random()
    return r


def mutate(rng: random.Random, r: dict[str, Any]) -> Any:
    choice = rng.random()
    if choice < 0.3:
        r[rng.choice(list(r))] = rng.choice(ODD_VALUES)
    elif choice < 0.4:
        del r[rng.choice(list(r))]
    elif choice < 0.45:
        return rng.choice(ODD_VALUES)
    elif choice < 0.5:
        r[rng.choice(["extra", "sensor_id", "zone"])] = "".join(chr(rng.randint(0, 0x2FFF)) for _unused in range(rng.randint(0, 70)))
    return r


def payload_bytes(rng: random.Random) -> tuple[bytes | str, int]:
    """Encoded record data and the number of readings it claims (0: not a reading or list of them)."""
    kind = rng.random()
    if kind < 0.4:
        body: Any = valid(rng) if rng.random() < 0.5 else mutate(rng, valid(rng))
        claimed = 1 if isinstance(body, dict) else 0
    else:
        n = rng.choice([0, 1, 5, 50, 499, 500, 501]) if kind < 0.41 else rng.randint(1, 20)
        zone = f"z{rng.randint(0, 3)}"
        readings = []
        for _unused in range(n):
            r = valid(rng)
            r["zone"] = zone if rng.random() < 0.95 else "other"
            readings.append(mutate(rng, r) if rng.random() < 0.3 else r)
        body = {"readings": readings}
        claimed = n if 1 <= n <= 500 else 0
    raw = json.dumps(body).encode()
    mode = rng.random()
    if mode < 0.06:
        raw = bytearray(raw)
        for _unused in range(rng.randint(1, 5)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        raw = bytes(raw)
        claimed = -1  # unknown: it may still be valid JSON
    elif mode < 0.09:
        raw = raw[: rng.randrange(len(raw))]
        claimed = -1
    elif mode < 0.11:
        return "".join(rng.choice("ABCxyz+/=*-_ \n") for _unused in range(rng.randint(0, 40))), -1
    return raw, claimed


def test_fuzz_no_exception_and_every_reading_accounted_for() -> None:
    rng = random.Random(20261125)
    processor = make_processor(NOW)
    seq = 0
    total_accepted = total_rejected = 0
    for _unused in range(RECORDS // CHUNK):
        records, claims = [], []
        for _unused in range(CHUNK):
            seq += 1
            raw, claimed = payload_bytes(rng)
            records.append(kinesis_record(None, seq, raw=raw, partition_key="fuzz"))
            claims.append(claimed)
        batch_before = len(processor.telemetry.batches)
        response = processor.handle_kinesis(kinesis_event(records))
        assert response == {"batchItemFailures": []}
        summary = processor.telemetry.batches[batch_before]
        assert summary["records"] == CHUNK
        total_accepted += summary["accepted"]
        total_rejected += summary["rejected"]
        # per record: readings accepted + rejected == readings claimed; a record that is no reading list: 1 reject
        rejects_per_record: dict[int, int] = {}
        for message in processor.quarantine.messages[-summary["rejected"] :] if summary["rejected"] else []:
            assert message["reason"] in REASONS
            assert len(message["excerpt"]) <= 210
            index = int(message["sequence_number"]) - int(records[0]["kinesis"]["sequenceNumber"])
            rejects_per_record[index] = rejects_per_record.get(index, 0) + 1
        accepted_per_record: dict[int, int] = {}
        for entries in parse_batch(records, NOW * 1000, 60, 60.0, Caches()).groups.values():
            for entry in entries:
                accepted_per_record[entry[REC]] = accepted_per_record.get(entry[REC], 0) + entry[2]
        for index, claimed in enumerate(claims):
            accepted, rejected = accepted_per_record.get(index, 0), rejects_per_record.get(index, 0)
            if claimed == 0:
                assert (accepted, rejected) == (0, 1), (index, base64.b64decode(records[index]["kinesis"]["data"])[:200])
            elif claimed > 0:
                assert accepted + rejected == claimed, index
            else:
                assert accepted + rejected >= 1, index
    assert total_accepted + total_rejected >= RECORDS * 0.9
    assert processor.store.total_count() == total_accepted  # all distinct: every accepted reading is counted once
    assert total_accepted > 100_000 and total_rejected > 10_000  # the fuzz exercised both paths
