"""Tiny offline look-alikes of Llama-3.1-Instruct and Qwen2.5-Instruct for tests.

Each builder writes a folder that `AutoTokenizer` / `AutoModelForCausalLM.from_pretrained`
(and so Axolotl, TRL and lm-eval's `hf` model) can load with no network: random weights from a
transformers config, a byte-level BPE tokenizer trained on the spot with `tokenizers`, and the
REAL chat template that TRL ships for the family. The special tokens, BOS behaviour and end-of-turn
tokens copy the real models, because the traps we test (a doubled BOS, trimmed content, labels on
the assistant turn only) live exactly there.

Building takes about a second; `tiny_model_dir` caches one folder per family per test process,
and the `tiny_llama31` / `tiny_qwen25` fixtures do the same per pytest session:

    from tiny_models import tiny_llama31  # noqa: F401  (pytest fixture)

    def test_x(tiny_llama31): ...
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pytest

# Llama-3.x reserves these ids after its 128000 text tokens; we keep the names and the order
# (BOS first) but put them right after our small vocabulary.
LLAMA31_SPECIAL = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|finetune_right_pad_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
]
QWEN25_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_CORPUS = [
    "The capital of France is Paris. The capital of Italy is Rome.",
    "Answer the question with the letter of the correct option: A, B, C or D.",
    "Question: Which gas do plants absorb? Choices: oxygen, carbon dioxide, helium, neon.",
    "Write a short poem about the sea. Use exactly three sentences and no commas.",
    "You are a helpful assistant. Cutting Knowledge Date: December 2023 Today Date: 26 Jul 2024",
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    "system user assistant tool ipython Environment: the end of the answer is near.",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 first second third true false yes no",
    "A man is sitting on a roof. He starts pulling up roofing on a roof.",
]


@dataclass(frozen=True)
class Family:
    name: str
    special: list[str]
    template: str  # file name under trl/chat_templates
    bos: str | None
    eos: str  # the end-of-turn token, as in the Instruct checkpoints
    pad: str | None
    architecture: str  # "llama" or "qwen2"


LLAMA31 = Family(
    name="llama31",
    special=LLAMA31_SPECIAL,
    template="llama3_1.jinja",
    bos="<|begin_of_text|>",
    eos="<|eot_id|>",
    pad=None,  # Llama-3.1-Instruct ships without a pad token; our configs set one
    architecture="llama",
)
QWEN25 = Family(
    name="qwen25",
    special=QWEN25_SPECIAL,
    template="qwen2_5.jinja",
    bos=None,  # Qwen2.5 adds no BOS
    eos="<|im_end|>",
    pad="<|endoftext|>",
    architecture="qwen2",
)
FAMILIES = {f.name: f for f in (LLAMA31, QWEN25)}


def _chat_template(family: Family) -> str:
    return (files("trl") / "chat_templates" / family.template).read_text(encoding="utf-8")


def _train_tokenizer(family: Family, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=family.special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: no unknown tokens
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    if family.bos is not None:
        # Like Llama-3's tokenizer.json: BOS is added by the post-processor, so a rendered chat
        # string that already holds <|begin_of_text|> gets a second one unless
        # add_special_tokens=False.
        bos_id = tok.token_to_id(family.bos)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{family.bos} $A",
            pair=f"{family.bos} $A {family.bos} $B",
            special_tokens=[(family.bos, bos_id)],
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=family.bos,
        eos_token=family.eos,
        pad_token=family.pad,
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = _chat_template(family)
    return fast


def _model_config(family: Family, tokenizer):
    from transformers import LlamaConfig, Qwen2Config

    common = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "eos_token_id": tokenizer.convert_tokens_to_ids(family.eos),
        "tie_word_embeddings": False,
    }
    if family.architecture == "llama":
        return LlamaConfig(
            **common,
            bos_token_id=tokenizer.convert_tokens_to_ids(family.bos),
            rope_theta=500000.0,
        )
    return Qwen2Config(
        **common,
        bos_token_id=None,
        pad_token_id=tokenizer.convert_tokens_to_ids(family.pad),
    )


def build_tiny_model(family: str | Family, out: Path, vocab_size: int = 600, seed: int = 0) -> Path:
    """Write a tiny model of `family` ("llama31" or "qwen25") to `out` and return `out`."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    fam = FAMILIES[family] if isinstance(family, str) else family
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(fam, vocab_size)
    config = _model_config(fam, tokenizer)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.eos_token_id,
        do_sample=False,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "tiny_model.json").write_text(
        json.dumps({"family": fam.name, "template": fam.template}), encoding="utf-8"
    )
    return out


def build_tiny_llama31(out: Path) -> Path:
    """A 2-layer Llama-3.1-Instruct look-alike (BOS via post-processor, <|eot_id|> as EOS)."""
    return build_tiny_model(LLAMA31, out)


def build_tiny_qwen25(out: Path) -> Path:
    """A 2-layer Qwen2.5-Instruct look-alike (no BOS, <|im_end|> as EOS, <|endoftext|> pad)."""
    return build_tiny_model(QWEN25, out)


_CACHE: dict[str, Path] = {}


def tiny_model_dir(family: str, root: Path | None = None) -> Path:
    """The folder of a tiny model of `family`, built once per process (treat it as read-only)."""
    if family not in _CACHE:
        base = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="karma-tiny-"))
        _CACHE[family] = build_tiny_model(family, base / f"tiny-{family}")
    return _CACHE[family]


@pytest.fixture(scope="session")
def tiny_llama31(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Session-wide tiny Llama-3.1-style model folder (read-only: copy it before training)."""
    return tiny_model_dir("llama31", tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def tiny_qwen25(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Session-wide tiny Qwen2.5-style model folder (read-only: copy it before training)."""
    return tiny_model_dir("qwen25", tmp_path_factory.mktemp("tiny-models"))
