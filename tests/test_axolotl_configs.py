"""The shipped Axolotl configs: valid offline, every key known, Appendix A hyperparameters."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from axolotl_helpers import CONFIG_PATHS, CONFIG_ROOT, MODEL_DIRS, OFFLINE_ENV, load_config

pytest.importorskip("axolotl", reason="needs the `train` extra (axolotl)")
pytestmark = pytest.mark.train

from axolotl.cli.config import prepare_plugins  # noqa: E402
from axolotl.integrations.config import merge_input_args  # noqa: E402
from axolotl.utils.config import validate_config  # noqa: E402
from axolotl.utils.dict import DictDefault  # noqa: E402
from axolotl.utils.schemas.datasets import DPODataset, SFTDataset  # noqa: E402
from axolotl.utils.schemas.model import SpecialTokensConfig  # noqa: E402

from karma_plugin.integrations.axolotl import (  # noqa: E402
    STRATEGIES,
    KarmaConfigError,
    KarmaEvalArgs,
    KarmaEvalPlugin,
    resolve_dataset_entries,
)

GPU_NODE = {"bf16": True, "n_gpu": 4, "compute_capability": "sm_89", "fp8": False, "tf32": True}
GPU_ENV = {"torch_version": "2.13.0"}
IDS = [f"{p.parent.name}/{p.name}" for p in CONFIG_PATHS]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KARMA_DATASET_CONFIG", raising=False)


def _validated(raw: dict) -> DictDefault:
    cfg = DictDefault(json.loads(json.dumps(raw)))
    prepare_plugins(cfg)  # as axolotl's load_cfg does: plugin keys join the schema
    return validate_config(cfg, capabilities=GPU_NODE, env_capabilities=GPU_ENV)


def test_one_folder_per_base_model_with_all_configs():
    assert sorted(p.name for p in CONFIG_ROOT.iterdir() if p.is_dir() and "-" in p.name) == sorted(
        MODEL_DIRS
    )
    for model in MODEL_DIRS:
        names = sorted(p.name for p in (CONFIG_ROOT / model).glob("*.yml"))
        assert names == ["dpo-fsdp2.yml", "dpo.yml", "sft-fsdp2.yml", "sft.yml"]


@pytest.mark.parametrize("path", CONFIG_PATHS, ids=IDS)
def test_config_validates_offline_and_keeps_appendix_a(path):
    raw = load_config(path)
    cfg = _validated(raw)
    # Appendix A: 1 epoch, bf16, per-device batch 6, accumulation 4, lr 5e-5, 500 warm-up steps.
    assert cfg.num_epochs == 1
    assert cfg.bf16 is True and raw["bf16"] is True  # never "auto" (fp16 fallback)
    assert cfg.fp16 is False
    assert cfg.micro_batch_size == 6
    assert cfg.gradient_accumulation_steps == 4
    assert cfg.learning_rate == pytest.approx(5e-5)
    assert cfg.warmup_steps == 500 and not cfg.warmup_ratio
    assert cfg.micro_batch_size * cfg.gradient_accumulation_steps * GPU_NODE["n_gpu"] == 96
    assert cfg.adapter is None and not cfg.load_in_8bit and not cfg.load_in_4bit  # full FT
    assert raw["chat_template"] == "tokenizer_default"
    assert raw["attn_implementation"] == "sdpa"
    assert raw["plugins"] == ["karma_plugin.integrations.axolotl.KarmaEvalPlugin"]
    assert cfg.karma_dataset_config in STRATEGIES
    assert cfg.karma_eval_post_train is True and cfg.karma_eval_tasks == ["karma"]


@pytest.mark.parametrize("path", CONFIG_PATHS, ids=IDS)
def test_every_key_is_known_to_axolotl(path):
    """Axolotl ignores unknown keys silently: a typo would be a silent wrong run."""
    raw = load_config(path)
    cfg = DictDefault(json.loads(json.dumps(raw)))
    prepare_plugins(cfg)
    _, input_config = merge_input_args()
    known = set(input_config.model_fields)
    for field in input_config.model_fields.values():
        if field.alias:
            known.add(field.alias)
    assert set(raw) - known == set()
    assert set(KarmaEvalArgs.model_fields) <= known  # the plugin's schema is merged in
    # Per-dataset keys must survive validation: under rl: dpo only DPODataset's fields do.
    dataset_fields = set((DPODataset if raw.get("rl") else SFTDataset).model_fields)
    for entry in raw["datasets"]:
        assert set(entry) - dataset_fields == set()
    assert set(raw.get("special_tokens", {})) <= set(SpecialTokensConfig.model_fields)
    if "fsdp_config" in raw:
        from axolotl.utils.schemas.fsdp import FSDPConfig

        assert set(raw["fsdp_config"]) <= set(FSDPConfig.model_fields)


def test_unknown_key_check_catches_typos():
    raw = load_config(CONFIG_PATHS[0])
    raw["lerning_rate"] = 1e-5
    cfg = DictDefault(json.loads(json.dumps(raw)))
    prepare_plugins(cfg)
    _, input_config = merge_input_args()
    assert "lerning_rate" not in input_config.model_fields
    # ...and validation itself would have accepted it silently:
    assert _validated(raw).learning_rate == pytest.approx(5e-5)


@pytest.mark.parametrize("path", CONFIG_PATHS, ids=IDS)
def test_method_specific_settings(path):
    raw = load_config(path)
    cfg = _validated(raw)
    (entry,) = raw["datasets"]
    if path.name.startswith("dpo"):
        assert cfg.rl == "dpo"
        assert entry["split"] == "train_prefs"
        # TRL conversational columns, no axolotl prompt strategy: one BOS on Llama-3.x.
        assert "type" not in entry and cfg.skip_prepare_dataset is True
        # What DPO validation would drop is not relied on: nothing but path/split per dataset.
        assert set(entry) == {"path", "split"}
        assert cfg.datasets[0]["data_files"] == [
            f"{raw['karma_dataset_config']}/train_prefs-*.parquet"
        ]
    else:
        assert not cfg.rl
        assert entry["split"] == "train_sft"
        assert entry["type"] == "chat_template" and entry["field_messages"] == "messages"
        assert entry["roles_to_train"] == ["assistant"]
        ds = cfg.datasets[0]
        assert ds["roles_to_train"] == ["assistant"] and ds["field_messages"] == "messages"
    assert cfg.sample_packing is False
    if "llama" in path.parent.name:
        assert raw["special_tokens"]["pad_token"] == "<|finetune_right_pad_id|>"
    else:
        assert "special_tokens" not in raw


# The FSDP2 block, defined once. Axolotl configs cannot include each other, so each
# *-fsdp2.yml is shipped whole: its base config with this note after the header comment and
# this block in place of the DeepSpeed lines, and nothing else (the test below).
FSDP2_NOTE = (
    "# FSDP2 variant: shards parameters, gradients and optimizer state instead of DeepSpeed ZeRO.\n"
)
FSDP2_BLOCK = """\
fsdp_version: 2
fsdp_config:
  offload_params: false
  cpu_ram_efficient_loading: true
  auto_wrap_policy: TRANSFORMER_BASED_WRAP
  transformer_layer_cls_to_wrap: {layer}
  state_dict_type: FULL_STATE_DICT
  reshard_after_forward: true
