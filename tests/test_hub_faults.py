"""Hub faults through the real CLI, on whichever huggingface_hub is installed (1.x and 2.x).

Each test drives `karma-build` in a subprocess against the Hub emulation (or a closed port for
an unreachable Hub) and checks what a user sees: the exit code, one stderr line without a
traceback (progress bars and retry notes are not switched off in the environment: the tool
must keep them off stderr itself), how long an unreachable Hub takes, how many tries reached
the server, and that no local file was touched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from cli import assert_fails, karma_build, snapshot
from hub_emulator import (
    COMMIT,
    DROP,
    HANG,
    REPO_INFO,
    RESOLVE,
    Commit,
    HubEmulator,
    closed_port_endpoint,
    silent_endpoint,
)
from hub_retries import quick_retries

# Run on the newest releases too (scripts/test.sh): the Hub and datasets clients of both.
pytestmark = pytest.mark.deps

TOKEN = "hf_TestSecret_faults_0123"
REPO = "karma-org/karma-prefs"
POOL = "pools/uf-sample"
CONFIGS = ("k_score", "k_sim")
# An unreachable Hub must fail in seconds. Python and the clients take a few seconds to start
# on a loaded machine; five retries with the default backoff (2 s doubling) would take 60 s.
UNREACHABLE_S = 20.0


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hub-ready folder with two configs, from `karma-build binarize` on the sample pool
    (with error bars: kinship.json's per-config keys include uncertainty's)."""
    out = tmp_path_factory.mktemp("binarize") / "out"
    result = karma_build(
        "binarize", "--strategy", ",".join(CONFIGS), "--bootstrap", "20", "--out", out,
        cwd=out.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The authors' table without its model that has no scores (it is left out with a warning,
    which would stand in front of the errors these tests read)."""
    from karma_plugin.core.score_table import paper_csv_path

    lines = Path(paper_csv_path()).read_text(encoding="utf-8-sig").splitlines()
    path = tmp_path_factory.mktemp("scores") / "scores.csv"
    path.write_text("\n".join(line for line in lines if not line.endswith(",,,,,,")) + "\n")
    return path


@pytest.fixture
def hub():
    with HubEmulator(TOKEN) as emulator:
        yield emulator


@pytest.fixture
def env(hub: HubEmulator, tmp_path: Path) -> dict[str, str | None]:
    """Online (HF_HUB_OFFLINE unset) against the emulator, with a fresh cache; progress bars
    left as a user has them."""
    hf = [k for k in os.environ if k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))]
    return {
        **dict.fromkeys(hf),
        "HF_HUB_OFFLINE": None,
        "HF_ENDPOINT": hub.endpoint,
        "HF_HUB_DISABLE_XET": "1",
        "HF_TOKEN": TOKEN,
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
        **quick_retries(),  # ours and huggingface_hub's retries wait 0.01 s
        "NO_PROXY": "127.0.0.1,localhost",
    }


@pytest.fixture
def unreachable(env: dict[str, str | None]) -> dict[str, str | None]:
    """Nothing listens at the endpoint, and retries wait as long as they do for a user."""
    return {
        **env,
        "HF_ENDPOINT": closed_port_endpoint(),
        "KARMA_HUB_RETRY_WAIT": None,
        "PYTHONPATH": os.environ.get("PYTHONPATH"),  # huggingface_hub's own waits too
    }


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The user's working folder, with a file of theirs in it."""
    path = tmp_path / "work"
    path.mkdir()
    (path / "notes.txt").write_text("mine\n")
    return path


def run(
    *args: object, env: dict[str, str | None], cwd: Path, timeout: float = 600
) -> tuple[object, float]:
    start = time.monotonic()
    result = karma_build(*map(str, args), env=env, cwd=cwd, timeout=timeout)
    return result, time.monotonic() - start


def seed_repo(hub: HubEmulator, repo_id: str, files: dict[str, bytes]) -> None:
    """A repo holding ``files`` in one commit (parquet through LFS, as a push stores it)."""
    repo = hub.state.create_repo(repo_id)
    parent = repo.refs["main"]
    oid = hub.state.new_oid(repo_id)
    stored = {**repo.commits[parent].files, **files}
    lfs = {p for p in files if p.endswith(".parquet")}
    repo.commits[oid] = Commit(oid, parent, "seeded", stored, lfs)
    repo.refs["main"] = oid


