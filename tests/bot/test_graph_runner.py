from __future__ import annotations

from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.graph_runner import SequentialGraphRunner
from bot.rasa_runtime import RasaRuntime

PLACEHOLDER_MESSAGE = "__message__"
PLACEHOLDER_TRACKER = "__tracker__"

TEXTS = [
    "@KestrelHelp order #48213 was due friday and still NOTHING 😡",
    "what time do you open on sundays?",
    "love the new buds, thank you!!",
    "can i talk to a real person pls",
]


@pytest.fixture
def processor(rasa_runtime: RasaRuntime) -> MessageProcessor:
    processor = rasa_runtime.agent.processor
    assert processor is not None
    return processor


def _parse(runner: DaskGraphRunner, processor: MessageProcessor, text: str) -> dict[str, Any]:
    target = processor.model_metadata.nlu_target
    tracker = DialogueStateTracker("graph-runner-test", [])
    results = runner.run(
        inputs={PLACEHOLDER_MESSAGE: [UserMessage(text)], PLACEHOLDER_TRACKER: tracker}, targets=[target]
    )
    return results[target][0].as_dict(only_output_properties=True)


def test_the_service_runs_the_model_with_the_sequential_runner(processor: MessageProcessor) -> None:
    assert isinstance(processor.graph_runner, SequentialGraphRunner)


@pytest.mark.parametrize("text", TEXTS)
def test_parsing_gives_what_rasas_dask_runner_gives(processor: MessageProcessor, text: str) -> None:
    runner = processor.graph_runner
    assert isinstance(runner, SequentialGraphRunner)
    ours = _parse(runner, processor, text)
    # The parent class's `run` is Rasa's own, over the very same loaded nodes.
    theirs = _parse(super(SequentialGraphRunner, runner), processor, text)  # type: ignore[arg-type]
    assert ours["intent"] == theirs["intent"]
    assert ours["intent_ranking"] == theirs["intent_ranking"]
    assert ours.get("entities", []) == theirs.get("entities", [])


def test_dialogue_predictions_match_rasas_dask_runner(processor: MessageProcessor) -> None:
    runner = processor.graph_runner
    assert isinstance(runner, SequentialGraphRunner)
    target = processor.model_metadata.core_target
    assert target is not None
    domain = processor.domain
    tracker = DialogueStateTracker.from_events(
        "graph-runner-test",
        [
            ActionExecuted("action_listen"),
            UserUttered("my order is late", intent={"name": "complaint", "confidence": 0.97}),
        ],
        slots=domain.slots,
    )
    ours = runner.run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=[target])[target]
    theirs = DaskGraphRunner.run(runner, inputs={PLACEHOLDER_TRACKER: tracker}, targets=[target])[target]
    assert ours.policy_name == theirs.policy_name
    assert ours.probabilities == theirs.probabilities
    assert domain.action_names_or_texts[ours.max_confidence_index] == "action_acknowledge_complaint"


def test_an_input_named_like_a_node_is_refused(processor: MessageProcessor) -> None:
    runner = processor.graph_runner
    node = next(iter(runner._graph_schema.nodes))  # type: ignore[attr-defined]
    with pytest.raises(GraphRunError, match="clashes"):
        runner.run(inputs={node: "x"}, targets=[processor.model_metadata.nlu_target])


def test_a_missing_input_is_a_graph_error_not_a_crash_inside_a_component(
    processor: MessageProcessor,
) -> None:
    runner = processor.graph_runner
    with pytest.raises(GraphRunError, match="needs inputs"):
        runner.run(inputs={}, targets=[processor.model_metadata.nlu_target])


def test_each_target_set_is_planned_once(processor: MessageProcessor) -> None:
    runner = SequentialGraphRunner.adopt(processor.graph_runner)  # type: ignore[arg-type]
    _parse(runner, processor, "hello")
    _parse(runner, processor, "thanks")
    assert list(runner._plans) == [(processor.model_metadata.nlu_target,)]
    plan = runner._plans[(processor.model_metadata.nlu_target,)]
    schema: GraphSchema = runner._graph_schema
    # Every node comes after the nodes it needs.
    position = {name: i for i, (name, _) in enumerate(plan)}
    for name, needs in plan:
        assert all(position[n] < position[name] for n in needs if n in schema.nodes)
