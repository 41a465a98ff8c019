"""Each validation check on a tiny project written into tmp_path, once clean and once broken."""

from __future__ import annotations

import random
import textwrap
from difflib import SequenceMatcher
from pathlib import Path

from bot.trainer.training_data import LocatedExample, normalise
from bot.trainer.validation import NEAR_DUPLICATE_RATIO, Problem, Project, check_near_duplicates, validate

CONFIG = """\
recipe: default.v1
language: en
assistant_id: tiny
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: LogisticRegressionClassifier
policies:
  - name: RulePolicy
"""

DOMAIN = """\
version: "3.1"
intents:
  - greet
  - complaint
  - question
actions:
  - action_acknowledge
responses:
  utter_greet:
    - text: "Hi!"
  utter_complaint/delivery:
    - text: "Sorry about the parcel."
  utter_question/opening_hours:
    - text: "We open at nine."
  utter_sorry:
    - text: "Sorry."
"""

NLU = """\
version: "3.1"
nlu:
  - intent: greet
    examples: |
      - hello there
      - good morning
      - hey team
  - intent: complaint/delivery
    examples: |
      - my parcel never came
      - the courier lost my order
      - delivery is three days late
  - intent: question/opening_hours
    examples: |
      - when do you open
      - are you open on sundays
      - what are your hours
"""

RULES = """\
version: "3.1"
rules:
  - rule: greet
    steps:
      - intent: greet
      - action: utter_greet
  - rule: complaint
    steps:
      - intent: complaint
      - action: action_acknowledge
  - rule: question
    steps:
      - intent: question
      - action: utter_question
"""

ACTION = """\
class Acknowledge:
    def name(self) -> str:
        return "action_acknowledge"

    def run(self, phrases: dict, topic: str) -> str:
        return phrases["utter_sorry"] + phrases[f"utter_complaint/{topic}"]
"""

HELDOUT = 'version: "3.1"\nnlu:\n  - intent: greet\n    examples: |\n      - hiya\n'


def write_project(root: Path, **overrides: str) -> Project:
    files = {
        "config.yml": CONFIG,
        "domain.yml": DOMAIN,
        "data/nlu.yml": NLU,
        "data/rules.yml": RULES,
        "actions/acknowledge.py": ACTION,
        "tests/data/nlu_heldout.yml": HELDOUT,
    }
    files.update(overrides)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return Project.at(root)


def problems(project: Project, *, rasa: bool = False) -> list[Problem]:
    return validate(project, min_examples=3, include_rasa=rasa)


def test_a_clean_project_has_no_problems(tmp_path: Path) -> None:
    assert problems(write_project(tmp_path)) == []


def test_rasa_accepts_the_clean_project(tmp_path: Path) -> None:
    assert problems(write_project(tmp_path), rasa=True) == []


def test_rasa_warnings_are_errors_with_a_location(tmp_path: Path) -> None:
    domain = DOMAIN.replace("  - question\n", "  - question\n  - goodbye\n")
    found = problems(write_project(tmp_path, **{"domain.yml": domain}), rasa=True)
    assert [(p.path, p.line, p.check) for p in found if "goodbye" in p.message][:1] == [
        ("domain.yml", 6, "rasa")
    ]


def _brute_force_near_duplicates(examples: list[LocatedExample]) -> list[tuple[str, str]]:
    """Every pair compared, as the check did before it filtered candidates: the reference."""
    found = []
    for later, b in enumerate(examples):
        for a in examples[:later]:
            x, y = normalise(a.text), normalise(b.text)
            words_a, words_b = set(x.split()), set(y.split())
            if a.intent == b.intent or a.text == b.text or not words_a or not words_b:
                continue
            if x != y and len(words_a & words_b) / len(words_a | words_b) < 0.5:
                continue
            if SequenceMatcher(None, x, y).ratio() >= NEAR_DUPLICATE_RATIO:
                found.append((b.text, a.text))
                break
    return found


def test_filtering_candidates_finds_every_near_duplicate_comparing_every_pair_finds() -> None:
    # Sentences from a small vocabulary, so that some words are everywhere and some are rare,
    # each with a copy under another intent that lost, doubled or changed a character.
    rng = random.Random(11)
    vocabulary = [f"w{i}" * (1 + i % 3) for i in range(40)]
    examples = []
    for i in range(400):
        words = rng.choices(vocabulary, weights=[1 / (1 + k) for k in range(40)], k=rng.randint(1, 7))
        text = " ".join(words)
        cut = rng.randrange(len(text))
        copy = rng.choice([text[:cut] + text[cut + 1 :], text[:cut] + text[cut] + text[cut:], text.upper()])
        for n, (said, intent) in enumerate([(text, f"a{i % 5}"), (copy, f"b{i % 3}")]):
            examples.append(LocatedExample(said, intent, said, Path("data/nlu.yml"), 2 * i + n + 1))
    rng.shuffle(examples)

    found = [p.message for p in check_near_duplicates(examples)]
    expected = _brute_force_near_duplicates(examples)
    assert len(found) == len(expected) > 100
    for (text, like), message in zip(expected, found, strict=True):
        assert message.startswith(f'"{text}" (') and f'same as "{like}" (' in message


