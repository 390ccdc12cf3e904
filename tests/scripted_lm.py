"""A scripted lm-eval model (`--model karma-scripted`) with canned answers, for offline tests.

`answers=PATH` names a JSON object {substring: response}: a request whose prompt contains the
substring gets that response (first match in file order); any other prompt gets DEFAULT.
Every prompt it was sent is appended to `log=PATH` (JSON lines) when given, so tests can check
what the model saw. It has chat-template hooks, so `--apply_chat_template` works.
"""

from __future__ import annotations

import json
from pathlib import Path

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

DEFAULT = "I am not sure."


@register_model("karma-scripted")
class ScriptedLM(LM):
    def __init__(self, answers: str, log: str | None = None, **kwargs) -> None:
        super().__init__()
        self.answers: dict[str, str] = json.loads(Path(answers).read_text(encoding="utf-8"))
        self.log = Path(log) if log else None

    def _answer(self, prompt: str) -> str:
        return next((r for key, r in self.answers.items() if key in prompt), DEFAULT)

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        out = []
        for request in requests:
            prompt, gen_kwargs = request.args[0], request.args[1]
            if self.log:
                with self.log.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps({"prompt": prompt, "gen_kwargs": gen_kwargs}) + "\n")
            out.append(self._answer(prompt))
        return out

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("karma tasks are generative")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("karma tasks are generative")

    # Chat-template hooks lm-eval calls under --apply_chat_template.
    @property
    def tokenizer_name(self) -> str:
        return "karma-scripted"

    def chat_template(self, chat_template=False) -> str:
        return "<|user|>{content}<|assistant|>"

    def apply_chat_template(self, chat_history, add_generation_prompt: bool = True, **kw) -> str:
        turns = "".join(f"<|{m['role']}|>{m['content']}" for m in chat_history)
        return turns + ("<|assistant|>" if add_generation_prompt else "")
