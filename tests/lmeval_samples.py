"""Write lm-eval ``--log_samples`` output by hand, in the real layout.

The line layout was taken from real runs of the karma_arc_easy task with a scripted LM under
lm-eval 0.4.11 and 0.4.13 (identical keys and values: one line per document per filter, the
headline filter ``answer-is`` and the fallback ``final-letter``). The versions differ in the
results file next to the samples: 0.4.11 may record ``model_args`` as a string, 0.4.13 as a
dict with ``model_name`` beside it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

LETTERS = "ABCDEFGHIJ"
INVALID = "[invalid]"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def mc_doc(doc_id: int, n_options: int, gold: int) -> dict:
    return {
        "id": f"q{doc_id}",
        "mc_topic": "science",
        "mc_question": f"Question {doc_id}?",
        "mc_options": [f"option {k}" for k in range(n_options)],
        "mc_answer": LETTERS[gold],
    }


def mc_lines(doc_id: int, doc: dict, answer: str | None, fallback: str | None) -> list[dict]:
    """Both filters' lines for one document; ``None`` = nothing extracted."""
    target = doc["mc_answer"]
    lines = []
    for filter_name, letter in (("answer-is", answer), ("final-letter", fallback)):
        extracted = letter or INVALID
        lines.append(
            {
                "doc_id": doc_id,
                "doc": doc,
                "target": target,
                "arguments": {
                    "gen_args_0": {
                        "arg_0": f"Question:\n{doc['mc_question']}\nAnswer:",
                        "arg_1": {"until": ["Question:"], "do_sample": False, "max_gen_toks": 512},
                    }
                },
                "resps": [[f"The answer is ({letter})." if letter else "not sure"]],
                "filtered_resps": [extracted],
                "filter": filter_name,
                "metrics": ["exact_match", "invalid"],
                "doc_hash": _hash(json.dumps(doc, indent=2)),
                "prompt_hash": _hash(doc["mc_question"]),
                "target_hash": _hash(target),
                "exact_match": float(extracted == target),
                "invalid": float(extracted == INVALID),
            }
        )
    return lines


def ifeval_line(doc_id: int, strict: bool) -> dict:
    doc = {"key": 1000 + doc_id, "prompt": f"Write {doc_id} words.", "instruction_id_list": ["x"]}
    return {
        "doc_id": doc_id,
        "doc": doc,
        "target": "0",
        "arguments": {"gen_args_0": {"arg_0": doc["prompt"], "arg_1": {"until": []}}},
        "resps": [["text"]],
        "filtered_resps": ["text"],
        "filter": "none",
        "metrics": [
            "prompt_level_strict_acc",
            "inst_level_strict_acc",
            "prompt_level_loose_acc",
            "inst_level_loose_acc",
        ],
        "doc_hash": _hash(json.dumps(doc, indent=2)),
        "prompt_hash": _hash(doc["prompt"]),
        "target_hash": _hash("0"),
        "prompt_level_strict_acc": strict,
        "inst_level_strict_acc": [strict],
        "prompt_level_loose_acc": True,
        "inst_level_loose_acc": [True],
    }


def results_doc(model: str, version: str) -> dict:
    doc = {
        "results": {},
        "config": {"model": "hf", "model_args": {"pretrained": model}},
        "model_name": model,
        "model_name_sanitized": model.replace("/", "__"),
        "lm_eval_version": version,
    }
    if version == "0.4.11":
        doc["config"]["model_args"] = f"pretrained={model},dtype=bfloat16"
        del doc["model_name"]
    return doc


def write_run(
    root: Path,
    model: str,
    version: str,
    tasks: dict[str, list[dict]],
    stamp: str = "2026-11-27T00-07-13.186587",
) -> Path:
    """``root/<model sanitized>/results_<stamp>.json`` and ``samples_<task>_<stamp>.jsonl``."""
    folder = root / model.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"results_{stamp}.json").write_text(json.dumps(results_doc(model, version)))
    for task, lines in tasks.items():
        path = folder / f"samples_{task}_{stamp}.jsonl"
        path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    return folder


def mc_task(
    golds: list[int],
    n_options: list[int],
    answers: list[int | None],
    order: list[int] | None = None,
) -> list[dict]:
    """Lines of one multiple-choice task: ``answers[i]`` is the headline letter index (None =
    invalid). The fallback filter always answers correctly, so a reader that used the wrong
    filter would see a perfect model."""
    lines = []
    for i in order or range(len(golds)):
        doc = mc_doc(i, n_options[i], golds[i])
        answer = None if answers[i] is None else LETTERS[answers[i]]
        lines += mc_lines(i, doc, answer, LETTERS[golds[i]])
    return lines
