"""Runs a loaded Rasa model's graph in a fixed order, without building a dask graph per call.

Rasa's `DaskGraphRunner` works out the subgraph a call needs and hands it to dask on every
message: for parsing and for each dialogue prediction. For the small graphs of a Rasa model that
bookkeeping costs about a millisecond a run, three or four runs a message, on the way to the
acknowledgement. This runner works out each target set's order once and then calls the very same
nodes in it, with the same inputs and outputs, so what the model says does not change.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner

__all__ = ["SequentialGraphRunner"]

Plan = tuple[tuple[str, tuple[str, ...]], ...]


class SequentialGraphRunner(DaskGraphRunner):
    """A `DaskGraphRunner` whose `run` calls the nodes one after another in dependency order."""

    @classmethod
    def adopt(cls, runner: DaskGraphRunner) -> SequentialGraphRunner:
        """Takes over the nodes another runner already loaded (loading them again would cost
        seconds and memory)."""
        adopted = cls.__new__(cls)
        adopted._graph_schema = runner._graph_schema
        adopted._instantiated_nodes = runner._instantiated_nodes
        adopted._execution_context = runner._execution_context
        adopted._plans = {}
        return adopted

    _plans: dict[tuple[str, ...], Plan]

    def _plan(self, targets: tuple[str, ...]) -> Plan:
        """Every node the targets depend on, each after the nodes it needs, with what it needs."""
        plan = self._plans.get(targets)
        if plan is not None:
            return plan
        nodes = self._graph_schema.nodes
        order: list[tuple[str, tuple[str, ...]]] = []
        placed: set[str] = set()

        def place(name: str) -> None:
            # Names that are not nodes are inputs given to `run` (Rasa's placeholders).
            if name in placed or name not in nodes:
                return
            placed.add(name)
            needs = tuple(nodes[name].needs.values())
            for needed in needs:
                place(needed)
            order.append((name, needs))

        for target in targets:
            place(target)
        plan = self._plans[targets] = tuple(order)
        return plan

    def run(self, inputs: dict[str, Any] | None = None, targets: list[str] | None = None) -> dict[str, Any]:
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        # Each node gets and returns (node name, value) pairs, as under dask.
        results: dict[str, tuple[str, Any]] = {}
        for name, value in (inputs or {}).items():
            if name in self._graph_schema.nodes:
                raise GraphRunError(f"Input '{name}' clashes with a node name of the graph.")
            results[name] = (name, value)
        plan = self._plan(run_targets)
        for name, needs in plan:
            missing = [needed for needed in needs if needed not in results]
            if missing:
                raise GraphRunError(f"Node '{name}' needs inputs it was not given: {missing}")
            results[name] = self._instantiated_nodes[name](*(results[needed] for needed in needs))
        return dict(results[target] for target in run_targets)