def seed_pushed(hub: HubEmulator, folder: Path) -> None:
    """REPO as `karma-build push` leaves it: the folder's files, the card rendered for REPO."""
    from karma_plugin.outputs.hub_folder import card_for_repo

    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.*")}
    files["README.md"] = card_for_repo(folder, REPO)
    seed_repo(hub, REPO, files)


def seed_pool(hub: HubEmulator) -> None:
    from karma_plugin.pools import sample_pool_path

    seed_repo(hub, POOL, {"train.jsonl": Path(sample_pool_path()).read_bytes()})


def card_meta(text: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "the card has no YAML header"
    return yaml.safe_load(match.group(1))


def push(folder: Path, env, cwd: Path, *extra: str):
    return run("push", folder, "--repo-id", REPO, *extra, env=env, cwd=cwd)


# --- push ---------------------------------------------------------------------------------------
def test_push_5xx_then_success(folder: Path, hub: HubEmulator, env, work: Path) -> None:
    before = snapshot(folder, work)
    reads = hub.state.inject(REPO_INFO, 503, times=2)
    commits = hub.state.inject(COMMIT, 500, times=2)
    result, _ = push(folder, env, work)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar, no retry note
    assert (reads.hits, commits.hits) == (2, 2)
    assert hub.state.count("POST", COMMIT) == 3
    stored = hub.repo(REPO).files()
    assert stored["kinship.json"] == (folder / "kinship.json").read_bytes()
    assert snapshot(folder, work) == before


def test_push_always_5xx(folder: Path, hub: HubEmulator, env, work: Path) -> None:
    before = snapshot(folder, work)
    hub.state.inject(COMMIT, 503)
    result, _ = push(folder, env, work, "--retries", "3")
    assert_fails(result, 1, "the commit failed after 4 tries", "HTTP 503")
    assert hub.state.count("POST", COMMIT) == 4
    assert set(hub.repo(REPO).files()) == {".gitattributes"}  # nothing half-pushed
    assert snapshot(folder, work) == before


def test_push_dropped_connection_is_retried(
    folder: Path, hub: HubEmulator, env, work: Path
) -> None:
    read = hub.state.inject(REPO_INFO, DROP, times=1)
    commit = hub.state.inject(COMMIT, DROP, times=1)
    result, _ = push(folder, env, work)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (read.hits, commit.hits) == (1, 1)
    assert "README.md" in hub.repo(REPO).files()


def test_push_dropped_connection_for_good(folder: Path, hub: HubEmulator, env, work) -> None:
    hub.state.inject(REPO_INFO, DROP)
    result, _ = push(folder, env, work, "--retries", "2")
    assert_fails(result, 1, "reading the repo failed after 3 tries", "RemoteProtocolError")
    assert hub.state.count("GET", REPO_INFO) == 3
    assert hub.state.repos == {}


def test_push_unreachable_hub_fails_at_once(folder: Path, unreachable, work: Path) -> None:
    before = snapshot(folder, work)
    result, elapsed = push(folder, unreachable, work)
    message = assert_fails(result, 1, "cannot reach the Hub at http://127.0.0.1:", "refused")
    assert "tries" not in message  # not retried
    assert elapsed < UNREACHABLE_S, elapsed
    assert snapshot(folder, work) == before


def test_push_refused_token(folder: Path, hub: HubEmulator, env, work: Path) -> None:
    hub.state.reject_token = True
    result, _ = push(folder, env, work)
    assert_fails(result, 1, "the Hub refused the token (HTTP 401", "HF_TOKEN", "write access")
    assert hub.state.count("GET", REPO_INFO) == 1  # a refused token is not retried
    assert TOKEN not in result.stdout + result.stderr
    assert hub.state.repos == {}


# --- push --dry-run without the Hub -------------------------------------------------------------
@pytest.mark.parametrize("where", ["unreachable", "offline"])
def test_dry_run_lists_the_local_plan_without_the_hub(
    folder: Path, env, unreachable, work: Path, where: str
) -> None:
    before = snapshot(folder, work)
    run_env = unreachable if where == "unreachable" else {**env, "HF_HUB_OFFLINE": "1"}
    result, elapsed = push(folder, run_env, work, "--dry-run")
    reason = "cannot reach the Hub" if where == "unreachable" else "HF_HUB_OFFLINE"
    assert_fails(result, 1, f"dry run not compared with {REPO}", reason, "local files only")
    assert elapsed < UNREACHABLE_S, elapsed
    out = result.stdout
    assert f"Would commit to {REPO}@main" in out and "not compared with it" in out
    assert f"configs: {', '.join(CONFIGS)}" in out
    assert "card: README.md, rendered again with this repo id" in out
    for path in sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.*")):
        if not path.startswith("."):  # the tool's marker is never pushed
            assert f"+ {path} (" in out, path
    assert "Dry run: nothing was committed." in out
    assert "create dataset repo" not in out  # unknown without the Hub, so not claimed
    assert snapshot(folder, work) == before


# --- pull ---------------------------------------------------------------------------------------
def test_pull_5xx_then_success(folder: Path, hub: HubEmulator, env, work: Path) -> None:
    seed_pushed(hub, folder)
    info = hub.state.inject(REPO_INFO, 503, times=2)
    download = hub.state.inject(RESOLVE, 502, times=1, method="GET")
    result, _ = run("pull", REPO, "--config", "k_sim", env=env, cwd=work)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "Round trip OK" in result.stdout
    assert (info.hits, download.hits) == (2, 1)


def test_pull_always_5xx(folder: Path, hub: HubEmulator, env, work: Path) -> None:
    seed_pushed(hub, folder)
    before = snapshot(work)
    hub.state.inject(REPO_INFO, 500)
    result, _ = run("pull", REPO, "--out", work / "pulled", env=env, cwd=work)
    assert_fails(result, 1, f"reading {REPO} failed after 6 tries", "HTTP 500")
    assert hub.state.count("GET", REPO_INFO) == 6
    assert snapshot(work) == before


def test_pull_dropped_connection_is_retried(
    folder: Path, hub: HubEmulator, env, work: Path
) -> None:
    seed_pushed(hub, folder)
    dropped = hub.state.inject(RESOLVE, DROP, times=1)
    result, _ = run("pull", REPO, "--config", "k_score", env=env, cwd=work)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert dropped.hits == 1 and "Round trip OK" in result.stdout


def test_pull_dropped_connection_for_good(folder: Path, hub: HubEmulator, env, work) -> None:
    seed_pushed(hub, folder)
    hub.state.inject(REPO_INFO, DROP)
    result, _ = run("pull", REPO, env=env, cwd=work)
    assert_fails(result, 1, f"reading {REPO} failed after 6 tries", "RemoteProtocolError")
    assert hub.state.count("GET", REPO_INFO) == 6


def test_pull_unreachable_hub_fails_at_once(unreachable, work: Path) -> None:
    before = snapshot(work)
    result, elapsed = run("pull", REPO, "--out", work / "pulled", env=unreachable, cwd=work)
    message = assert_fails(result, 1, "cannot reach the Hub at http://127.0.0.1:", "refused")
    assert "tries" not in message
    assert elapsed < UNREACHABLE_S, elapsed
    assert snapshot(work) == before


def test_pull_refused_token(folder: Path, hub: HubEmulator, env, work: Path) -> None:
    seed_pushed(hub, folder)
    hub.state.reject_token = True
    result, _ = run("pull", REPO, env=env, cwd=work)
    assert_fails(result, 1, "the Hub refused the token (HTTP 401", "HF_TOKEN", "read access")
    assert hub.state.count("GET", REPO_INFO) == 1


def test_pull_missing_token(folder: Path, hub: HubEmulator, env, work: Path) -> None:
    seed_pushed(hub, folder)
    result, _ = run("pull", REPO, env={**env, "HF_TOKEN": None}, cwd=work)
    assert_fails(result, 1, "the Hub asks for a token (HTTP 401", "private, gated or missing")


def test_pull_missing_repo_is_input(hub: HubEmulator, env, work: Path) -> None:
    result, _ = run("pull", "karma-org/nothing-here", env=env, cwd=work)
    assert_fails(result, 2, "there is no dataset repo karma-org/nothing-here on the Hub")
    assert hub.state.count("GET", REPO_INFO) == 1


def test_pull_missing_revision_is_input(folder: Path, hub: HubEmulator, env, work) -> None:
    seed_pushed(hub, folder)
    result, _ = run("pull", REPO, "--revision", "v9", env=env, cwd=work)
    assert_fails(result, 2, f"{REPO} has no such revision")


def test_pull_one_config_writes_a_folder_of_that_config(
    folder: Path, hub: HubEmulator, env, work: Path
) -> None:
    seed_pushed(hub, folder)
    out = work / "pulled"
    result, _ = run("pull", REPO, "--config", "k_sim", "--out", out, env=env, cwd=work)
    assert result.returncode == 0, result.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        ".karma-build",  # the tool's marker: a folder it wrote
        "README.md",
        "k_sim/test_prefs-00000-of-00001.parquet",
        "k_sim/test_sft-00000-of-00001.parquet",
        "k_sim/train_prefs-00000-of-00001.parquet",
        "k_sim/train_sft-00000-of-00001.parquet",
        "kinship.json",
    ]
    for path in out.glob("k_sim/*.parquet"):  # the repo's own files, byte for byte
        assert path.read_bytes() == (folder / "k_sim" / path.name).read_bytes()
    doc = json.loads((out / "kinship.json").read_text())
    for key in ("files", "splits", "bytes", "counts", "agreement"):
        assert list(doc[key]) == ["k_sim"], key
    assert list(doc["uncertainty"]["stability"]) == list(doc["uncertainty"]["sure_pairs"])
    assert list(doc["uncertainty"]["stability"]) == ["k_sim"]
    card = (out / "README.md").read_text()
    assert [c["config_name"] for c in card_meta(card)["configs"]] == ["k_sim"]
    assert [i["config_name"] for i in card_meta(card)["dataset_info"]] == ["k_sim"]
    # Rendered again for the one config, body included: tables and loading snippets.
    assert "| `k_sim`" in card and "| `k_score`" not in card
    assert f'load_dataset("{REPO}", "k_sim")' in card
    assert f'load_dataset("{REPO}", "k_score")' not in card

    # The folder loads offline, as the README promises, and holds the pushed rows.
    code = (
        "import datasets, json, sys\n"
        "ds = datasets.load_dataset(sys.argv[1], 'k_sim', split='train_prefs')\n"
        "print(ds.num_rows)\n"
    )
    offline = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    offline.update(HF_HUB_OFFLINE="1", HF_HOME=str(work / "hf_home_offline"))
    loaded = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        env=offline,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    rows = pq.read_metadata(folder / "k_sim" / "train_prefs-00000-of-00001.parquet").num_rows
    assert int(loaded.stdout.strip().splitlines()[-1]) == rows


