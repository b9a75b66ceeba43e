"""The dynamic partitions of the load: one key per ExternalId range, owned by the planner sensor.

Dagster keeps dynamic keys in insertion order; ``key_order_requests`` computes the deletes and adds
that turn the current key list into the wanted one *in key order*, touching as few keys as possible
(deleting a key keeps its history; re-adding the same string re-attaches it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

PARTITIONS_NAME = "opportunity_ranges"

opportunity_ranges = dg.DynamicPartitionsDefinition(name=PARTITIONS_NAME)


@dataclass(frozen=True)
class KeyChanges:
    delete: list[str]
    add: list[str]

    @property
    def is_empty(self) -> bool:
        return not self.delete and not self.add

    def requests(self) -> list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest]:
        # Deletes first: the daemon applies requests in order, so re-added keys land at the end.
        out: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
        if self.delete:
            out.append(opportunity_ranges.build_delete_request(self.delete))
        if self.add:
            out.append(opportunity_ranges.build_add_request(self.add))
        return out


def key_order_requests(current: Sequence[str], wanted: Sequence[str]) -> KeyChanges:
    """Deletes then adds that make ``current`` (instance order) equal ``sorted(wanted)``.

    Keys that survive and already form the sorted prefix stay untouched; every other surviving key
    is deleted and re-added after them, which restores key order.
    """
    target = sorted(set(wanted))
    target_set = set(target)
    survivors = [k for k in current if k in target_set]
    kept = 0
    while kept < len(survivors) and survivors[kept] == target[kept]:
        kept += 1
    keep = set(survivors[:kept])
    return KeyChanges(
        delete=[k for k in current if k not in keep],
        add=target[kept:],
    )


def current_keys(instance: dg.DagsterInstance) -> list[str]:
    """The current range keys, in key order (whatever order the instance holds them in)."""
    return sorted(instance.get_dynamic_partitions(PARTITIONS_NAME))
