"""`firstline nlu ...`: the trainers' commands (validate, test, train, export).

Problems and reports go to standard output, one problem per line as `file:line: message`, so
editors and CI annotate them; progress goes to standard error like every other command.
Exit codes: 0 fine, 1 the data has problems (or training failed), 2 a bad argument.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from bot import model_store
from bot.progress import progress
from bot.settings import Settings

__all__ = ["add_nlu_commands"]

logger = logging.getLogger(__name__)


def _heldout(settings: Settings, args: argparse.Namespace) -> Path:
    return Path(args.heldout) if args.heldout else settings.project_dir / "tests" / "data" / "nlu_heldout.yml"


def _problems(settings: Settings, min_examples: int) -> list[Any]:
    from bot.trainer.validation import Project, validate

    progress("validating config, domain and data (Rasa's checks and Firstline's)")
    return validate(Project.at(settings.project_dir), min_examples=min_examples)


def _report_problems(problems: list[Any]) -> None:
    for problem in problems:
        print(problem, flush=True)
    if problems:
        progress(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found")


def cmd_nlu_validate(settings: Settings, args: argparse.Namespace) -> int:
    problems = _problems(settings, args.min_examples)
    _report_problems(problems)
    if not problems:
        progress("the data is valid")
    return 1 if problems else 0


def cmd_nlu_train(settings: Settings, args: argparse.Namespace) -> int:
    problems = _problems(settings, args.min_examples)
    if problems:
        _report_problems(problems)
        progress("not training on data that fails validation; fix the lines above first")
        return 1
    progress("the data is valid")
    try:
        model_store.ensure(settings.project_dir, settings.model_dir, force=args.force)
    except RuntimeError as exc:
        progress(f"training failed: {exc}")
        return 1
    return 0


def cmd_nlu_test(settings: Settings, args: argparse.Namespace) -> int:
    from bot.trainer.evaluation import TrainingFailed
    from bot.trainer.report import compare, format_comparison, format_summary, write_report
    from bot.trainer.scoring import RevisionError, nlu_model, reference, score_working_tree, yardsticks

    heldout = _heldout(settings, args)
    if not heldout.is_file():
        progress(f"no held-out file at {heldout}")
        return 2
    started = time.monotonic()
    try:
        before = (
            reference(settings.project_dir, args.compare, settings.model_dir, heldout, progress)
            if args.compare
            else None
        )
        after = score_working_tree(
            settings.project_dir,
            settings.model_dir,
            heldout,
            progress,
            model=Path(args.model) if args.model else None,
        )
    except (RevisionError, ValueError) as exc:
        progress(str(exc))
        return 2
    except TrainingFailed as exc:
        progress(f"training failed: {exc}")
        return 1
    print("\n".join(format_summary(after)))
    model = Path(args.model) if args.model else nlu_model(settings.project_dir, settings.model_dir)
    print("\n" + "\n".join(yardsticks(settings, model, progress)))
    out_dir = Path(args.out) if args.out else settings.data_dir / "nlu-report"
    json_path, html_path = write_report(after, out_dir)
    if before is not None:
        print(f"\nCompared with {before.label}:")
        print("\n".join(format_comparison(compare(before, after))))
    progress(f"report: {json_path} and {html_path} ({time.monotonic() - started:.0f} s)")
    return 0


def cmd_nlu_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.stores import Stores
    from bot.trainer.export import export_reviewed
    from bot.trainer.training_data import DataFileError

    out = Path(args.out) if args.out else settings.project_dir / "data" / "nlu" / "reviewed.yml"
    heldout = _heldout(settings, args)
    stores = Stores.open(settings)
    try:
        plan = export_reviewed(
            stores.review_inbox,
            settings.project_dir / "data",
            out,
            heldout if heldout.is_file() else None,
            dry_run=args.dry_run,
        )
    except DataFileError as exc:
        print(exc)
        return 1
    finally:
        stores.engine.dispose()
    for skipped in plan.skipped:
        print(f"review item {skipped.item_id}: skipped, {skipped.reason}: {skipped.text}")
    progress(f"{'would write' if args.dry_run else 'wrote'} {len(plan.written)} new examples to {out}")
    if plan.written and not args.dry_run:
        progress("next: firstline nlu validate, firstline nlu train, firstline nlu test --compare HEAD")
    return 0


def add_nlu_commands(commands: Any) -> None:
    """Adds `nlu validate|test|train|export` to the `firstline` argument parser's subcommands."""
    from bot.trainer.validation import DEFAULT_MIN_EXAMPLES

    nlu = commands.add_parser("nlu", help="trainers' tools: validate, test, train, export")
    nlu_commands = nlu.add_subparsers(dest="nlu_command", required=True)

    validate = nlu_commands.add_parser("validate", help="check the data; one line per problem with file:line")
    train = nlu_commands.add_parser("train", help="validate, then train the model if the data changed")
    train.add_argument("--force", action="store_true", help="train even if a matching model exists")
    for parser in (validate, train):
        parser.add_argument(
            "--min-examples",
            type=int,
            default=DEFAULT_MIN_EXAMPLES,
            help="fewest examples an intent or retrieval topic may have",
        )
    validate.set_defaults(handler=cmd_nlu_validate)
    train.set_defaults(handler=cmd_nlu_train)

    test = nlu_commands.add_parser(
        "test", help="train on the training data and score the held-out set; write a JSON and HTML report"
    )
    test.add_argument(
        "--compare", metavar="REF", help="a git revision or a saved report.json to compare with"
    )
    test.add_argument("--heldout", help="the held-out NLU file (default tests/data/nlu_heldout.yml)")
    test.add_argument("--out", help="folder for report.json and report.html (default <data dir>/nlu-report)")
    test.add_argument("--model", help="score this model archive instead of training")
    test.set_defaults(handler=cmd_nlu_test)

    export = nlu_commands.add_parser(
        "export", help="write reviewed inbox messages as Rasa training examples (personal data replaced)"
    )
    export.add_argument("--out", help="the NLU file to write (default data/nlu/reviewed.yml)")
    export.add_argument("--heldout", help="the held-out NLU file, whose messages are never exported")
    export.add_argument("--dry-run", action="store_true", help="report what would be written; change nothing")
    export.set_defaults(handler=cmd_nlu_export)
