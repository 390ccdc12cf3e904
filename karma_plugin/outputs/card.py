"""Render the dataset card (README.md) of a Hub-ready folder from ``hub_cards/``.

The card is a Jinja template; everything in it comes from the kinship.json document, so a
card always describes the data beside it. The YAML header carries the ``configs`` that
``datasets.load_dataset(repo, config)`` reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

import jinja2
import yaml

from karma_plugin.core.defaults import default_config
from karma_plugin.fs.paths import is_hub_repo
from karma_plugin.outputs import markdown

SPLITS: tuple[str, ...] = ("train_prefs", "test_prefs", "train_sft", "test_sft")
PRETTY_NAME = "KARMA preference data"
TAGS = ["dpo", "preference", "alignment", "rlhf", "karma", "kinship", "ultrafeedback"]
# A pool `karma-build pool` generated is not UltraFeedback: neither its tag nor its licence.
GENERATED_TAGS = [t for t in TAGS if t != "ultrafeedback"]
# The Hub's size buckets, by the number of preference pairs of the largest config.
SIZE_BUCKETS = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
]
# A leaderboard's table may leave out thousands of models with missing scores: the card names
# this many, kinship.json all of them.
MAX_EXCLUDED_LISTED = 30
# `binarize --report` draws into this folder of the dataset folder; the card embeds its figures
# with links relative to the repo, which the Hub renders on the dataset page, and `push`
# publishes it (and deletes what an earlier push left there).
FIGURES_FOLDER = "figures"
FIGURE_FILE = re.compile(rf"{FIGURES_FOLDER}/[A-Za-z0-9][\w.-]*\.(?:png|md)")


def size_category(n: int) -> str:
    return next((label for limit, label in SIZE_BUCKETS if n < limit), "n>10M")


def _pairs(doc: dict[str, Any]) -> int:
    return max(
        (s.get("train_prefs", 0) + s.get("test_prefs", 0) for s in doc["splits"].values()),
        default=0,
    )


def loadable_splits(doc: dict[str, Any]) -> dict[str, list[str]]:
    """The splits of each config that the header declares: those holding rows. `datasets`
    cannot load a split of no rows ("corresponds to no data"), so a declared empty test split
    (``--test-size 0``) would make its whole config unloadable; a config with no rows at all
    is left out. Their files stay in the folder, listed in kinship.json."""
    rows = doc.get("splits", {})
    declared = {
        config: [s for s in splits if rows.get(config, {}).get(s, 1) > 0]
        for config, splits in doc["files"].items()
    }
    return {config: splits for config, splits in declared.items() if splits}


def empty_splits(doc: dict[str, Any]) -> list[str]:
    """``config/split`` of every split left out of the header for holding no rows."""
    declared = loadable_splits(doc)
    return [
        f"{config}/{split}"
        for config, splits in doc["files"].items()
        for split in splits
        if split not in declared.get(config, [])
    ]


def card_default_config(doc: dict[str, Any]) -> str:
    """The config the card marks default: the one `binarize --default-config` recorded, while
    the folder holds it (`pull --config` may keep others only) with rows to load, else the
    usual choice."""
    configs = list(loadable_splits(doc)) or list(doc["files"])
    recorded = (doc.get("options") or {}).get("default_config")
    return (
        recorded if isinstance(recorded, str) and recorded in configs else default_config(configs)
    )


def card_metadata(doc: dict[str, Any]) -> dict[str, Any]:
    """The YAML header: one config per strategy, each with its splits; one of them marked
    `default: true`, so `load_dataset(repo)` needs no config name."""
    default = card_default_config(doc)
    configs = [
        {
            "config_name": config,
            **({"default": True} if config == default else {}),
            "data_files": [{"split": split, "path": f"{config}/{split}-*"} for split in splits],
        }
        for config, splits in loadable_splits(doc).items()
    ]
    generated = "pool_provenance" in doc
    meta: dict[str, Any] = {
        "pretty_name": PRETTY_NAME,
        # The generated answers are under their models' terms, the prompts under their own.
        **({} if generated else {"license": "mit"}),
        "language": ["en"],
        "task_categories": ["text-generation"],
        "tags": GENERATED_TAGS if generated else TAGS,
        "size_categories": [size_category(_pairs(doc))],
    }
    dataset = str(doc.get("dataset", ""))
    if "@" not in dataset and is_hub_repo(dataset):
        meta["source_datasets"] = [dataset]
    meta["configs"] = configs
    if "bytes" in doc:
        meta["dataset_info"] = dataset_info(doc)
    return meta


def dataset_info(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Split sizes per config, as the Hub's own metadata has them.

    Besides informing the viewer, they key ``datasets``' cache: it fingerprints a local
    folder by its card, not its files, and would otherwise serve one folder's rows for
    another of the same name.
    """
    infos = []
    declared = loadable_splits(doc)
    for config, sizes in doc["bytes"].items():
        if config not in declared:
            continue
        splits = [
            {"name": split, "num_bytes": sizes[split], "num_examples": doc["splits"][config][split]}
            for split in declared[config]
        ]
        total = sum(sizes[split] for split in declared[config])
        infos.append(
            {
                "config_name": config,
                "splits": splits,
                "download_size": total,
                "dataset_size": total,
            }
        )
    return infos