def test_an_example_in_two_intents(tmp_path: Path) -> None:
    nlu = NLU + "  - intent: greet\n    examples: |\n      - my parcel never came\n"
    [problem] = problems(write_project(tmp_path, **{"data/nlu.yml": nlu}))
    assert (problem.path, problem.line, problem.check) == ("data/nlu.yml", 20, "duplicate")
    assert "complaint/delivery (data/nlu.yml:10) and greet" in problem.message


def test_near_duplicates_across_intents(tmp_path: Path) -> None:
    nlu = NLU + "  - intent: greet\n    examples: |\n      - My parcel never came!!\n"
    [problem] = problems(write_project(tmp_path, **{"data/nlu.yml": nlu}))
    assert (problem.line, problem.check) == (20, "near-duplicate")
    assert '"my parcel never came" (complaint/delivery, data/nlu.yml:10)' in str(problem)


def test_near_duplicates_with_a_typo(tmp_path: Path) -> None:
    nlu = NLU + "  - intent: greet\n    examples: |\n      - the courrier lost my order\n"
    assert [p.check for p in problems(write_project(tmp_path, **{"data/nlu.yml": nlu}))] == ["near-duplicate"]


def test_an_intent_with_too_few_examples(tmp_path: Path) -> None:
    nlu = NLU.replace("      - hey team\n", "")
    [problem] = problems(write_project(tmp_path, **{"data/nlu.yml": nlu}))
    assert (
        str(problem)
        == "data/nlu.yml:5: intent greet has 2 examples; at least 3 are needed [too-few-examples]"
    )


def test_a_response_the_domain_lacks_in_a_rule(tmp_path: Path) -> None:
    rules = RULES.replace("action: utter_greet", "action: utter_hello")
    found = problems(write_project(tmp_path, **{"data/rules.yml": rules}))
    assert [(p.path, p.line, p.check) for p in found] == [("data/rules.yml", 6, "missing-response")]
    assert "utter_hello" in found[0].message


def test_a_response_the_domain_lacks_in_code(tmp_path: Path) -> None:
    action = ACTION.replace("utter_sorry", "utter_apology")
    [problem] = problems(write_project(tmp_path, **{"actions/acknowledge.py": action}))
    assert (problem.path, problem.line, problem.check) == ("actions/acknowledge.py", 6, "missing-response")


def test_an_action_the_domain_lacks(tmp_path: Path) -> None:
    rules = RULES.replace("action: action_acknowledge", "action: action_apologise")
    found = problems(write_project(tmp_path, **{"data/rules.yml": rules}))
    assert [(p.path, p.line, p.check) for p in found] == [("data/rules.yml", 10, "missing-action")]


def test_an_action_nobody_implements(tmp_path: Path) -> None:
    domain = DOMAIN.replace("  - action_acknowledge\n", "  - action_acknowledge\n  - action_refund\n")
    [problem] = problems(write_project(tmp_path, **{"domain.yml": domain}))
    assert (
        str(problem)
        == "domain.yml:8: action action_refund is listed but no code implements it [missing-action]"
    )


def test_a_curated_answer_without_a_question_intent(tmp_path: Path) -> None:
    domain = DOMAIN.replace(
        "  utter_sorry:\n", '  utter_question/returns:\n    - text: "30 days."\n  utter_sorry:\n'
    )
    [problem] = problems(write_project(tmp_path, **{"domain.yml": domain}))
    assert str(problem) == (
        "domain.yml:15: curated answer utter_question/returns has no training examples for intent "
        "question/returns [unasked-answer]"
    )


def test_a_question_topic_without_an_answer(tmp_path: Path) -> None:
    nlu = NLU.replace("question/opening_hours", "question/returns")
    domain = DOMAIN.replace("utter_question/opening_hours", "utter_question/returns")
    found = problems(write_project(tmp_path, **{"data/nlu.yml": nlu}))
    assert {p.check for p in found} == {"missing-response", "unasked-answer"}
    assert problems(write_project(tmp_path, **{"data/nlu.yml": nlu, "domain.yml": domain})) == []


def test_a_training_example_from_the_heldout_set(tmp_path: Path) -> None:
    nlu = NLU.replace("hey team", "Hiya!")
    [problem] = problems(write_project(tmp_path, **{"data/nlu.yml": nlu}))
    assert (problem.line, problem.check) == (7, "heldout-leak")
    assert "tests/data/nlu_heldout.yml:5" in problem.message


def test_broken_yaml_is_a_located_problem_not_a_crash(tmp_path: Path) -> None:
    nlu = NLU.replace("  - intent: greet\n", "  - intent: greet\n   bad: [\n")
    found = problems(write_project(tmp_path, **{"data/nlu.yml": nlu}))
    assert [(p.path, p.check) for p in found] == [("data/nlu.yml", "yaml")]
    assert found[0].line > 0


def test_the_shipped_project_is_clean_apart_from_rasa() -> None:
    from bot.settings import PROJECT_ROOT

    assert validate(Project.at(PROJECT_ROOT), include_rasa=False) == []
