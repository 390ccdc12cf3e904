"""Evaluate a trained checkpoint on the `karma` lm-eval tasks and save lm-eval's standard results.

Used by the Axolotl plugin after training and runnable by hand:

    python -m karma_plugin.lmeval.posttrain --model OUTPUT_DIR [--limit 50] [--tasks karma]

Results go to `OUTPUT_DIR/karma_eval/<model name>/results_<timestamp>.json`, the layout that
`lm_eval --output_path OUTPUT_DIR/karma_eval` writes and that `karma-build compare` reads.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from karma_plugin.lmeval.wrapper import tasks_dir

EVAL_SUBDIR = "karma_eval"


@dataclass
class EvalRequest:
    """What to evaluate and how; every field has a JSON-friendly type (it crosses processes)."""

    model: str
    output_dir: str
    tasks: list[str] = field(default_factory=lambda: ["karma"])
    limit: float | None = None
    batch_size: int | str = 8
    apply_chat_template: bool = True
    fewshot_as_multiturn: bool = False
    num_fewshot: int | None = None
    dtype: str = "auto"
    device: str | None = None
    include_path: str | None = None
    model_args: str | None = None  # extra `key=value,...` for lm-eval's hf model

    def model_args_string(self) -> str:
        parts = [f"pretrained={self.model}", f"dtype={self.dtype}"]
        if self.model_args:
            parts.append(self.model_args)
        return ",".join(parts)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _task_manager(manager: type, include: str, tasks: Sequence[str]) -> Any:
    """lm-eval's task index of ``include`` alone when it holds every task asked for (indexing
    lm-eval's own 14,000 tasks as well takes 13 to 41 s on 2 cores, before any model loads);
    with lm-eval's tasks when one of them is asked for."""
    own = manager(include_path=include, include_defaults=False)
    if all(own.match_tasks([task]) for task in tasks):
        return own
    return manager(include_path=include)


def run_karma_eval(request: EvalRequest) -> Path:
    """Run lm-eval in this process and return the folder results were written under."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    include = request.include_path or tasks_dir()
    out = Path(request.output_dir) / EVAL_SUBDIR
    tracker = EvaluationTracker(output_path=str(out))
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args=request.model_args_string(),
        tasks=list(request.tasks),
        num_fewshot=request.num_fewshot,
        batch_size=request.batch_size,
        device=request.device or default_device(),
        limit=request.limit,
        apply_chat_template=request.apply_chat_template,
        fewshot_as_multiturn=request.fewshot_as_multiturn,
        task_manager=_task_manager(TaskManager, include, request.tasks),
        evaluation_tracker=tracker,
    )
    if results is None:  # non-zero ranks of a distributed lm-eval run get None
        return out
    results.pop("samples", None)
    tracker.save_results_aggregated(results=results, samples=None)
    return out


def request_to_argv(request: EvalRequest) -> list[str]:
    """The command line that runs `request` in a fresh Python process."""
    import json

    module = "karma_plugin.lmeval.posttrain"
    return [sys.executable, "-m", module, "--request", json.dumps(asdict(request))]


def _parse(argv: list[str] | None) -> EvalRequest:
    import json

    parser = argparse.ArgumentParser(
        prog="python -m karma_plugin.lmeval.posttrain",
        description="Evaluate a checkpoint on the karma lm-eval tasks.",
    )
    parser.add_argument("--request", help="all settings as one JSON object (used by the plugin)")
    parser.add_argument("--model", help="checkpoint folder or Hub id")
    parser.add_argument("--output-dir", help="results go under OUTPUT_DIR/karma_eval")
    parser.add_argument("--tasks", default="karma", help="comma-separated task or group names")
    parser.add_argument("--limit", type=float, default=None, help="items per task (or a fraction)")
    parser.add_argument("--batch-size", default="8")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default=None)
    parser.add_argument("--include-path", default=None, help="task folder (default: installed)")
    parser.add_argument("--no-chat-template", action="store_true")
    args = parser.parse_args(argv)
    if args.request:
        return EvalRequest(**json.loads(args.request))
    if not args.model:
        parser.error("--model is required")
    limit = args.limit
    if limit is not None and float(limit).is_integer():
        limit = int(limit)
    batch = int(args.batch_size) if args.batch_size.isdigit() else args.batch_size
    return EvalRequest(
        model=args.model,
        output_dir=args.output_dir or args.model,
        tasks=[t for t in args.tasks.split(",") if t],
        limit=limit,
        batch_size=batch,
        apply_chat_template=not args.no_chat_template,
        dtype=args.dtype,
        device=args.device,
        include_path=args.include_path,
    )


def main(argv: list[str] | None = None) -> int:
    request = _parse(argv)
    try:
        out = run_karma_eval(request)
    except (OSError, ValueError, KeyError) as exc:
        print(f"Error: karma evaluation failed: {exc}", file=sys.stderr)
        return 1
    print(f"karma evaluation results under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