def _share(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) and not isinstance(value, bool) else "–"


def _per_config(uncertainty: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    """``stability`` or ``sure_pairs`` of the uncertainty key (binarize --bootstrap)."""
    found = uncertainty.get(key) if uncertainty else None
    return found if isinstance(found, Mapping) else None


def configs_table(doc: dict[str, Any]) -> str:
    """Pairs and rows per config and split, agreement, and with ``--bootstrap`` how stable
    the pairs are under the scores' sampling noise."""
    uncertainty = markdown.uncertainty_of(doc)
    stability = _per_config(uncertainty, "stability")
    sure = _per_config(uncertainty, "sure_pairs")
    rows = []
    for config in doc["files"]:
        splits = doc["splits"][config]
        agree = doc.get("agreement", {}).get(config)
        rows.append(
            [
                f"`{config}`",
                str(doc.get("counts", {}).get(config, {}).get("pairs", "–")),
                *(str(splits.get(s, "–")) for s in SPLITS),
                "–" if agree is None else f"{agree:.1%}",
                *([_share(stability.get(config))] if stability is not None else []),
                *([_share(sure.get(config))] if sure is not None else []),
            ]
        )
    header = [
        "config",
        "pairs",
        *SPLITS,
        "agreement",
        *(["stability"] if stability is not None else []),
        *(["sure pairs"] if sure is not None else []),
    ]
    return markdown.markdown_table(header, rows)


# How each noise source redraws the scores, for a kinship.json without its own description.
NOISE_METHODS = {
    "item_bootstrap": "Each benchmark's items resampled, the same items for every model",
    "stderr": "Each score drawn around itself with its reported standard error",
    "binomial": "Each score drawn as a proportion of its benchmark's items",
}


def uncertainty_card(doc: dict[str, Any]) -> dict[str, Any] | None:
    """What the card says of ``uncertainty`` (``--bootstrap``), or ``None`` without it."""
    uncertainty = markdown.uncertainty_of(doc)
    if uncertainty is None:
        return None
    method = str(uncertainty.get("method", ""))
    draws = uncertainty.get("draws")
    # The run's own sentence on what was redrawn, else the method's in general.
    description = str(uncertainty.get("description") or "").strip().rstrip(".")
    return {
        "method": method,
        "description": description or NOISE_METHODS.get(method, f"Method {method}"),
        "draws": f"{draws:,}" if isinstance(draws, int) else "?",
        "seed": uncertainty.get("seed"),
        "level": markdown.interval_label(uncertainty),
        "stability": _per_config(uncertainty, "stability") is not None,
        "sure_pairs": _per_config(uncertainty, "sure_pairs") is not None,
        "unsure": [
            (markdown.one_line(a).replace("`", "'"), markdown.one_line(b).replace("`", "'"), p)
            for a, b, p in markdown.unsure_neighbours(doc)
        ],
        "crossing": [
            (markdown.one_line(a), markdown.one_line(b), lo, hi)
            for a, b, lo, hi in markdown.pairs_crossing_tau(doc)
        ],
    }


def skipped_table(doc: dict[str, Any]) -> str:
    counts = doc.get("counts", {})
    reasons = sorted({r for c in counts.values() for r in c.get("skipped", {})})
    if not reasons:
        return "No instruction was skipped."
    rows = [
        [f"`{config}`", *(str(counts[config]["skipped"].get(r, 0)) for r in reasons)]
        for config in doc["files"]
        if config in counts
    ]
    return markdown.markdown_table(["config", *(r.replace("_", " ") for r in reasons)], rows)


def _code(value: Any) -> str:
    """A value as inline code in a table cell ("–" for none)."""
    if value is None or value == "" or value == {}:
        return "–"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return markdown.md_name(text, code=True)


def provenance_table(provenance: dict[str, Any]) -> str:
    """One row per run of a generated pool: the model, how lm-eval ran it, what it answered."""
    responses = provenance.get("responses") or {}
    rows = [
        [
            _code(run.get("model")),
            _code(run.get("lm_eval_model")),
            _code(run.get("backend")),
            _code(run.get("generation_kwargs")),
            "yes" if run.get("chat_template_applied") else "no",
            _code(run.get("lm_eval_version")),
            str(responses.get(run.get("model"), "–")),
        ]
        for run in provenance.get("runs") or []
        if isinstance(run, dict)
    ]
    header = ["model", "lm-eval model", "backend", "generation kwargs", "chat template"]
    return markdown.markdown_table([*header, "lm-eval", "responses"], rows)


def prompt_set_text(provenance: dict[str, Any]) -> str:
    """Where the prompts came from, as lm-eval recorded the task ("" when unrecorded)."""
    found = provenance.get("prompt_set")
    prompt_set: dict[str, Any] = found if isinstance(found, dict) else {}
    path = prompt_set.get("dataset_path")
    if not path:
        return ""
    kwargs = prompt_set.get("dataset_kwargs") or {}
    data_files = kwargs.get("data_files") if isinstance(kwargs, dict) else None
    where = f"`{path}`" + (f" ({_code(data_files)})" if data_files else "")
    revision = kwargs.get("revision") if isinstance(kwargs, dict) else None
    return where + (f" at revision `{revision}`" if revision else "")


def report_files(doc: dict[str, Any]) -> dict[str, str]:
    """The files of the kinship report inside the folder that kinship.json records (its
    ``report`` key, from ``binarize --report``), by name: ``{"s_pref.png":
    "figures/s_pref.png", ..., "report.md": "figures/report.md"}``. Anything that is not a
    plain file of ``FIGURES_FOLDER`` is ignored: a card from a remote kinship.json must not
    link outside the repo."""
    found = doc.get("report")
    if not isinstance(found, dict):
        return {}
    listed = found.get("figures")
    paths = [*(listed if isinstance(listed, list) else []), found.get("markdown")]
    return {
        path.rsplit("/", 1)[1]: path
        for path in paths
        if isinstance(path, str) and FIGURE_FILE.fullmatch(path)
    }


def axolotl_models() -> list[str]:
    """The base models with shipped Axolotl configs (folders holding a dpo.yml)."""
    root = files("karma_plugin.axolotl_configs")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "dpo.yml").is_file())


