"""Cost of the karma_* tasks with their SHIPPED generation settings, on a tiny local model.

For each task: items per second, generated tokens per item and generated tokens per second,
running the real lm-eval `hf` backend (CPU, or CUDA) on the test fixtures (tests/fixtures/lmeval,
real Hub schema). A random-weight model rarely emits a stop sequence, so tokens per item shows
each task's max_gen_toks budget: a change that makes evaluation longer shows up here.

It needs torch, transformers and lm-eval's `hf` backend with this tree installed: the test
environment, which scripts/benchmark.sh sets up and runs it in (from any folder):

    bash scripts/benchmark.sh eval_cost [--device cuda] [--dtype bfloat16] [--batch-size 4]
    bash scripts/benchmark.sh eval_cost --smoke     # 2 items a task, 32 tokens: a few minutes
    bash scripts/benchmark.sh eval_cost --smoke --tasks karma_arc_easy   # one task

Its work files (the tiny model, the task folder, NLTK's data) go to a temporary folder that is
removed when it ends; nothing is cached.

The full run generates every task's whole budget one token at a time through `hf` (up to 1280
tokens an item): on an H100 it did not finish within two minutes. `--smoke` (or `--limit` and
`--max-gen-toks`) bounds it; its tokens per second are the figure to compare, its tokens per
item only the override.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
SMOKE_LIMIT = 2
SMOKE_MAX_GEN_TOKS = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="items per task (default: all)")
    parser.add_argument(
        "--max-gen-toks", type=int, default=None, help="override every task's max_gen_toks"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a quick run: --limit {SMOKE_LIMIT} --max-gen-toks {SMOKE_MAX_GEN_TOKS}",
    )
    parser.add_argument("--tasks", default=None, help="comma-separated karma_* tasks (all)")
    args = parser.parse_args()
    missing = [m for m in ("karma_plugin", "lm_eval", "torch", "transformers") if not _has(m)]
    if missing:
        sys.exit(
            f"eval_cost.py: {', '.join(missing)} not importable here; run it as "
            "`bash scripts/benchmark.sh eval_cost --smoke` (the test environment, this tree "
            "installed)"
        )
    if args.smoke:
        args.limit = args.limit or SMOKE_LIMIT
        args.max_gen_toks = args.max_gen_toks or SMOKE_MAX_GEN_TOKS
    gen_kwargs = {"max_gen_toks": args.max_gen_toks} if args.max_gen_toks else None

    from lmeval_helpers import LEAVES

    tasks = args.tasks.split(",") if args.tasks else list(LEAVES)
    unknown = sorted(set(tasks) - set(LEAVES))
    if unknown:
        sys.exit(f"eval_cost.py: unknown task {unknown[0]} (choose from {', '.join(LEAVES)})")
    with tempfile.TemporaryDirectory(prefix="karma-eval-cost-") as folder:
        run(args, tasks, gen_kwargs, Path(folder))


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def run(args: argparse.Namespace, tasks: list[str], gen_kwargs: dict | None, work: Path) -> None:
    # torch writes its compile cache to the system temp folder unless told: the work folder.
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(work / "torchinductor"))
    from lmeval_helpers import derived_tasks, punkt_env
    from tiny_models import tiny_model_dir

    os.environ.update(punkt_env(work / "nltk"))
    import nltk

    nltk.data.path.insert(0, str(work / "nltk"))
    include = derived_tasks(work / "tasks")
    model_dir = tiny_model_dir("llama31", work)

    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(
        pretrained=str(model_dir),
        dtype=args.dtype,
        device=args.device,
        batch_size=args.batch_size,
    )
    generated: list[int] = []
    original = lm._model_generate

    def counting_generate(context, max_length, stop, **kwargs):
        # Count the new token ids per row up to the first EOS (re-tokenising decoded text of a
        # random model over-counts: its byte pieces do not round-trip).
        out = original(context=context, max_length=max_length, stop=stop, **kwargs)
        eos = lm.tokenizer.eos_token_id
        for row in out[:, context.shape[1] :].tolist():
            generated.append(row.index(eos) if eos in row else len(row))
        return out

    lm._model_generate = counting_generate
    manager = TaskManager(include_path=str(include), include_defaults=False)
    bounds = []
    if args.limit:
        bounds.append(f"limit {args.limit}")
    if args.max_gen_toks:
        bounds.append(f"max_gen_toks {args.max_gen_toks}")
    print(
        f"model: tiny llama31 (random weights) on {args.device}/{args.dtype}, "
        f"batch {args.batch_size}; " + (", ".join(bounds) or "shipped settings")
    )
    print(
        f"{'task':22} {'items':>5} {'max_gen_toks':>12} {'items/s':>8} {'gen tok/item':>12} "
        f"{'gen tok/s':>9}"
    )
    for task in tasks:
        generated.clear()
        start = time.perf_counter()
        out = simple_evaluate(
            model=lm,
            tasks=[task],
            task_manager=manager,
            log_samples=True,
            limit=args.limit,
            gen_kwargs=gen_kwargs,
        )
        seconds = time.perf_counter() - start
        samples = out["samples"][task]
        by_doc = {s["doc_id"]: s for s in samples}
        tokens = generated
        arguments = next(iter(by_doc.values()))["arguments"]
        # In memory: [(prompt, gen_kwargs)]; the samples files write {"gen_args_0": {...}}.
        gen = arguments["gen_args_0"]["arg_1"] if isinstance(arguments, dict) else arguments[0][1]
        budget = gen["max_gen_toks"]
        print(
            f"{task:22} {len(by_doc):>5} {budget:>12} {len(by_doc) / seconds:>8.2f} "
            f"{sum(tokens) / len(tokens):>12.1f} {sum(tokens) / seconds:>9.1f}"
        )


if __name__ == "__main__":
    main()