def test_pull_hand_edited_card_keeps_its_text_and_lists_one_config(
    folder: Path, hub: HubEmulator, env, work: Path
) -> None:
    seed_pushed(hub, folder)
    files = hub.repo(REPO).commits[hub.repo(REPO).refs["main"]].files
    files["README.md"] += b"\nA note the maintainers added by hand.\n"
    out = work / "pulled"
    result, _ = run("pull", REPO, "--config", "k_score", "--out", out, env=env, cwd=work)
    assert result.returncode == 0, result.stderr
    card = (out / "README.md").read_text()
    assert "A note the maintainers added by hand." in card
    assert [c["config_name"] for c in card_meta(card)["configs"]] == ["k_score"]


@pytest.mark.parametrize("name", ["..", "a/b", "/etc", ".hidden", "k_sim/../../x"])
def test_pull_refuses_a_config_name_that_is_not_a_folder_name(
    folder: Path, hub: HubEmulator, env, work: Path, name: str
) -> None:
    seed_pushed(hub, folder)
    files = hub.repo(REPO).commits[hub.repo(REPO).refs["main"]].files
    card = files["README.md"].decode()
    files["README.md"] = card.replace("config_name: k_score", f"config_name: '{name}'").encode()
    before = snapshot(work)
    result, _ = run("pull", REPO, "--out", work / "pulled", env=env, cwd=work)
    assert_fails(result, 2, f"the card of {REPO} names a config", "not a plain folder name")
    assert snapshot(work) == before