def render_card(doc: dict[str, Any]) -> str:
    template = (files("karma_plugin.hub_cards") / "dataset_card.md").read_text(encoding="utf-8")
    meta = card_metadata(doc)
    names = list(doc["files"])
    models = axolotl_models()
    dataset = str(doc.get("dataset", ""))
    if "@" not in dataset and is_hub_repo(dataset):
        source = f"[{dataset}](https://huggingface.co/datasets/{dataset})"
    elif dataset == "sample":
        source = "here, the small UltraFeedback-schema sample shipped with `karma-plugin`"
    else:
        source = f"here, `{dataset}`" if dataset else "UltraFeedback's schema"
    # Names on one line in the card's lists and code spans, as in its tables (markdown.md_name).
    excluded = [
        (markdown.one_line(n).replace("`", "'"), r)
        for n, r in sorted(doc.get("excluded", {}).items())
    ]
    provenance = doc.get("pool_provenance")
    declared = loadable_splits(doc)
    default = card_default_config(doc)
    env = jinja2.Environment(
        keep_trailing_newline=True, autoescape=False, undefined=jinja2.StrictUndefined
    )
    return env.from_string(template).render(
        yaml_header=yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip(),
        pretty_name=meta["pretty_name"],
        source=source,
        tau=format(doc.get("tau", 0.0), "g"),
        rating=doc.get("rating", "overall_score"),
        lower_is_better=doc.get("better_rating") == "lower",
        configs=[{"name": c} for c in declared],
        config_names=names,
        default_config=default,
        default_has_test="test_prefs" in declared.get(default, []),
        configs_table=configs_table(doc),
        skipped_table=skipped_table(doc),
        not_built=sorted(doc.get("skipped_configs", {}).items()),
        empty_splits=empty_splits(doc),
        generated=provenance is not None,
        provenance=provenance or {},
        provenance_table=provenance_table(provenance) if provenance else "",
        prompt_set=prompt_set_text(provenance) if provenance else "",
        score_table=markdown.markdown_scores(doc, code_names=True, with_rank=True),
        categories=doc.get("categories") or {},
        preference=doc.get("preference_check"),
        preference_table=markdown.markdown_preference(doc["preference_check"], code_names=True)
        if doc.get("preference_check")
        else "",
        kinship_table=markdown.markdown_kinship(doc, code_names=True),
        excluded=excluded[:MAX_EXCLUDED_LISTED],
        excluded_more=max(0, len(excluded) - MAX_EXCLUDED_LISTED),
        all_models=doc.get("all_models"),
        below_tau=[
            (markdown.one_line(a), markdown.one_line(b), v)
            for a, b, v in doc.get("pairs_below_tau", [])
        ],
        repo_id=doc.get("repo_id") or "ORG/NAME",
        axolotl_models=models,
        axolotl_example=models[0] if models else "llama-3.1-8b-instruct",
        command=doc.get("command", "karma-build binarize"),
        versions=sorted(doc.get("versions", {}).items()),
        figures=report_files(doc),
        uncertainty=uncertainty_card(doc),
    )
