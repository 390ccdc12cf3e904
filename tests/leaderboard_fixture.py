"""A few rows in the schema of the Open LLM Leaderboard's archived ``contents`` table.

The Hub dataset ``open-llm-leaderboard/contents`` (one parquet file,
``data/train-00000-of-00001.parquet``, split ``train``; about 4,500 open models) holds one row
per evaluated (model, precision). Its columns, as the leaderboard's own backend documents
them (the Space ``open-llm-leaderboard/open_llm_leaderboard``, ``backend/README.md``, section
"GET /api/leaderboard - Raw data from the HuggingFace dataset"): ``eval_name``, ``Precision``,
``Type``, ``Weight type``, ``Architecture``, ``Model`` (an HTML link), ``fullname`` (the Hub
model id), ``Model sha``, ``Average ⬆️``, ``Hub License``, ``Hub ❤️``, ``#Params (B)``,
``Available on the hub``, ``Merged``, ``MoE``, ``Flagged``, ``Chat Template``,
``CO₂ cost (kg)``, then per benchmark a raw score (0-1) and the leaderboard's normalised one
(0-100, chance subtracted): ``IFEval Raw``/``IFEval``, ``BBH Raw``/``BBH``,
``MATH Lvl 5 Raw``/``MATH Lvl 5``, ``GPQA Raw``/``GPQA``, ``MUSR Raw``/``MUSR``,
``MMLU-PRO Raw``/``MMLU-PRO``, and ``Maintainer's Highlight``, ``Upload To Hub Date``,
``Submission Date``, ``Generation``, ``Base Model``. The values below are made up.
"""

from __future__ import annotations

from pathlib import Path

REPO = "open-llm-leaderboard/contents"
FILE = "data/train-00000-of-00001.parquet"
BENCHES = ("IFEval", "BBH", "MATH Lvl 5", "GPQA", "MUSR", "MMLU-PRO")
# fullname, precision, raw scores in the order of BENCHES
MODELS = [
    ("org/model-a", "bfloat16", (0.80, 0.55, 0.30, 0.35, 0.45, 0.50)),
    ("org/model-b", "bfloat16", (0.70, 0.45, 0.20, 0.30, 0.40, 0.40)),
    ("org/model-b", "float16", (0.69, 0.44, 0.21, 0.29, 0.41, 0.39)),  # a second precision
    ("org/model-c", "bfloat16", (0.30, 0.40, 0.10, 0.28, 0.42, 0.30)),
    ("org/model-d", "bfloat16", (0.50, 0.30, 0.05, 0.26, 0.35, 0.20)),
    ("org/model-e", "float16", (0.20, 0.25, 0.02, 0.25, 0.38, 0.15)),
]
# The random baselines the leaderboard subtracts (BBH, GPQA, MUSR, MMLU-Pro: about 1/options).
BASELINE = {"IFEval": 0.0, "BBH": 0.25, "MATH Lvl 5": 0.0, "GPQA": 0.25, "MUSR": 0.3}
BASELINE["MMLU-PRO"] = 0.1
COLUMNS = (
    "model=fullname,ifeval=IFEval Raw,bbh=BBH Raw,math_lvl_5=MATH Lvl 5 Raw,gpqa=GPQA Raw,"
    "musr=MUSR Raw,mmlu_pro=MMLU-PRO Raw"
)


def rows() -> list[dict]:
    out = []
    for i, (name, precision, raw) in enumerate(MODELS):
        org, model = name.split("/")
        normalised = [
            100 * max(0.0, (r - BASELINE[b]) / (1 - BASELINE[b]))
            for b, r in zip(BENCHES, raw, strict=True)
        ]
        row = {
            "eval_name": f"{org}_{model}_{precision}",
            "Precision": precision,
            "Type": "💬 chat models (RLHF, DPO, IFT, ...)",
            "Weight type": "Original",
            "Architecture": "LlamaForCausalLM",
            "Model": f'<a target="_blank" href="https://huggingface.co/{name}">{name}</a>',
            "fullname": name,
            "Model sha": f"{i:040x}",
            "Average ⬆️": sum(normalised) / len(normalised),
            "Hub License": "apache-2.0",
            "Hub ❤️": 10 * i,
            "#Params (B)": 7.0 + i,
            "Available on the hub": True,
            "Merged": False,
            "MoE": False,
            "Flagged": False,
            "Chat Template": True,
            "CO₂ cost (kg)": 1.5 + i,
        }
        for bench, r, n in zip(BENCHES, raw, normalised, strict=True):
            row[f"{bench} Raw"] = r
            row[bench] = n
        row.update(
            {
                "Maintainer's Highlight": False,
                "Upload To Hub Date": "2024-06-01",
                "Submission Date": "2024-07-01",
                "Generation": 1,
                "Base Model": name,
            }
        )
        out.append(row)
    return out


def write_parquet(path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows()), path)
    return path


def write_csv(path: Path) -> Path:
    import csv

    table = rows()
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    return path