def test_pull_refuses_kinship_files_outside_their_config(
    folder: Path, hub: HubEmulator, env, work: Path
) -> None:
    seed_pushed(hub, folder)
    files = hub.repo(REPO).commits[hub.repo(REPO).refs["main"]].files
    doc = json.loads(files["kinship.json"])
    doc["files"]["k_sim"]["train_prefs"] = ["k_sim/../../../escape.parquet"]
    files["kinship.json"] = json.dumps(doc).encode()
    result, _ = run("pull", REPO, "--config", "k_sim", env=env, cwd=work)
    assert_fails(result, 2, "kinship.json of", "not a file of that config's folder")


def test_pull_leaves_the_parquet_export_setting_alone(
    folder: Path, hub: HubEmulator, env, work: Path
) -> None:
    """`pull` pins one commit instead of switching datasets' USE_PARQUET_EXPORT for the
    whole process (a program that imports it keeps its own setting)."""
    seed_pushed(hub, folder)
    code = (
        "import datasets\n"
        "from karma_plugin.api import pull_dataset\n"
        f"report = pull_dataset({REPO!r}, ['k_sim'])\n"
        "assert not report.problems, report.problems\n"
        "print(datasets.config.USE_PARQUET_EXPORT)\n"
    )
    child = {k: v for k, v in env.items() if v is not None}
    base = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **child},
        cwd=work,  # not the clone: the installed package is the one under test
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "True"
    # Nothing asked the dataset viewer; every read named the commit the revision resolved to.
    head = hub.repo(REPO).refs["main"]
    reads = [p for _, p in hub.state.requests if "/resolve/" in p]
    assert reads and all(f"/resolve/{head}/" in p for p in reads), reads


