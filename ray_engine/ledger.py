"""Counting what Ray recovered during a run: actors lost, blocks computed again.

Ray restarts a lost actor and reruns the blocks it held without telling the driver (a
task rerun on a restarted actor keeps attempt number 0), so the report said ``retries:
0`` after a node was lost. Every actor of a run tells the run's ``RunLedger`` (a small
actor on the driver's node) when it starts, and whether Ray restarted it, and each time
it starts a block, by the block's first content key; at the end the driver reads how
many actors were lost and how many blocks were started more than once. The calls are
one-way, so a count may miss a block whose actor died before the call left it: the
report says at least that many.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

import pyarrow as pa

from hemma_features.contract import content_key_array
from hemma_features.ray_engine.stage import HemmaFeatures


class RunLedger:
    """Started actors and blocks of one run (runs as a Ray actor)."""

    def __init__(self) -> None:
        self.blocks: Counter[str] = Counter()
        self.restarted = 0

    def actor_started(self, restarted: bool) -> None:
        self.restarted += int(restarted)

    def block_started(self, key: str) -> None:
        self.blocks[key] += 1

    def counts(self) -> tuple[int, int]:
        """(blocks started again after their first try, actors Ray restarted)."""
        return sum(n - 1 for n in self.blocks.values()), self.restarted


def start_ledger() -> Any:
    """A ``RunLedger`` actor on the driver's own node (it lives as long as the driver can
    read it), taking no CPU."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    actor = ray.remote(num_cpus=0, max_restarts=0)(RunLedger)
    return actor.options(scheduling_strategy=here).remote()


def read_ledger(ledger: Any, timeout: float = 10.0) -> tuple[int, int] | None:
    """The ledger's counts, or None when it does not answer in time; then ends it."""
    import ray
    import ray.exceptions

    try:
        counts: tuple[int, int] = ray.get(ledger.counts.remote(), timeout=timeout)
    except (ray.exceptions.RayError, TimeoutError):
        return None
    finally:
        with contextlib.suppress(ray.exceptions.RayError):
            ray.kill(ledger)
    return counts


def counted(stage: type[HemmaFeatures]) -> type[HemmaFeatures]:
    """``stage`` reporting its starts and blocks to the ledger given as ``ledger``."""

    class Counted(stage):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, ledger: Any = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.ledger = ledger
            if ledger is not None:
                import ray

                restarted = ray.get_runtime_context().was_current_actor_reconstructed
                ledger.actor_started.remote(bool(restarted))

        def __call__(self, batch: pa.Table | pa.RecordBatch) -> pa.Table:
            if self.ledger is not None and batch.num_rows:
                first = content_key_array(batch.slice(0, 1))[0].as_py()
                self.ledger.block_started.remote(first)
            return super().__call__(batch)

    Counted.__name__ = stage.__name__  # Ray Data names the actors after it
    return Counted