"""
DEEPSPEED_LINES = re.compile(
    r"# Relative to the repository root; installed package: pass --deepspeed with the path "
    r"that\n# `python -m karma_plugin\.axolotl_configs` prints \(docs/training\.md\)\.\n"
    r"deepspeed: axolotl_configs/deepspeed/\S+\.json\n"
)
FSDP2_PATHS = [p for p in CONFIG_PATHS if p.stem.endswith("-fsdp2")]


def fsdp2_variant(base: str, layer: str) -> str:
    """The text a *-fsdp2.yml must have, given its base config's text."""
    header = re.match(r"(#[^\n]*\n)+", base)
    assert header, "a base config starts with its header comment"
    with_note = base[: header.end()] + FSDP2_NOTE + base[header.end() :]
    assert len(DEEPSPEED_LINES.findall(with_note)) == 1, "one DeepSpeed block per base config"
    return DEEPSPEED_LINES.sub(lambda _: FSDP2_BLOCK.format(layer=layer), with_note)


def test_every_base_config_has_its_fsdp2_variant():
    assert len(FSDP2_PATHS) == 2 * len(MODEL_DIRS) == 8
    assert sorted(p.with_name(p.name.replace("-fsdp2", "")) for p in FSDP2_PATHS) == sorted(
        p for p in CONFIG_PATHS if p not in FSDP2_PATHS
    )


