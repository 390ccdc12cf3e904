"""What Axolotl + TRL actually feed the model from our configs: one BOS, labels on the answer only.

Runs Axolotl's own loading path in this process (load_cfg, the dataset loaders, the trainer
builder) on the shipped configs pointed at a tiny model and a `karma-build binarize` folder.
"""

from __future__ import annotations

import pytest
import yaml
from axolotl_helpers import CONFIG_ROOT, OFFLINE_ENV, cpu_smoke_config
from tiny_models import tiny_llama31, tiny_qwen25  # noqa: F401  (pytest fixtures)

pytest.importorskip("axolotl", reason="needs the `train` extra (axolotl)")
pytestmark = [pytest.mark.train, pytest.mark.slow]

N_CHECK = 40  # examples inspected per run


@pytest.fixture(scope="module")
def karma_folder(sample_folder):
    """binarize --strategy all on the sample pool (the session's folder: read-only)."""
    return sample_folder


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KARMA_DATASET_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # axolotl writes last_run_prepared/ into the working dir


def _load_cfg(shipped, model, karma_folder, tmp_path, **changes):
    from axolotl.cli.config import load_cfg

    raw = cpu_smoke_config(shipped, model=model, dataset=karma_folder, out=tmp_path)
    raw.update(changes)
    path = tmp_path / "cfg.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_cfg(str(path))


def _dpo_train_dataset(cfg):
    from axolotl.common.datasets import load_preference_datasets
    from axolotl.train import setup_model_and_trainer

    meta = load_preference_datasets(cfg=cfg)
    trainer, *_ = setup_model_and_trainer(cfg, meta)
    return trainer.train_dataset, trainer.processing_class


def _source_rows(karma_folder, config, split) -> list[dict]:
    # Read the parquet files directly: datasets' cache for a local folder is keyed by the folder's
    # name, so another folder also called `out` could be served instead.
    import pyarrow.parquet as pq

    files = sorted((karma_folder / config).glob(f"{split}-*.parquet"))
    assert files
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def test_dataset_messages_are_stripped(karma_folder):
    """Llama-3.1's template trims content; an unstripped answer would not be found again."""
    for config in ("k_score", "k_sim", "k_score_sim", "rlaif"):
        for split in ("train_prefs", "train_sft"):
            for row in _source_rows(karma_folder, config, split):
                for column in ("prompt", "chosen", "rejected", "messages"):
                    for message in row[column]:
                        assert message["content"] == message["content"].strip(), (config, split)
                        assert message["content"]


@pytest.mark.parametrize("family", ["llama", "qwen"])
def test_dpo_examples_have_one_bos_and_exact_answers(family, request, tmp_path, karma_folder):
    model = request.getfixturevalue("tiny_llama31" if family == "llama" else "tiny_qwen25")
    shipped = CONFIG_ROOT / (
        "llama-3.1-8b-instruct" if family == "llama" else "qwen2.5-7b-instruct"
    )
    cfg = _load_cfg(shipped / "dpo.yml", model, karma_folder, tmp_path)
    dataset, tok = _dpo_train_dataset(cfg)
    rows = _source_rows(karma_folder, cfg.karma_dataset_config, "train_prefs")
    by_id = {r["prompt_id"]: r for r in rows}
    assert len(dataset) == len(rows)
    for example in dataset.select(range(N_CHECK)):
        prompt_ids = example["prompt_ids"]
        source = by_id[example["prompt_id"]]
        if family == "llama":
            assert prompt_ids[0] == tok.bos_token_id
            assert prompt_ids.count(tok.bos_token_id) == 1, "double BOS"
        else:
            assert tok.bos_token_id is None or tok.bos_token_id not in prompt_ids
        assert source["prompt"][0]["content"] in tok.decode(prompt_ids)
        for column, ids in (("chosen", "chosen_ids"), ("rejected", "rejected_ids")):
            text = tok.decode(example[ids])
            answer = source[column][0]["content"]
            assert text.startswith(answer + tok.eos_token), (text[:80], answer[:80])
            assert text[len(answer) + len(tok.eos_token) :].strip() == ""


def test_dpo_string_route_would_double_the_bos(request, tmp_path, karma_folder):
    """Why the DPO configs carry no `type:`: axolotl's chat_template.default doubles the BOS."""
    tiny = request.getfixturevalue("tiny_llama31")
    shipped = CONFIG_ROOT / "llama-3.1-8b-instruct" / "dpo.yml"
    cfg = _load_cfg(
        shipped,
        tiny,
        karma_folder,
        tmp_path,
        datasets=[
            {
                "path": str(karma_folder),
                "split": "train_prefs",
                "type": "chat_template.default",
                "field_messages": "prompt",
                "field_chosen": "chosen",
                "field_rejected": "rejected",
            }
        ],
        skip_prepare_dataset=False,
    )
    dataset, tok = _dpo_train_dataset(cfg)
    assert dataset[0]["prompt_ids"][:2] == [tok.bos_token_id, tok.bos_token_id]


@pytest.mark.parametrize("family", ["llama", "qwen"])
def test_sft_labels_are_the_answer_only(family, request, tmp_path, karma_folder):
    from axolotl.common.datasets import load_datasets

    model = request.getfixturevalue("tiny_llama31" if family == "llama" else "tiny_qwen25")
    shipped = CONFIG_ROOT / (
        "llama-3.1-8b-instruct" if family == "llama" else "qwen2.5-7b-instruct"
    )
    cfg = _load_cfg(shipped / "sft.yml", model, karma_folder, tmp_path)
    meta = load_datasets(cfg=cfg)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    rows = _source_rows(karma_folder, cfg.karma_dataset_config, "train_sft")
    answers = {r["messages"][-1]["content"] for r in rows}
    assert len(meta.train_dataset) == len(rows)
    for example in meta.train_dataset.select(range(N_CHECK)):
        ids, labels = example["input_ids"], example["labels"]
        if family == "llama":
            assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
        trained = [t for t, lab in zip(ids, labels, strict=True) if lab != -100]
        assert trained == [lab for lab in labels if lab != -100]
        text = tok.decode(trained)
        assert text.endswith(tok.eos_token)
        assert text[: -len(tok.eos_token)] in answers
        # Nothing of the user turn or the headers is trained.
        first = next(i for i, lab in enumerate(labels) if lab != -100)
        assert all(lab == -100 for lab in labels[:first])
        assert all(lab != -100 for lab in labels[first : first + len(trained)])