# --- binarize --dataset ORG/NAME ----------------------------------------------------------------
def test_binarize_hub_pool_unreachable(unreachable, scores: Path, work: Path) -> None:
    before = snapshot(work)
    result, elapsed = run(
        "binarize", "--dataset", POOL, "--scores", scores, "--out", work / "out",
        env=unreachable, cwd=work,
    )  # fmt: skip
    message = assert_fails(result, 1, f"reading {POOL} failed", "cannot reach the Hub")
    assert "tries" not in message
    assert elapsed < UNREACHABLE_S, elapsed
    assert snapshot(work) == before


def test_binarize_hub_pool_always_500(hub: HubEmulator, env, scores: Path, work: Path) -> None:
    seed_pool(hub)
    before = snapshot(work)
    hub.state.inject(REPO_INFO, 500)
    result, _ = run(
        "binarize", "--dataset", POOL, "--scores", scores, "--out", work / "out",
        env=env, cwd=work,
    )  # fmt: skip
    assert_fails(result, 1, f"reading {POOL} failed after 6 tries", "HTTP 500")
    assert hub.state.count("GET", REPO_INFO) == 6
    assert snapshot(work) == before


def test_binarize_hub_pool_5xx_then_success(
    hub: HubEmulator, env, scores: Path, work: Path
) -> None:
    seed_pool(hub)
    info = hub.state.inject(REPO_INFO, 503, times=2)
    result = _binarize_hub_pool_succeeds(env, scores, work)
    assert info.hits == 2
    assert f"from {POOL}" in result.stdout