@pytest.mark.parametrize(
    "path", FSDP2_PATHS, ids=[f"{p.parent.name}/{p.name}" for p in FSDP2_PATHS]
)
def test_fsdp2_config_is_its_base_plus_the_one_fsdp2_block(path):
    layer = "LlamaDecoderLayer" if "llama" in path.parent.name else "Qwen2DecoderLayer"
    base = path.with_name(path.name.replace("-fsdp2", "")).read_text(encoding="utf-8")
    assert path.read_text(encoding="utf-8") == fsdp2_variant(base, layer)
    # The same, as Axolotl reads it: the base's keys, no deepspeed, the FSDP2 keys.
    expected = {k: v for k, v in yaml.safe_load(base).items() if k != "deepspeed"}
    expected.update(yaml.safe_load(FSDP2_BLOCK.format(layer=layer)))
    assert load_config(path) == expected


@pytest.mark.parametrize("path", CONFIG_PATHS, ids=IDS)
def test_parallelism_files(path):
    raw = load_config(path)
    if path.stem.endswith("fsdp2"):
        assert "deepspeed" not in raw
        assert raw["fsdp_version"] == 2
        layer = "LlamaDecoderLayer" if "llama" in path.parent.name else "Qwen2DecoderLayer"
        assert raw["fsdp_config"]["transformer_layer_cls_to_wrap"] == layer
    else:
        ds = CONFIG_ROOT.parent / raw["deepspeed"]
        assert ds.is_file(), ds
        stage = json.loads(ds.read_text())["zero_optimization"]["stage"]
        assert stage == (3 if any(s in path.parent.name for s in ("8b", "7b")) else 2)


def test_llama_3b_config_says_the_paper_model_does_not_exist():
    text = (CONFIG_ROOT / "llama-3.2-3b-instruct" / "dpo.yml").read_text()
    assert "meta-llama/Llama-3.2-3B-Instruct" in text
    assert "No Llama-3.1 3B model exists" in text


def test_plugin_schema_rejects_an_unknown_strategy():
    raw = load_config(CONFIG_ROOT / "qwen2.5-3b-instruct" / "sft.yml")
    raw["karma_dataset_config"] = "k_best"
    with pytest.raises(KarmaConfigError, match="k_score, k_sim, k_score_sim, rlaif"):
        _validated(raw)


def test_strategy_is_one_env_var(monkeypatch):
    raw = load_config(CONFIG_ROOT / "qwen2.5-3b-instruct" / "dpo.yml")
    monkeypatch.setenv("KARMA_DATASET_CONFIG", "rlaif")
    cfg = _validated(raw)
    assert cfg.karma_dataset_config == "rlaif"
    assert cfg.datasets[0]["data_files"] == ["rlaif/train_prefs-*.parquet"]


