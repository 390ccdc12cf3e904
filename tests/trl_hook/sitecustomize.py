"""Imported at start-up by every Python process of a test's TRL run (tests/test_trl_cli.py puts
this folder on PYTHONPATH); does nothing unless KARMA_TRL_DUMP names a folder.

Then, when `transformers.trainer` is imported, `Trainer.train` is wrapped so that the main
process writes into that folder what the CLI's trainer prepared and fed the model: the processed
train and eval datasets (`train.parquet`, `eval.parquet`: TRL's own tokenization, as the CLI ran
it), the first training batch the model received (`batch.json`), the run (`run.json`) and, after
training, the log history (`log_history.json`). The tests inspect these files instead of
tokenizing anything themselves.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys
from pathlib import Path

DUMP = os.environ.get("KARMA_TRL_DUMP")
MODULE = "transformers.trainer"


def _tensors(batch: dict) -> dict:
    return {k: v.tolist() for k, v in batch.items() if hasattr(v, "tolist")}


def _wrap(trainer_class: type) -> None:
    train = trainer_class.train

    def dumping_train(self, *args, **kwargs):
        out = Path(DUMP)
        main = self.accelerator.is_main_process
        if main:
            out.mkdir(parents=True, exist_ok=True)
            self.train_dataset.to_parquet(str(out / "train.parquet"))
            if self.eval_dataset is not None:
                self.eval_dataset.to_parquet(str(out / "eval.parquet"))
            run = {"trainer": type(self).__name__, "world_size": self.accelerator.num_processes}
            (out / "run.json").write_text(json.dumps(run))
            compute_loss = self.compute_loss

            def first_batch(model, inputs, *a, **k):
                path = out / "batch.json"
                if model.training and not path.exists():
                    path.write_text(json.dumps(_tensors(inputs)))
                return compute_loss(model, inputs, *a, **k)

            self.compute_loss = first_batch
        result = train(self, *args, **kwargs)
        if main:
            (out / "log_history.json").write_text(json.dumps(self.state.log_history))
        return result

    trainer_class.train = dumping_train


class _WrapTrainerOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            _wrap(module.Trainer)

        spec.loader.exec_module = exec_module
        return spec


if DUMP:
    sys.meta_path.insert(0, _WrapTrainerOnImport())
