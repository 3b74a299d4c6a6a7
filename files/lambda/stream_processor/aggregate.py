"""Per zone-window contributions and what each store update must carry: pure functions.

Exactly-once effect: a zone-window item (one per shard) records the highest sequence number it has absorbed. Records
of a shard arrive in sequence order and every update carries all of a batch's records for that item above what it
holds, so what an item holds is always a prefix of its records in sequence order. A re-delivered, bisected or
extended batch therefore only has to drop the entries at or below the stored sequence number.
"""

from __future__ import annotations

from typing import NamedTuple

from .readings import CONGESTION, COUNT, SEQ, SPEED, VEHICLES

SEQ_WIDTH = 130  # Kinesis sequence numbers have up to 129 digits; padding makes string order numeric order


def seq_key(seq: int) -> str:
    """Sequence number as a fixed-width string, comparable in a DynamoDB condition."""
    return str(seq).zfill(SEQ_WIDTH)


class Contribution(NamedTuple):
    """What a batch adds to one zone-window item."""

    count: int
    vehicles: int
    speed: float
    congestion: float
    low_seq: int  # first sequence number it carries
    high_seq: int  # last sequence number it carries


def contribution(entries: list[list], above: int | None = None) -> Contribution | None:
    """Sum of the entries whose sequence number is above ``above`` (all when None); None when nothing is left."""
    count = vehicles = 0
    speed = congestion = 0.0
    low = high = -1
    for entry in entries:
        if above is not None and entry[SEQ] <= above:
            continue
        if low < 0:
            low = entry[SEQ]
        high = entry[SEQ]
        count += entry[COUNT]
        vehicles += entry[VEHICLES]
        speed += entry[SPEED]
        congestion += entry[CONGESTION]
    if count == 0:
        return None
    return Contribution(count, vehicles, speed, congestion, low, high)