def test_resolve_local_folder_gives_one_entry_per_shard(tmp_path):
    for name in ("train_prefs-00000-of-00002.parquet", "train_prefs-00001-of-00002.parquet"):
        (tmp_path / "k_score").mkdir(exist_ok=True)
        (tmp_path / "k_score" / name).write_bytes(b"")
    (tmp_path / "k_sim").mkdir()
    (tmp_path / "k_sim" / "train_prefs-00000-of-00001.parquet").write_bytes(b"")
    entries = resolve_dataset_entries([{"path": str(tmp_path), "split": "train_prefs"}], "k_score")
    assert [e["path"].rsplit("/", 2)[-2:] for e in entries] == [
        ["k_score", "train_prefs-00000-of-00002.parquet"],
        ["k_score", "train_prefs-00001-of-00002.parquet"],
    ]
    assert all(e["split"] == "train" for e in entries)
    with pytest.raises(KarmaConfigError, match="rlaif/train_prefs"):
        resolve_dataset_entries([{"path": str(tmp_path), "split": "train_prefs"}], "rlaif")


def test_resolve_keeps_entries_that_name_their_files():
    entry = {"path": "org/other", "data_files": ["x.parquet"], "split": "train"}
    hub = {"path": "org/karma", "split": "train_sft", "name": "k_sim", "type": "chat_template"}
    out = resolve_dataset_entries([entry, hub], "k_score")
    assert out[0] == entry
    assert out[1] == {
        "path": "org/karma",
        "split": "train",
        "type": "chat_template",
        "data_files": ["k_score/train_sft-*.parquet"],
    }


def test_resolved_local_folder_loads_the_chosen_config(sample_folder):
    from axolotl.utils.data.shared import load_dataset_with_config

    folder = sample_folder  # binarize --strategy all on the sample pool (read-only)
    raw = load_config(CONFIG_ROOT / "llama-3.1-8b-instruct" / "dpo.yml")
    raw["datasets"][0]["path"] = str(folder)
    for strategy in ("k_score", "rlaif"):
        raw["karma_dataset_config"] = strategy
        cfg = _validated(raw)
        (entry,) = cfg.datasets
        loaded = load_dataset_with_config(DictDefault(dict(entry)), False)
        # pyarrow, not datasets: datasets caches a local folder by its name, not its content.
        import pyarrow.parquet as pq

        (shard,) = (folder / strategy).glob("train_prefs-*.parquet")
        expected = pq.read_table(shard).to_pydict()
        assert loaded["prompt_id"] == expected["prompt_id"]
        assert loaded["chosen_model"] == expected["chosen_model"]


def test_post_train_eval_runs_on_the_main_process_only(monkeypatch, tmp_path):
    import karma_plugin.integrations.axolotl as plugin_mod

    calls: list = []
    monkeypatch.setattr(plugin_mod, "run_karma_eval", lambda req: calls.append(("inproc", req)))
    monkeypatch.setattr(
        plugin_mod.subprocess,
        "run",
        lambda argv, check, env: calls.append(("subproc", argv, env)),
    )
    cfg = DictDefault(
        {
            "output_dir": str(tmp_path),
            "bf16": True,
            "karma_eval_limit": 5.0,
            "karma_eval_tasks": ["karma"],
        }
    )
    plugin = KarmaEvalPlugin()

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    plugin.post_train_unload(cfg)
    assert calls == []

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    plugin.post_train_unload(cfg)
    (kind, argv, env) = calls.pop()
    assert kind == "subproc" and argv[1:3] == ["-m", "karma_plugin.lmeval.posttrain"]
    assert not {"RANK", "LOCAL_RANK", "WORLD_SIZE"} & set(env)  # lm-eval runs as one process
    request = json.loads(argv[-1])
    assert request["model"] == str(tmp_path) and request["limit"] == 5
    assert request["dtype"] == "bfloat16" and request["tasks"] == ["karma"]

    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    plugin.post_train_unload(cfg)
    assert calls.pop()[0] == "inproc"

    plugin.post_train_unload(DictDefault({**cfg, "karma_eval_post_train": False}))
    assert calls == []
