"""Tiny models whose greedy answer is a fixed sentence, for end-to-end runs through real backends.

A random tiny model (tests/tiny_models.py) answers every multiple-choice item "[invalid]", so its
benchmark scores are all equal and kinship has nothing to compare. These models are the same
tiny Llama/Qwen look-alikes with their weights set by hand: every transformer block adds nothing
(attention and MLP output projections zeroed), so the last hidden state is the embedding of the
current token, and the embeddings and output head form a chain: any token that is not in the
sentence leads to the sentence's first token, each sentence token to the next, the last one to
the end-of-turn token. Greedy decoding through `transformers.generate` (so lm-eval's `hf`
backend, and Axolotl/TRL on the saved folder) then writes exactly SENTENCE after any prompt that
ends outside the sentence, e.g. after a chat template's generation prompt.
"""

from __future__ import annotations

import json
from pathlib import Path

from tiny_models import FAMILIES, build_tiny_model

MARGIN = 50.0  # logit of the next chain token; every other logit is 0


def build_scripted_model(family: str, out: Path, sentence: str, seed: int = 0) -> Path:
    """A tiny ``family`` model at ``out`` that greedily answers ``sentence`` then ends its turn."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    fam = FAMILIES[family]
    build_tiny_model(fam, out, seed=seed)
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    chain = tokenizer.encode(sentence, add_special_tokens=False)
    hidden = model.config.hidden_size
    if len(set(chain)) != len(chain) or len(chain) + 1 > hidden:
        raise ValueError(f"{sentence!r} needs distinct tokens, at most {hidden - 1} of them")
    eos = tokenizer.convert_tokens_to_ids(fam.eos)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.norm.weight.fill_(1.0)
        embed = model.model.embed_tokens.weight
        head = model.lm_head.weight
        embed.zero_()
        embed[:, 0] = 1.0  # state 0: "not in the sentence yet"
        head.zero_()
        head[chain[0], 0] = MARGIN
        for position, token in enumerate(chain, start=1):
            embed[token] = 0.0
            embed[token, position] = 1.0
            head[chain[position] if position < len(chain) else eos, position] = MARGIN
    model.save_pretrained(out)
    (out / "tiny_model.json").write_text(
        json.dumps({"family": fam.name, "template": fam.template, "sentence": sentence}),
        encoding="utf-8",
    )
    return out