def _binarize_hub_pool_succeeds(env, scores: Path, work: Path):
    """`binarize --strategy k_sim` on the Hub pool: exit 0, a quiet stderr, the config written."""
    result, _ = run(
        "binarize", "--dataset", POOL, "--strategy", "k_sim", "--scores", scores,
        "--out", work / "out", env=env, cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert quiet(result.stderr), result.stderr
    assert (work / "out" / "k_sim").is_dir()
    return result


def quiet(stderr: str) -> bool:
    """Nothing on stderr but binarize's one warning that the scores (here without
    ultralm-65b) lack a model of the pool: no progress bar, no retry note."""
    lines = stderr.splitlines()
    return lines == [] or (
        len(lines) == 1
        and lines[0].startswith("karma-build: warning: 1 of the pool's 17 models are not in")
        and "ultralm-65b" in lines[0]
    )


def test_binarize_hub_pool_offline_without_cache(env, scores: Path, work: Path) -> None:
    before = snapshot(work)
    result, elapsed = run(
        "binarize", "--dataset", POOL, "--scores", scores, "--out", work / "out",
        env={**env, "HF_HUB_OFFLINE": "1"}, cwd=work,
    )  # fmt: skip
    assert_fails(result, 1, "HF_HUB_OFFLINE", "local cache")
    assert elapsed < UNREACHABLE_S, elapsed
    assert snapshot(work) == before


def sample_table():
    import pyarrow.json as paj

    from karma_plugin.pools import sample_pool_path

    return paj.read_json(sample_pool_path())


@pytest.mark.parametrize("form", ["jsonl", "parquet"])
def test_binarize_hub_pool_streams_the_same_pairs_as_the_local_file(
    form: str, hub: HubEmulator, env, scores: Path, work: Path, tmp_path: Path
) -> None:
    """A Hub pool (jsonl, or parquet through LFS) is streamed at the commit main points at,
    and gives the pairs the same pool gives read from a local file."""
    from karma_plugin.pools import sample_pool_path

    if form == "jsonl":
        seed_pool(hub)
    else:
        pq.write_table(sample_table(), tmp_path / "train.parquet", row_group_size=7)
        seed_repo(hub, POOL, {"data/train.parquet": (tmp_path / "train.parquet").read_bytes()})
    args = ("--strategy", "k_sim", "--scores", scores)
    result, _ = run("binarize", "--dataset", POOL, *args, "--out", work / "hub", env=env, cwd=work)
    assert result.returncode == 0, result.stderr
    assert quiet(result.stderr), result.stderr
    local, _ = run(
        "binarize", "--dataset", sample_pool_path(), *args, "--out", work / "local",
        env=env, cwd=work,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    shards = sorted(p.relative_to(work / "local") for p in (work / "local").rglob("*.parquet"))
    assert shards
    for shard in shards:
        assert pq.read_table(work / "hub" / shard).equals(pq.read_table(work / "local" / shard))
    # Nothing was read whole into datasets' Arrow cache, and every read named one commit.
    assert not list((Path(env["HF_HOME"]) / "datasets").rglob("*.arrow"))
    head = hub.repo(POOL).refs["main"]
    reads = [p for _, p in hub.state.requests if "/resolve/" in p]
    assert reads and all(f"/resolve/{head}/" in p for p in reads), reads


def test_binarize_hub_pool_missing_repo_is_input(hub: HubEmulator, env, scores, work) -> None:
    result, _ = run(
        "binarize", "--dataset", "karma-org/no-such-pool", "--scores", scores,
        "--out", work / "out", env=env, cwd=work,
    )  # fmt: skip
    assert_fails(result, 2, "karma-org/no-such-pool")


def seed_split_pool(hub: HubEmulator) -> None:
    """POOL as two jsonl files: the second is first read once the first's rows are used."""
    from karma_plugin.pools import sample_pool_path

    lines = Path(sample_pool_path()).read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    parts = {"data/train-0.jsonl": lines[:half], "data/train-1.jsonl": lines[half:]}
    seed_repo(hub, POOL, {path: b"".join(part) for path, part in parts.items()})


def test_binarize_hub_pool_dropped_while_loading(
    hub: HubEmulator, env, scores: Path, work: Path, tmp_path: Path
) -> None:
    pq.write_table(sample_table(), tmp_path / "train.parquet", row_group_size=7)
    seed_repo(hub, POOL, {"data/train.parquet": (tmp_path / "train.parquet").read_bytes()})
    before = snapshot(work)
    hub.state.inject(r"/datasets/[^/]+/[^/]+/resolve/.+\.parquet", DROP, method="GET")
    result, _ = run(
        "binarize", "--dataset", POOL, "--scores", scores, "--out", work / "out",
        env=env, cwd=work,
    )  # fmt: skip
    assert_fails(result, 1, f"loading {POOL} failed after 6 tries", "RemoteProtocolError")
    assert snapshot(work) == before


def test_binarize_hub_pool_dropped_while_streaming(
    hub: HubEmulator, env, scores: Path, work: Path
) -> None:
    """Rows have been read when the connection drops for good: datasets tries the read again
    (as many times as a load is tried), then one line, exit 1, no output."""
    seed_split_pool(hub)
    before = snapshot(work)
    fault = hub.state.inject(r"/datasets/[^/]+/[^/]+/resolve/.+/train-1\.jsonl", DROP, method="GET")
    result, _ = run(
        "binarize", "--dataset", POOL, "--scores", scores, "--out", work / "out",
        env=env, cwd=work,
    )  # fmt: skip
    assert_fails(result, 1, f"streaming {POOL} failed", "RemoteProtocolError")
    assert fault.hits >= 6, fault.hits
    assert snapshot(work) == before


def test_binarize_hub_pool_503_while_streaming_then_success(
    hub: HubEmulator, env, scores: Path, work: Path
) -> None:
    seed_split_pool(hub)
    fault = hub.state.inject(r"/datasets/[^/]+/[^/]+/resolve/.+/train-1\.jsonl", 503, times=2)
    _binarize_hub_pool_succeeds(env, scores, work)
    assert fault.hits == 2


# --- credentials never shown (issue 16, items 4 and 6) ------------------------------------------
@pytest.mark.parametrize("command", ["push", "pull", "binarize"])
def test_credentials_in_hf_endpoint_are_redacted(
    command: str, folder: Path, unreachable, scores: Path, work: Path
) -> None:
    secret = "hf_EndpointSecret0123456789"
    endpoint = unreachable["HF_ENDPOINT"].replace("http://", f"http://karma:{secret}@")
    args = {
        "push": ("push", folder, "--repo-id", REPO),
        "pull": ("pull", REPO),
        "binarize": ("binarize", "--dataset", POOL, "--scores", scores, "--out", work / "o"),
    }[command]
    result, _ = run(*args, env={**unreachable, "HF_ENDPOINT": endpoint}, cwd=work)
    message = assert_fails(result, 1, "cannot reach the Hub at http://***@127.0.0.1:")
    assert secret not in result.stdout + result.stderr and "karma:" not in message


def test_the_token_and_token_like_text_are_redacted_in_every_message(work: Path, env) -> None:
    """A message that quotes user input holding the token (a mistyped path, here) shows ***."""
    result, _ = run("binarize", "--dataset", f"{TOKEN}/pool.jsonl", "--out", "o", env=env, cwd=work)
    message = assert_fails(result, 2, "pool '***/pool.jsonl' not found")
    assert TOKEN not in result.stdout + result.stderr, message
    other = "hf_SomeoneElsesToken0123456"
    result, _ = run("kinship", "--scores", f"{other}.csv", env=env, cwd=work)
    assert_fails(result, 2, "hf_***")
    assert other not in result.stderr


@pytest.mark.parametrize("token", ["hf_caf\u00e9_token", "hf_tab\there"])
@pytest.mark.parametrize("command", ["push", "pull"])
def test_a_token_no_header_can_carry_is_one_line(
    command: str, token: str, folder: Path, hub: HubEmulator, env, work: Path
) -> None:
    args = ("push", folder, "--repo-id", REPO) if command == "push" else ("pull", REPO)
    result, _ = run(*args, env={**env, "HF_TOKEN": token}, cwd=work)
    assert_fails(result, 2, "token", "HTTP header cannot carry")
    assert token not in result.stderr
    assert hub.state.requests == []  # refused before any request


# --- a Hub that never answers, a host that never connects (issue 16, items 3 and 11b) -----------
# The timeouts are shortened for the test (KARMA_HUB_TIMEOUT, KARMA_HUB_CONNECT_TIMEOUT); without
# them such a run waits forever (or the system's two minutes), which the subprocess timeout here
# turns into a failure.
HANGING_S = 120.0


@pytest.mark.parametrize(
    ("command", "where", "said"),
    [
        ("push", REPO_INFO, "reading the repo failed after 2 tries"),
        ("push", COMMIT, "the commit failed after 2 tries"),
        ("pull", RESOLVE, "downloading README.md failed after 6 tries"),
        ("binarize", REPO_INFO, f"reading {POOL} failed after 6 tries"),
    ],
)
def test_a_hub_that_never_answers_is_timed_out(
    command: str, where: str, said: str, folder: Path, hub: HubEmulator, env, scores, work: Path
) -> None:
    before = snapshot(folder, work)
    if command == "pull":
        seed_pushed(hub, folder)
    if command == "binarize":
        seed_split_pool(hub)
    fault = hub.state.inject(where, HANG, method="POST" if where == COMMIT else "GET")
    args = {
        "push": ("push", folder, "--repo-id", REPO, "--retries", "1"),
        "pull": ("pull", REPO),
        "binarize": ("binarize", "--dataset", POOL, "--scores", scores, "--out", work / "o"),
    }[command]
    fast = {**env, "KARMA_HUB_TIMEOUT": "0.5"}
    result, elapsed = run(*args, env=fast, cwd=work, timeout=HANGING_S)
    assert_fails(result, 1, said, "Timeout")
    assert elapsed < HANGING_S / 2, elapsed
    assert fault.held and max(fault.held) < 5, fault.held  # each try hung up in 0.5 s
    assert snapshot(folder, work) == before


def test_a_hub_that_stops_answering_mid_stream_is_timed_out_and_read_again(
    hub: HubEmulator, env, scores: Path, work: Path
) -> None:
    """The second file of the pool hangs twice once rows have been read: each request is
    timed out (the client hangs up after KARMA_HUB_TIMEOUT, not huggingface_hub's 10 s) and
    tried again, then the pool reads to the end."""
    seed_split_pool(hub)
    fault = hub.state.inject(
        r"/datasets/[^/]+/[^/]+/resolve/.+/train-1\.jsonl", HANG, times=2, method="GET"
    )
    _binarize_hub_pool_succeeds({**env, "KARMA_HUB_TIMEOUT": "0.5"}, scores, work)
    assert fault.hits == 2
    assert len(fault.held) == 2 and max(fault.held) < 5, fault.held


@pytest.mark.parametrize("command", ["push", "pull", "binarize"])
def test_a_silent_host_fails_in_the_connect_timeout(
    command: str, folder: Path, env, scores: Path, work: Path
) -> None:
    before = snapshot(folder, work)
    args = {
        "push": ("push", folder, "--repo-id", REPO),
        "pull": ("pull", REPO, "--out", work / "pulled"),
        "binarize": ("binarize", "--dataset", POOL, "--scores", scores, "--out", work / "o"),
    }[command]
    with silent_endpoint() as endpoint:
        short = {**env, "HF_ENDPOINT": endpoint, "KARMA_HUB_CONNECT_TIMEOUT": "1"}
        result, elapsed = run(*args, env=short, cwd=work, timeout=HANGING_S)
    message = assert_fails(result, 1, f"cannot reach the Hub at {endpoint}", "timed out")
    assert "tries" not in message  # not retried: a host that does not answer stays silent
    assert elapsed < UNREACHABLE_S, elapsed
    assert snapshot(folder, work) == before


def test_a_failed_push_says_it_left_the_repo_it_created(
    folder: Path, hub: HubEmulator, env, work: Path
) -> None:
    hub.state.inject(COMMIT, 503)
    result, _ = push(folder, env, work, "--retries", "0")
    assert_fails(
        result, 1, "the commit failed", "HTTP 503",
        f"the dataset repo {REPO} was created by this push and is left without the data",
    )  # fmt: skip
    assert set(hub.repo(REPO).files()) == {".gitattributes"}


def test_binarize_push_to_checks_the_token_before_any_work(
    hub: HubEmulator, env, scores: Path, work: Path
) -> None:
    before = snapshot(work)
    no_token = {**env, "HF_TOKEN": None}  # and HF_HOME is fresh: no saved login either
    result, _ = run(
        "binarize", "--scores", scores, "--out", work / "o", "--push-to", REPO,
        env=no_token, cwd=work,
    )  # fmt: skip
    assert_fails(result, 2, "no Hugging Face token", "HF_TOKEN")
    assert snapshot(work) == before  # no dataset built, then thrown away
    assert hub.state.requests == []
