"""`karma-build push` / `pull` against the offline Hub emulation (real clients, real HTTP).

The CLI runs in a subprocess so that HF_ENDPOINT, which huggingface_hub and datasets read at
import time, points at the emulator. Assertions are on what the server stored.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from hub_emulator import COMMIT, HubEmulator
from hub_retries import quick_retries

from karma_plugin.core.pairing import STRATEGIES
from karma_plugin.fs.staging import MARKER
from karma_plugin.outputs.card import SPLITS

# Run on the newest releases too (scripts/test.sh): the Hub and datasets clients of both.
pytestmark = pytest.mark.deps

TOKEN = "hf_TestSecret_9f8e7d6c5b4a"
REPO = "karma-org/karma-prefs"


def karma_build(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    code = "import sys; from karma_plugin.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def folder(sample_folder: Path) -> Path:
    """A Hub-ready folder from `karma-build binarize` on the shipped sample pool (the session's:
    read-only)."""
    return sample_folder


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder from `binarize --report` (one config): the kinship report in figures/."""
    out = tmp_path_factory.mktemp("reported") / "out"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    result = karma_build(
        "binarize", "--strategy", "k_sim", "--report", "--out", str(out), env=env, cwd=out.parent
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def hub():
    with HubEmulator(TOKEN) as emulator:
        yield emulator


@pytest.fixture
def env(hub: HubEmulator, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "hf_home"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    return {
        **base,
        "HF_ENDPOINT": hub.endpoint,
        "HF_HUB_DISABLE_XET": "1",
        "HF_TOKEN": TOKEN,
        "HF_HOME": str(home),
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        **quick_retries(),  # ours and huggingface_hub's retries wait 0.01 s
        "NO_PROXY": "127.0.0.1,localhost",
    }


def push(folder: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return karma_build("push", str(folder), "--repo-id", REPO, *extra, env=env, cwd=folder.parent)


def card_meta(text: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "the card has no YAML header"
    return yaml.safe_load(match.group(1))


def local_files(folder: Path) -> set[str]:
    """What a push must store: every file but the marker, which stays local."""
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert MARKER in files
    return files - {MARKER}


def test_push_stores_the_folder_in_one_commit(folder: Path, hub: HubEmulator, env) -> None:
    result = push(folder, env)
    assert result.returncode == 0, result.stderr
    assert "Committed 18 files" in result.stdout

    repo = hub.repo(REPO)
    assert not repo.private
    # One commit on top of the repo's initial one, holding every file of the folder.
    head = repo.commits[repo.refs["main"]]
    assert repo.commits[head.parent].parent is None
    stored = repo.files()
    assert set(stored) == local_files(folder) | {".gitattributes"}
    assert stored["kinship.json"] == (folder / "kinship.json").read_bytes()
    parquet = [p for p in stored if p.endswith(".parquet")]
    assert len(parquet) == len(STRATEGIES) * len(SPLITS)
    assert set(parquet) <= head.lfs  # binary data went through LFS, as on the Hub
    for path in parquet:
        assert stored[path] == (folder / path).read_bytes()
        assert pq.read_table(io.BytesIO(stored[path])).equals(pq.read_table(folder / path))

    # The card parses back with huggingface_hub, with the same configs and the repo id filled in.
    from huggingface_hub import DatasetCard

    card_text = stored["README.md"].decode()
    card = DatasetCard(card_text)
    configs = {c["config_name"]: c for c in card.data.configs}
    assert list(configs) == list(STRATEGIES)
    for name, config in configs.items():
        assert [f["split"] for f in config["data_files"]] == list(SPLITS)
        assert all(f["path"] == f"{name}/{f['split']}-*" for f in config["data_files"])
    assert (
        card_meta(card_text)["configs"] == card_meta((folder / "README.md").read_text())["configs"]
    )
    assert f'load_dataset("{REPO}", "k_sim")' in card_text
    assert "ORG/NAME" in (folder / "README.md").read_text()


def test_round_trip_with_load_dataset(folder: Path, hub: HubEmulator, env, tmp_path) -> None:
    assert push(folder, env).returncode == 0
    out = tmp_path / "pulled"
    result = karma_build("pull", REPO, "--out", str(out), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Round trip OK" in result.stdout
    assert (out / MARKER).is_file()  # a folder karma-build wrote: --overwrite may replace it
    for config in STRATEGIES:
        for split in SPLITS:
            [original] = (folder / config).glob(f"{split}-*.parquet")
            [pulled] = (out / config).glob(f"{split}-*.parquet")
            assert pq.read_table(pulled).to_pylist() == pq.read_table(original).to_pylist()

    # And straight through datasets in a fresh process, as a user would load it: by config
    # name, and without one (the card marks k_sim the default).
    code = (
        "import datasets, json, sys\n"
        "datasets.config.USE_PARQUET_EXPORT = False\n"
        f"named = datasets.load_dataset({REPO!r}, 'k_sim', split='train_prefs')\n"
        f"unnamed = datasets.load_dataset({REPO!r}, split='train_prefs')\n"
        "json.dump([named.to_list(), unnamed.to_list()], sys.stdout)\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert loaded.returncode == 0, loaded.stderr
    import json

    [original] = (folder / "k_sim").glob("train_prefs-*.parquet")
    named, unnamed = json.loads(loaded.stdout)
    assert named == unnamed == pq.read_table(original).to_pylist()


def test_dry_run_commits_nothing(folder: Path, hub: HubEmulator, env) -> None:
    result = push(folder, env, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"create dataset repo {REPO}" in result.stdout
    assert "+ k_sim/train_prefs-00000-of-00001.parquet" in result.stdout
    assert "nothing was committed" in result.stdout
    assert REPO not in hub.state.repos
    assert hub.state.count("POST", COMMIT) == 0


def test_existing_data_needs_overwrite_and_stale_files_go(
    folder: Path, hub: HubEmulator, env, tmp_path
) -> None:
    # A repo pushed before, with a shard layout the new data no longer has.
    repo = hub.state.create_repo(REPO)
    old = dict(repo.files())
    old["k_sim/train_prefs-00000-of-00002.parquet"] = b"old shard"
    old["k_sim/train_prefs-00001-of-00002.parquet"] = b"old shard"
    old["README.md"] = b"old card"
    old["notes.txt"] = b"kept: not under a config folder"
    oid = hub.state.new_oid("old")
    from hub_emulator import Commit

    repo.commits[oid] = Commit(oid, repo.refs["main"], "old push", old, set())
    repo.refs["main"] = oid

    refused = push(folder, env)
    assert refused.returncode == 2
    assert "already holds 4 files" in refused.stderr
    assert "k_sim/ (2 files)" in refused.stderr and "--overwrite" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert repo.refs["main"] == oid and hub.state.count("POST", COMMIT) == 0

    dry = push(folder, env, "--dry-run")
    assert "- k_sim/train_prefs-00001-of-00002.parquet" in dry.stdout
    assert repo.refs["main"] == oid

    done = push(folder, env, "--overwrite")
    assert done.returncode == 0, done.stderr
    assert "deleted 2 stale files" in done.stdout
    stored = repo.files()
    assert set(stored) == local_files(folder) | {".gitattributes", "notes.txt"}
    assert repo.commits[repo.refs["main"]].parent == oid  # one commit replaced it all


def test_report_figures_are_pushed_pulled_and_replaced(
    reported: Path, folder: Path, hub: HubEmulator, env, tmp_path: Path
) -> None:
    figures = sorted(p.relative_to(reported).as_posix() for p in (reported / "figures").iterdir())
    assert {"figures/report.md", "figures/s_pref.png", "figures/pca.png"} <= set(figures)
    dry = push(reported, env, "--dry-run")
    assert all(f"+ {path} (" in dry.stdout for path in figures), dry.stdout

    result = push(reported, env)
    assert result.returncode == 0, result.stderr
    repo = hub.repo(REPO)
    stored = repo.files()
    assert set(stored) == local_files(reported) | {".gitattributes"}
    for path in figures:
        assert stored[path] == (reported / path).read_bytes()
    pngs = {p for p in figures if p.endswith(".png")}
    assert pngs <= repo.commits[repo.refs["main"]].lfs  # images through LFS, as on the Hub
    # The card on the Hub embeds them by their paths in the repo, which the Hub resolves.
    card = stored["README.md"].decode()
    for path in ("figures/s_pref.png", "figures/kinship_heatmap.png", "figures/pca.png"):
        assert f"]({path})" in card and path in stored

    # pull accepts the repo, and its folder keeps the report the card links to.
    out = tmp_path / "pulled"
    pulled = karma_build("pull", REPO, "--out", str(out), env=env, cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    assert "Round trip OK" in pulled.stdout
    for path in figures:
        assert (out / path).read_bytes() == (reported / path).read_bytes()
    assert (out / "README.md").read_bytes() == stored["README.md"]
    again = push(out, env, "--overwrite")
    assert again.returncode == 0 and "Nothing to commit" in again.stdout, again.stdout

    # New data without a report: the old figures go with the commit that replaces the data.
    replaced = push(folder, env, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert f"deleted {len(figures)} stale files" in replaced.stdout
    assert set(repo.files()) == local_files(folder) | {".gitattributes"}


def test_revision_branch_and_pull_request(
    folder: Path, hub: HubEmulator, env, tmp_path: Path
) -> None:
    assert push(folder, env, "--revision", "v1").returncode == 0
    repo = hub.repo(REPO)
    assert "README.md" not in repo.files("main")
    assert "k_sim/test_prefs-00000-of-00001.parquet" in repo.files("v1")

    changed = tmp_path / "with-notes"
    shutil.copytree(folder, changed)  # the session's folder stays as binarize wrote it
    (changed / "notes.md").write_text("a new file for the PR\n")
    pr = push(changed, env, "--revision", "v1", "--create-pr")
    assert pr.returncode == 0, pr.stderr
    assert "Pull request: " in pr.stdout
    assert repo.files("refs/pr/1")["notes.md"] == b"a new file for the PR\n"
    assert "notes.md" not in repo.files("v1")  # the branch itself is untouched until merged


def test_private_repo(folder: Path, hub: HubEmulator, env) -> None:
    result = push(folder, env, "--private")
    assert result.returncode == 0, result.stderr
    assert hub.repo(REPO).private


def test_commit_failing_once_is_retried(folder: Path, hub: HubEmulator, env) -> None:
    hub.state.inject(COMMIT, 503, times=1)
    result = push(folder, env)
    assert result.returncode == 0, result.stderr
    assert hub.state.count("POST", COMMIT) == 2
    assert "README.md" in hub.repo(REPO).files()


def test_commit_failing_for_good_leaves_the_repo_unchanged(
    folder: Path, hub: HubEmulator, env
) -> None:
    hub.state.inject(COMMIT, 502)
    result = push(folder, env, "--retries", "2")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("karma-build: error: the commit failed after 3 tries: HTTP 502")
    assert "Traceback" not in result.stderr
    assert hub.state.count("POST", COMMIT) == 3
    repo = hub.repo(REPO)  # created, but holding only what every new repo holds
    assert set(repo.files()) == {".gitattributes"}
    assert len(repo.commits) == 1


def test_refused_token_is_a_clear_message(folder: Path, hub: HubEmulator, env) -> None:
    hub.state.reject_token = True
    result = push(folder, env)
    assert result.returncode == 1
    assert "the Hub refused the token (HTTP 401" in result.stderr
    assert "HF_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert hub.state.repos == {}


def test_missing_token(folder: Path, env, tmp_path) -> None:
    env = {k: v for k, v in env.items() if k != "HF_TOKEN"}
    result = push(folder, env)
    assert result.returncode == 2
    assert "no Hugging Face token" in result.stderr


def test_token_never_appears_in_output_or_files(
    folder: Path, hub: HubEmulator, env, tmp_path
) -> None:
    outputs = [push(folder, env, "--dry-run"), push(folder, env)]
    assert [r.returncode for r in outputs] == [0, 0]
    outputs.append(karma_build("pull", REPO, "--out", str(tmp_path / "p"), env=env, cwd=tmp_path))
    hub.state.reject_token = True
    outputs.append(push(folder, env, "--overwrite"))
    outputs.append(
        karma_build("--verbose", "push", str(folder), "--repo-id", REPO, env=env, cwd=tmp_path)
    )
    assert [r.returncode for r in outputs] == [0, 0, 0, 1, 1]
    for result in outputs:
        assert TOKEN not in result.stdout + result.stderr
    secret = TOKEN.encode()
    for root in (tmp_path, folder):
        for path in root.rglob("*"):
            if path.is_file():
                assert secret not in path.read_bytes(), path
    for data in hub.repo(REPO).files().values():
        assert secret not in data


def test_not_a_hub_folder(tmp_path: Path, env) -> None:
    (tmp_path / "empty").mkdir()
    result = karma_build("push", str(tmp_path / "empty"), "--repo-id", REPO, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "not a Hub-ready folder: README.md is missing" in result.stderr
    bad = karma_build("push", str(tmp_path), "--repo-id", "no-slash", env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "bad repo id" in bad.stderr


def test_pull_unknown_config(folder: Path, hub: HubEmulator, env, tmp_path) -> None:
    assert push(folder, env).returncode == 0
    result = karma_build("pull", REPO, "--config", "nope", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "has no config nope" in result.stderr


def test_pull_catches_rows_that_differ(folder: Path, hub: HubEmulator, env, tmp_path) -> None:
    assert push(folder, env).returncode == 0
    repo = hub.repo(REPO)
    files = repo.commits[repo.refs["main"]].files
    # kinship.json claims more rows than the repo serves: the check must say so.
    import json

    doc = json.loads(files["kinship.json"])
    doc["splits"]["k_sim"]["train_prefs"] += 1
    files["kinship.json"] = json.dumps(doc).encode()
    out = tmp_path / "pulled"
    result = karma_build(
        "pull", REPO, "--config", "k_sim", "--out", str(out), env=env, cwd=tmp_path
    )
    assert result.returncode == 1
    assert "kinship.json says" in result.stdout  # the problems are listed...
    [line] = result.stderr.strip().splitlines()  # ...and the failure is one line
    assert "did not load back as it was pushed (1 problem listed above)" in line
    assert "was not written" in line and not out.exists()


@pytest.mark.hub
@pytest.mark.skipif(
    not os.environ.get("KARMA_TEST_HUB_TOKEN"),
    reason="KARMA_TEST_HUB_TOKEN is not set: no push to the real Hugging Face Hub",
)
def test_push_to_the_real_hub(folder: Path, tmp_path: Path) -> None:
    repo_id = os.environ.get("KARMA_TEST_HUB_REPO", "")
    assert repo_id, "set KARMA_TEST_HUB_REPO=ORG/NAME (a scratch dataset repo) with the token"
    base = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env = {**base, "HF_TOKEN": os.environ["KARMA_TEST_HUB_TOKEN"], "HF_HOME": str(tmp_path)}
    result = karma_build(
        "push",
        str(folder),
        "--repo-id",
        repo_id,
        "--private",
        "--overwrite",
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    pulled = karma_build("pull", repo_id, "--config", "k_sim", env=env, cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    assert "Round trip OK" in pulled.stdout


def test_binarize_push_to(hub: HubEmulator, env, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = karma_build(
        "binarize",
        "--strategy",
        "k_sim",
        "--out",
        str(out),
        "--push-to",
        REPO,
        "--private",
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Committed" in result.stdout
    repo = hub.repo(REPO)
    assert repo.private
    assert set(repo.files()) == local_files(out) | {".gitattributes"}
    assert [c["config_name"] for c in card_meta(repo.files()["README.md"].decode())["configs"]] == [
        "k_sim"
    ]


def test_empty_test_splits_push_and_pull(hub: HubEmulator, env, tmp_path: Path) -> None:
    """--test-size 0: the test splits hold no rows, which `datasets` cannot load; the card
    leaves them out, so every config loads and the round trip holds."""
    out = tmp_path / "out"
    args = ["binarize", "--strategy", "k_sim,rlaif", "--test-size", "0", "--out", str(out)]
    result = karma_build(*args, "--push-to", REPO, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (out / "k_sim" / "test_prefs-00000-of-00001.parquet").is_file()  # written, empty
    for configs, name in (((), "all"), (("--config", "k_sim"), "one")):
        pulled = tmp_path / name
        result = karma_build("pull", REPO, *configs, "--out", str(pulled), env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Round trip OK" in result.stdout
        meta = card_meta((pulled / "README.md").read_text())
        for config in meta["configs"]:
            assert [f["split"] for f in config["data_files"]] == ["train_prefs", "train_sft"]
    assert [c["config_name"] for c in meta["configs"]] == ["k_sim"]


def test_binarize_push_to_bad_repo_id_fails_before_the_work(env, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = karma_build("binarize", "--out", str(out), "--push-to", "bad", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "bad repo id" in result.stderr
    assert not out.exists()


def test_offline_mode_is_named_not_retried(folder: Path, hub: HubEmulator, env) -> None:
    result = push(folder, {**env, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set" in result.stderr
    assert "tries" not in result.stderr
    assert hub.state.repos == {}
