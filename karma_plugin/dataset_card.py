"""Render the dataset card (README.md) of a Hub-ready folder from ``hub_cards/``."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import jinja2
import yaml


def card_metadata(doc: dict[str, Any]) -> dict[str, Any]:
    """The YAML header: one config per strategy, four splits each."""
    configs = [
        {
            "config_name": config,
            "data_files": [
                {"split": split, "path": f"{config}/{split}-*"} for split in doc["files"][config]
            ],
        }
        for config in doc["files"]
    ]
    return {
        "license": "mit",
        "pretty_name": "KARMA preference data",
        "configs": configs,
    }


def render_card(doc: dict[str, Any]) -> str:
    template = (files("karma_plugin.hub_cards") / "dataset_card.md").read_text(encoding="utf-8")
    meta = card_metadata(doc)
    configs = [
        {
            "name": c,
            "pairs": doc["counts"][c]["pairs"],
            "train": doc["splits"][c].get("train_prefs", 0),
            "test": doc["splits"][c].get("test_prefs", 0),
        }
        for c in doc["files"]
    ]
    env = jinja2.Environment(keep_trailing_newline=True, autoescape=False)
    return env.from_string(template).render(
        yaml_header=yaml.safe_dump(meta, sort_keys=False).strip(),
        pretty_name=meta["pretty_name"],
        configs=configs,
        repo_hint=doc.get("repo_id") or "ORG/NAME",
        command=doc.get("command", "karma-build binarize"),
    )
