"""Synthetic response pools in UltraFeedback's exact schema (openbmb/UltraFeedback).

Used to write the small pool shipped in the package and the 64k-row benchmark pool. The
text is filler, but the shape is faithful: 17 model names, four aspect ratings as strings
(some "N/A"), ``overall_score``/``fine-grained_score`` floats, rows with fewer than four
completions, ``ultralm-65b`` (absent from the authors' score table), empty responses.
"""

from __future__ import annotations

import random
from typing import Any

UF_MODELS: tuple[str, ...] = (
    "gpt-4",
    "gpt-3.5-turbo",
    "bard",
    "llama-2-7b-chat",
    "llama-2-13b-chat",
    "llama-2-70b-chat",
    "ultralm-13b",
    "ultralm-65b",
    "wizardlm-7b",
    "wizardlm-13b",
    "wizardlm-70b",
    "vicuna-33b",
    "alpaca-7b",
    "falcon-40b-instruct",
    "mpt-30b-chat",
    "starchat",
    "pythia-12b",
)

SOURCES: tuple[str, ...] = (
    "evol_instruct",
    "false_qa",
    "flan_v2_cot",
    "flan_v2_niv2",
    "sharegpt",
    "truthful_qa",
    "ultrachat",
)

PRINCIPLES: tuple[str, ...] = ("helpfulness", "honesty", "truthfulness", "verbalized_calibration")

_TOPICS = (
    "photosynthesis",
    "the French Revolution",
    "binary search",
    "compound interest",
    "plate tectonics",
    "the water cycle",
    "recursion in Python",
    "supply and demand",
    "the immune system",
    "prime numbers",
    "climate models",
    "the Pythagorean theorem",
    "neural networks",
    "Shakespeare's sonnets",
    "black holes",
    "vaccination",
    "sorting algorithms",
    "the stock market",
    "renewable energy",
    "the Roman Empire",
)
_ASKS = (
    "Explain {t} to a ten-year-old.",
    "Write a short summary of {t}.",
    "What are three common misconceptions about {t}?",
    "Give a step-by-step explanation of {t}.",
    "Compare {t} with a related idea and list the differences.",
    "Write a haiku about {t}.",
    "Is it true that {t} was discovered in 1850? Answer carefully.",
    "Create a quiz question about {t} with four options.",
)
_WORDS = (
    "the",
    "model",
    "answer",
    "because",
    "first",
    "then",
    "finally",
    "important",
    "idea",
    "example",
    "which",
    "process",
    "result",
    "explains",
    "simple",
    "energy",
    "change",
    "system",
    "people",
    "often",
    "however",
    "therefore",
    "between",
    "value",
    "step",
)


def _text(rng: random.Random, words: int) -> str:
    body = " ".join(rng.choice(_WORDS) for _ in range(words))
    return body[:1].upper() + body[1:] + "."


def _aspect(rng: random.Random, na_rate: float, typed: bool) -> dict[str, Any]:
    rating = "N/A" if rng.random() < na_rate else str(rng.randint(1, 5))
    out: dict[str, Any] = {"Rating": rating, "Rationale": _text(rng, 12)}
    if typed:
        out["Rationale For Rating"] = _text(rng, 10)
        out["Type"] = [str(rng.randint(1, 3))]
    return out


def make_row(
    rng: random.Random,
    *,
    n_completions: int = 4,
    response_words: int = 180,
    models: tuple[str, ...] = UF_MODELS,
    na_rate: float = 0.03,
    empty_rate: float = 0.0,
    index: int = 0,
) -> dict[str, Any]:
    """One UltraFeedback row. ``response_words`` is the mean response length in words."""
    topic = rng.choice(_TOPICS)
    instruction = rng.choice(_ASKS).format(t=topic) + f" (#{index})"
    chosen_models = rng.sample(models, n_completions)
    completions = []
    for model in chosen_models:
        aspects = {
            "helpfulness": _aspect(rng, na_rate, typed=True),
            "honesty": _aspect(rng, na_rate, typed=False),
            "instruction_following": _aspect(rng, na_rate, typed=False),
            "truthfulness": _aspect(rng, na_rate, typed=True),
        }
        ratings = [int(a["Rating"]) for a in aspects.values() if a["Rating"] != "N/A"]
        words = max(1, int(rng.gauss(response_words, response_words / 3)))
        response = "" if rng.random() < empty_rate else _text(rng, words)
        if response and rng.random() < 0.2:
            response = f"\n {response}  \n"  # untrimmed, as real generations often are
        completions.append(
            {
                "annotations": aspects,
                "critique": _text(rng, 40),
                "custom_system_prompt": "You are a helpful, respectful and honest assistant.",
                "fine-grained_score": round(sum(ratings) / len(ratings), 2) if ratings else None,
                "model": model,
                "overall_score": float(rng.choice([1, 2, 3, 4, 5, 6, 6.5, 7, 7.5, 8, 8.5, 9])),
                "principle": rng.choice(PRINCIPLES),
                "response": response,
            }
        )
    source = rng.choice(SOURCES)
    truthful = source == "truthful_qa"
    return {
        "source": source,
        "instruction": instruction,
        "models": chosen_models,
        "completions": completions,
        "correct_answers": [_text(rng, 6)] if truthful else [],
        "incorrect_answers": [_text(rng, 6)] if truthful else [],
    }


def make_pool(n_rows: int, seed: int = 0, response_words: int = 180) -> list[dict[str, Any]]:
    """A pool of ``n_rows`` with the edge cases UltraFeedback has, at realistic rates."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        n = 4 if rng.random() > 0.04 else rng.choice([0, 1, 2, 3])
        rows.append(
            make_row(rng, n_completions=n, response_words=response_words, empty_rate=0.01, index=i)
        )
    return rows
