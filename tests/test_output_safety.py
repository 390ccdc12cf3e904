"""No command ever costs a user data when it writes an output folder.

Every case drives the real `karma-build` in a subprocess and checks the exit code, one stderr
line without a traceback, and (``snapshot``) that no user file changed. Runs that must be
caught mid-work are paused deterministically: a small launcher wraps one function of the
installed package so that the run stops there (its output folder reserved, the pool not yet
read) until the test releases it. No sleeps-and-hope.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli import assert_fails, karma_build, snapshot

from karma_plugin.core.score_table import paper_csv_path
from karma_plugin.errors import InputError
from karma_plugin.fs import staging
from karma_plugin.outputs.hub_folder import folder_files
from karma_plugin.pools import sample_pool_path

MARKER = staging.MARKER
READ_POOL = "karma_plugin.pools.reader:read_pool"

# Runs `karma-build ARGS` with PAUSE_AT (module:function) wrapped: on its first call the run
# creates FLAGS/paused, then waits until FLAGS/go exists.
_PAUSED_LAUNCHER = r"""
import importlib, os, runpy, signal, sys, time
from pathlib import Path

# A shell's background job (`cmd &`, as a CI script may start the suite) ignores SIGINT, and
# its children inherit that: the run under test gets Python's own Ctrl-C handling back.
signal.signal(signal.SIGINT, signal.default_int_handler)

flags = Path(os.environ["KARMA_TEST_PAUSE_FLAGS"])
module, name = os.environ["KARMA_TEST_PAUSE_AT"].split(":")
owner = importlib.import_module(module)
original = getattr(owner, name)


def paused(*args, **kwargs):
    (flags / "paused").touch()
    while not (flags / "go").exists():
        time.sleep(0.01)
    return original(*args, **kwargs)


setattr(owner, name, paused)
sys.argv[0] = "karma-build"
runpy.run_module("karma_plugin", run_name="__main__")
"""


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "KARMA_TEST_HUB_TOKEN"}
    return {**base, "HF_HUB_OFFLINE": "1", **(extra or {})}


class PausedRun:
    """`karma-build ARGS` in a subprocess that stops at ``pause_at`` until ``release``."""

    count = 0

    def __init__(
        self,
        flags_root: Path,
        *args: str | os.PathLike[str],
        cwd: Path,
        pause_at: str = READ_POOL,
        prefix: tuple[str, ...] = (),
        released: bool = False,
    ) -> None:
        PausedRun.count += 1
        self.flags = flags_root / f"run{PausedRun.count}"
        self.flags.mkdir(parents=True)
        if released:
            self.release()
        env = _env({"KARMA_TEST_PAUSE_FLAGS": str(self.flags), "KARMA_TEST_PAUSE_AT": pause_at})
        self.args = [*prefix, sys.executable, "-c", _PAUSED_LAUNCHER, *map(str, args)]
        self.proc = subprocess.Popen(
            self.args,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @property
    def reached(self) -> bool:
        return (self.flags / "paused").exists()

    def wait_paused(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not self.reached:
            if self.proc.poll() is not None:
                raise AssertionError(f"the run ended before its pause:\n{self.result().stderr}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError("the run never reached its pause")
            time.sleep(0.02)

    def release(self) -> None:
        (self.flags / "go").touch()

    def result(self, timeout: float = 300) -> subprocess.CompletedProcess:
        out, err = self.proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(self.args, self.proc.returncode, out, err)


BINARIZE: list[str] = []  # `binarize --scores CLEAN`, set by the fixture below


@pytest.fixture(scope="module", autouse=True)
def _clean_scores(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The paper's table without the model it has no scores for, so that no "left out"
    warning stands in front of the errors checked here (the warning has its own tests)."""
    rows = Path(paper_csv_path()).read_text(encoding="utf-8-sig").splitlines()
    scores = tmp_path_factory.mktemp("scores") / "scores.csv"
    scores.write_text("\n".join(r for r in rows if not r.endswith(",,,,,,")) + "\n")
    BINARIZE[:] = ["binarize", "--scores", str(scores)]


@pytest.fixture(scope="module")
def tool_folder(tmp_path_factory: pytest.TempPathFactory, _clean_scores) -> Path:
    """A folder `karma-build binarize` wrote (copies of it are folders the tool wrote too)."""
    out = tmp_path_factory.mktemp("made") / "out"
    result = karma_build(*BINARIZE, "--out", out, cwd=out.parent)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def flags(tmp_path: Path) -> Path:
    return tmp_path / "flags"


def copy_of(tool_folder: Path, where: Path) -> Path:
    shutil.copytree(tool_folder, where)
    return where


def stages(parent: Path, name: str) -> list[Path]:
    return sorted(parent.glob(f".{name}.*.tmp"))


def assert_complete(out: Path, tool_folder: Path) -> None:
    """``out`` is a whole binarize output: the same files as a reference run, a fresh marker."""

    def files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}

    assert files(out) == files(tool_folder)
    assert staging.marker_id(out) not in (None, staging.marker_id(tool_folder))
    code = "import datasets, sys; print(datasets.load_dataset(sys.argv[1], 'k_sim').num_rows)"
    loaded = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "'train_prefs': 286" in loaded.stdout


# --- what --overwrite may never replace -----------------------------------------------------------


@pytest.mark.parametrize("out", [".", "{work}"])
def test_overwrite_never_replaces_the_working_folder(tool_folder, tmp_path, out):
    # Even a folder the tool wrote: the user works in it now (the deleted-cwd report).
    work = copy_of(tool_folder, tmp_path / "work")
    (work / "notes.txt").write_text("mine")
    (work / "src").mkdir()
    (work / "src" / "main.py").write_text("print('mine')")
    before = snapshot(tmp_path)
    result = karma_build(*BINARIZE, "--out", out.format(work=work), "--overwrite", cwd=work)
    assert_fails(result, 2, "is the working folder or holds it", "pick another --out")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("out", ["../..", "/"])
def test_overwrite_never_replaces_an_ancestor_of_the_working_folder(tool_folder, tmp_path, out):
    top = copy_of(tool_folder, tmp_path / "project")
    cwd = top / "sub" / "deeper"
    cwd.mkdir(parents=True)
    (cwd / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    result = karma_build(*BINARIZE, "--out", out, "--overwrite", cwd=cwd)
    assert_fails(result, 2, "is the working folder or holds it")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("which", ["home", "holds home"])
def test_overwrite_never_replaces_the_home_folder(tool_folder, tmp_path, which):
    outer = copy_of(tool_folder, tmp_path / "users")
    home = copy_of(tool_folder, outer / "me")
    (home / ".bashrc").write_text("mine")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = snapshot(tmp_path)
    out = home if which == "home" else outer
    result = karma_build(
        *BINARIZE, "--out", out, "--overwrite", cwd=elsewhere, env={"HOME": str(home)}
    )
    assert_fails(result, 2, "is the home folder or holds it")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_foreign_folder_is_never_replaced(tmp_path, overwrite):
    foreign = tmp_path / "results"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    before = snapshot(tmp_path)
    flag = ["--overwrite"] if overwrite else []
    result = karma_build(*BINARIZE, "--out", foreign, *flag, cwd=tmp_path)
    assert_fails(
        result,
        2,
        "karma-build did not write it",
        MARKER,
        "remove it yourself or pick another --out",
    )
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "command",
    [["report"], ["compare", "results"], ["pull", "karma-org/karma-prefs"]],
    ids=["report", "compare", "pull"],
)
def test_every_command_that_writes_a_folder_keeps_the_rules(tmp_path, command):
    # The checks come first: no score table, results or Hub is needed to be refused.
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    before = snapshot(tmp_path)
    result = karma_build(*command, "--out", "mine", "--overwrite", cwd=tmp_path)
    assert_fails(result, 2, "karma-build did not write it")
    assert snapshot(tmp_path) == before


def test_a_link_as_out_is_refused(tool_folder, tmp_path):
    copy_of(tool_folder, tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    before = snapshot(tmp_path)
    result = karma_build(*BINARIZE, "--out", "link", "--overwrite", cwd=tmp_path)
    assert_fails(result, 2, "'link' is a symbolic link")
    assert snapshot(tmp_path) == before


def test_a_folder_from_an_earlier_version_says_how_to_go_on(tool_folder, tmp_path):
    # Folders written before the marker existed look like outputs but carry none.
    old = copy_of(tool_folder, tmp_path / "old")
    (old / MARKER).unlink()
    before = snapshot(tmp_path)
    result = karma_build(*BINARIZE, "--out", old, "--overwrite", cwd=tmp_path)
    assert_fails(result, 2, "earlier karma-build versions", "remove it yourself")
    assert snapshot(tmp_path) == before


def _input_cases(data: Path) -> dict[str, list[str]]:
    shutil.copyfile(sample_pool_path(), data / "pool.jsonl")
    (data / "scores.csv").write_text("model,ifeval\na,1\nb,2\n")
    (data / "results.json").write_text("{}")
    (data / "link.jsonl").symlink_to(data / "pool.jsonl")
    return {
        "pool file": [*BINARIZE, "--dataset", "data/pool.jsonl", "--out", "data"],
        "pool folder": [*BINARIZE, "--dataset", "data", "--out", "data"],
        "pool through a link": [*BINARIZE, "--dataset", "data/link.jsonl", "--out", "data"],
        "score table": ["report", "--scores", "data/scores.csv", "--out", "data"],
        "compare results": ["compare", "data/results.json", "--out", "data"],
        "labelled results": ["compare", "--label", "x=data/results.json", "--out", "data"],
    }


@pytest.mark.parametrize(
    "case",
    [
        "pool file",
        "pool folder",
        "pool through a link",
        "score table",
        "compare results",
        "labelled results",
    ],
)
def test_overwrite_never_replaces_a_folder_holding_an_input(tool_folder, tmp_path, case):
    data = copy_of(tool_folder, tmp_path / "data")  # a tool-written folder the user reuses
    args = _input_cases(data)[case]
    before = snapshot(tmp_path)
    result = karma_build(*args, "--overwrite", cwd=tmp_path)
    assert_fails(result, 2, "input of this run", "--overwrite never replaces it")
    assert snapshot(tmp_path) == before


def test_overwrite_never_replaces_a_folder_inside_an_input(tool_folder, tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "samples_karma_ifeval.jsonl").write_text("{}\n")
    copy_of(tool_folder, samples / "report")
    before = snapshot(tmp_path)
    result = karma_build(
        "report", "--samples", "samples", "--out", "samples/report", "--overwrite", cwd=tmp_path
    )
    assert_fails(result, 2, "lies inside an input of this run ('samples')")
    assert snapshot(tmp_path) == before


def test_the_report_of_binarize_lies_inside_its_folder(tool_folder, tmp_path):
    # `--report` writes into OUT/figures/: no second folder beside OUT to check or to lose.
    copy_of(tool_folder, tmp_path / "d")
    (tmp_path / "d-report").mkdir()
    (tmp_path / "d-report" / "notes.md").write_text("mine")
    before = snapshot(tmp_path / "d-report")
    result = karma_build(*BINARIZE, "--report", "--out", "d", "--overwrite", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d" / "figures" / "report.md").is_file()
    assert snapshot(tmp_path / "d-report") == before


# --- what happens while a run works ---------------------------------------------------------------


def test_a_folder_that_appears_mid_run_is_left_alone(tmp_path, flags):
    run = PausedRun(flags, *BINARIZE, "--out", "out", cwd=tmp_path)
    run.wait_paused()
    assert len(stages(tmp_path, "out")) == 1  # reserved before the work
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("mine")
    before = snapshot(tmp_path / "out")
    run.release()
    assert_fails(run.result(), 2, "'out' appeared while this run worked", "left as it is")
    assert snapshot(tmp_path / "out") == before
    assert not stages(tmp_path, "out")


@pytest.mark.parametrize("replacement", ["user folder", "another output"])
def test_overwrite_replaces_only_the_folder_it_checked(tool_folder, tmp_path, flags, replacement):
    out = copy_of(tool_folder, tmp_path / "out")
    run = PausedRun(flags, *BINARIZE, "--out", "out", "--overwrite", cwd=tmp_path)
    run.wait_paused()
    # Meanwhile the checked folder goes and another takes its place.
    shutil.rmtree(out)
    if replacement == "user folder":
        out.mkdir()
        (out / "mine.txt").write_text("mine")
    else:
        _made(tmp_path, "out")  # written by the tool too, but not the folder checked
    before = snapshot(out)
    run.release()
    assert_fails(run.result(), 2, "changed while this run worked", "left as it is")
    assert snapshot(out) == before
    assert not stages(tmp_path, "out")


@pytest.mark.parametrize("overwrite", [False, True])
def test_two_runs_on_one_out_one_wins_nothing_is_lost(tool_folder, tmp_path, flags, overwrite):
    out = tmp_path / "out"
    flag = []
    if overwrite:
        copy_of(tool_folder, out)
        flag = ["--overwrite"]
    runs = [PausedRun(flags, *BINARIZE, "--out", "out", *flag, cwd=tmp_path) for _ in "ab"]
    for run in runs:
        run.wait_paused()  # both checked the target and hold a staging folder
    for run in runs:
        run.release()
    results = [run.result() for run in runs]
    assert sorted(r.returncode for r in results) == [0, 2], [r.stderr for r in results]
    [loser] = [r for r in results if r.returncode == 2]
    why = "changed while this run worked" if overwrite else "appeared while this run worked"
    assert_fails(loser, 2, why)
    assert_complete(out, tool_folder)
    assert not stages(tmp_path, "out")


def test_staging_folders_of_killed_runs_are_removed_and_nothing_else(tmp_path, flags):
    outs = tmp_path / "outs"
    outs.mkdir()
    # Not ours to judge: a folder named like a staging folder without an owner record, and
    # any other hidden .tmp folder.
    (outs / ".x.tmp").mkdir()
    (outs / ".x.tmp" / "data.bin").write_bytes(b"mine")
    (outs / ".b.0123456789ab.tmp").mkdir()
    (outs / ".b.0123456789ab.tmp" / "notes.txt").write_text("mine")
    unrelated = snapshot(outs / ".x.tmp", outs / ".b.0123456789ab.tmp")

    killed = PausedRun(flags, *BINARIZE, "--out", "outs/a", cwd=tmp_path)
    killed.wait_paused()
    killed.proc.kill()
    killed.proc.wait()
    [dead_stage] = stages(outs, "a")

    live = PausedRun(flags, *BINARIZE, "--out", "outs/b", cwd=tmp_path)
    live.wait_paused()
    [live_stage] = [s for s in stages(outs, "b") if s.name != ".b.0123456789ab.tmp"]

    later = karma_build(*BINARIZE, "--out", "outs/c", cwd=tmp_path)
    assert later.returncode == 0, later.stderr
    assert not dead_stage.exists()
    assert live_stage.is_dir()
    assert snapshot(outs / ".x.tmp", outs / ".b.0123456789ab.tmp") == unrelated

    live.release()
    assert live.result().returncode == 0
    assert (outs / "b" / "kinship.json").is_file() and not live_stage.exists()
    assert sorted(p.name for p in outs.iterdir()) == [
        ".b.0123456789ab.tmp",
        ".x.tmp",
        "b",
        "c",
    ]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_run_leaves_nothing_behind(tmp_path, flags, signum, code):
    (tmp_path / "notes.txt").write_text("mine")
    before = snapshot(tmp_path / "notes.txt")
    run = PausedRun(flags, *BINARIZE, "--report", "--out", "out", cwd=tmp_path)
    run.wait_paused()
    assert stages(tmp_path, "out")
    run.proc.send_signal(signum)
    assert_fails(run.result(), code, f"stopped by {signal.Signals(signum).name}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flags", "notes.txt"]
    assert snapshot(tmp_path / "notes.txt") == before


# --- an unwritable output parent fails before the work --------------------------------------------


def test_an_output_under_a_file_fails_before_the_work(tmp_path, flags):
    (tmp_path / "afile").write_text("mine")
    before = snapshot(tmp_path / "afile")
    run = PausedRun(flags, *BINARIZE, "--out", "afile/out", cwd=tmp_path, released=True)
    assert_fails(run.result(), 2, "cannot write the output folder 'afile/out'")
    assert not run.reached, "the pool was read before the output folder was checked"
    assert snapshot(tmp_path / "afile") == before


def _read_only_mount_works() -> str | None:
    """Why a read-only bind mount in a private mount namespace is not possible here."""
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return "needs Linux and unshare"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --bind -o ro / / 2>&1 || exit 3"],
        capture_output=True,
        text=True,
    )
    return None if probe.returncode == 0 else f"no mount namespace here: {probe.stdout.strip()}"


def test_a_read_only_parent_fails_before_the_work(tmp_path, flags):
    # Tests run as root, for whom chmod does not block writes: a read-only bind mount does,
    # inside a mount namespace of the run's own (nothing outside sees it).
    why_not = _read_only_mount_works()
    if why_not:
        pytest.skip(why_not)
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "keep.txt").write_text("mine")
    before = snapshot(tmp_path / "ro")
    remount = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    run = PausedRun(
        flags,
        *BINARIZE,
        "--out",
        "ro/out",
        cwd=tmp_path,
        prefix=("unshare", "-m", "sh", "-c", remount, "sh", str(ro)),
        released=True,
    )
    result = run.result()
    assert_fails(result, 2, "cannot write the output folder 'ro/out'", "Read-only file system")
    assert not run.reached, "the pool was read before the output folder was checked"
    assert snapshot(tmp_path / "ro") == before


def test_an_unwritable_parent_is_refused_in_process(tmp_path):
    (tmp_path / "afile").write_text("mine")
    with (
        pytest.raises(InputError, match="cannot write the output folder"),
        staging.staged(tmp_path / "afile" / "out"),
    ):
        raise AssertionError("no staging folder can exist under a file")
    if os.geteuid() == 0:
        return  # root writes through a read-only mode; the file case above stands in
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(InputError, match="Permission denied"), staging.staged(locked / "out"):
        raise AssertionError("no staging folder can exist here")


# --- what --overwrite does replace ----------------------------------------------------------------


def test_overwrite_replaces_a_folder_the_tool_wrote(tool_folder, tmp_path):
    out = copy_of(tool_folder, tmp_path / "out")
    (out / "k_sim" / "train_prefs-00000-of-00002.parquet").write_bytes(b"an old shard")
    (tmp_path / "notes.txt").write_text("mine")
    before = snapshot(tmp_path / "notes.txt")
    result = karma_build(*BINARIZE, "--out", "out", "--overwrite", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_complete(out, tool_folder)  # the old shard went with the folder it was in
    assert snapshot(tmp_path / "notes.txt") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "out"]
    # Ordinary permissions, and the marker stays local: push skips hidden files.
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask
    assert (out / MARKER).stat().st_mode & 0o777 == 0o666 & ~umask
    assert MARKER not in folder_files(out)[0]


def test_report_and_compare_folders_are_marked_and_replaceable(tmp_path):
    (tmp_path / "s.csv").write_text("model,ifeval,mmlu_pro\na,0.1,0.2\nb,0.5,0.3\nc,0.9,0.9\n")
    for attempt in ("first", "again"):
        extra = ["--overwrite"] if attempt == "again" else []
        result = karma_build("report", "--scores", "s.csv", "--out", "r", *extra, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert staging.marker_id(tmp_path / "r")
        assert (tmp_path / "r" / "report.md").is_file()
    doc = {
        "results": {"karma_ifeval": {"prompt_level_strict_acc,none": 0.5}},
        "config": {"model_args": "pretrained=m"},
    }
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "results_2025-01-01T00-00-00.json").write_text(json.dumps(doc))
    result = karma_build("compare", "res", "--out", "cmp", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert staging.marker_id(tmp_path / "cmp")


# --- the publish step itself, with and without renameat2 ------------------------------------------


@pytest.fixture(params=["renameat2", "fallback"])
def rename(request, monkeypatch):
    if request.param == "renameat2":
        if staging._renameat2_function is None:
            pytest.skip("no renameat2 in this libc")
    else:
        monkeypatch.setattr(staging, "_renameat2_function", None)
    return request.param


def _made(tmp_path: Path, name: str) -> Path:
    with staging.staged(tmp_path / name) as stage:
        (stage / "data.txt").write_text(name)
    return tmp_path / name


def test_publish_never_replaces_a_folder_that_appeared(tmp_path, rename):
    out = tmp_path / "out"
    with (
        pytest.raises(InputError, match="appeared while this run worked"),
        staging.staged(out) as stage,
    ):
        (stage / "data.txt").write_text("new")
        out.mkdir()  # empty: a POSIX rename would replace it without a check
    assert list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_publish_swaps_only_the_checked_folder(tmp_path, rename):
    out = _made(tmp_path, "out")
    with staging.staged(out, overwrite=True) as stage:
        (stage / "data.txt").write_text("new")
    assert (out / "data.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    with (
        pytest.raises(InputError, match="changed while this run worked"),
        staging.staged(out, overwrite=True) as stage,
    ):
        (stage / "data.txt").write_text("newer")
        os.rename(out, tmp_path / "aside")
        _made(tmp_path, "out")  # a folder the tool wrote, but not the one checked
    assert (out / "data.txt").read_text() == "out"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aside", "out"]


def test_stale_means_provably_dead(tmp_path):
    """A staging folder goes only when its owner is provably gone: a pid reused by another
    process does not keep it, an owner that cannot be judged never loses it."""
    me = staging._owner()

    def stage(name: str, owner: dict | str | None) -> Path:
        folder = tmp_path / f".{name}.0123456789ab.tmp"
        folder.mkdir()
        (folder / "part.parquet").write_bytes(b"x")
        if owner is not None:
            text = owner if isinstance(owner, str) else json.dumps(owner)
            (folder / staging._OWNER).write_text(text)
        return folder

    gone = [
        stage("reused-pid", {**me, "start": (me["start"] or 0) + 1}),
        stage("rebooted", {**me, "boot": "another-boot"}),
    ]
    kept = [
        stage("alive", me),
        stage("other-host", {**me, "host": me["host"] + "-elsewhere", "start": 0}),
        stage("no-owner", None),
        stage("garbage", "not json"),
    ]
    if me["start"] is None:
        gone = gone[1:]  # without /proc a reused pid cannot be told apart
    removed = staging.remove_stale_stages(tmp_path)
    assert sorted(removed) == sorted(gone)
    assert all(not p.exists() for p in gone) and all(p.is_dir() for p in kept)


# --- file outputs (issue 16, item 2): `kinship --json`, its matrix, `scores -o` -----------------
def _big_table(path: Path, n: int = 40) -> Path:
    """A score table of more than 30 models: `kinship --json` also writes the matrix."""
    rows = [
        f"m{i},{0.1 + i / 100:.3f},{0.9 - (i % 7) / 20:.3f},{(i * 37 % 11) / 11:.3f}"
        for i in range(n)
    ]
    path.write_text("model,ifeval,mmlu_stem,hellaswag\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """lm-eval results of two models, as `karma-build scores` reads them."""
    from test_lmeval_scores import ALL, layout_0413, write_run

    root = tmp_path / "runs"
    write_run(root, layout_0413("org/a", ALL), "2025-01-01T00-00-00")
    write_run(root, layout_0413("org/b", {k: v / 2 for k, v in ALL.items()}), "2025-01-01T00-00-00")
    return root


@pytest.mark.parametrize("overwrite", [False, True])
def test_kinship_json_never_replaces_its_input(tmp_path: Path, overwrite: bool) -> None:
    scores = Path(BINARIZE[2])
    table = tmp_path / "s.csv"
    shutil.copy(scores, table)
    os.link(table, tmp_path / "hard.json")  # the same file under another name
    (tmp_path / "soft.json").symlink_to(table)
    before = snapshot(tmp_path)
    flag = ["--overwrite"] if overwrite else []
    for target in ("s.csv", "hard.json", "soft.json"):
        result = karma_build("kinship", "--scores", "s.csv", "--json", target, *flag, cwd=tmp_path)
        assert_fails(result, 2, f"--json '{target}' is an input of this run", "never replaces")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_scores_never_replaces_an_input_results_file(results: Path, overwrite: bool) -> None:
    target = next(results.rglob("results_*.json"))
    before = snapshot(results)
    flag = ["--overwrite"] if overwrite else []
    result = karma_build("scores", results, "-o", target, *flag, cwd=results.parent)
    assert_fails(result, 2, "is an input of this run")
    assert snapshot(results) == before


@pytest.mark.parametrize(
    "command",
    [["kinship", "--json", "notes.txt"], ["scores", "runs", "-o", "notes.txt"]],
    ids=["kinship", "scores"],
)
def test_a_users_file_is_replaced_only_with_overwrite(
    results: Path, tmp_path: Path, command: list[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    before = snapshot(tmp_path)
    result = karma_build(*command, cwd=tmp_path)
    assert_fails(
        result, 2, "'notes.txt' already exists and karma-build did not write it", "--overwrite"
    )
    assert snapshot(tmp_path) == before
    result = karma_build(*command, "--overwrite", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert notes.read_text() != "my notes\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file


def test_files_karma_build_wrote_are_replaced_and_still_load(results: Path, tmp_path: Path) -> None:
    """Run twice without --overwrite: the second run replaces what the first wrote (told by
    content), and the files load as they did (json, csv, pandas, `--scores`)."""
    import csv

    _big_table(tmp_path / "big.csv")
    for _ in range(2):
        result = karma_build("kinship", "--scores", "big.csv", "--json", "k.json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        result = karma_build("scores", "runs", "-o", "s.csv", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "k.json").read_text())
    assert doc["written_by"]["tool"] == "karma-build" and doc["all_models"]["count"] == 40
    import pandas as pd

    matrix = pd.read_parquet(tmp_path / "k_matrix.parquet")
    assert matrix.shape == (40, 40)
    assert next(csv.reader((tmp_path / "s.csv").open()))[0] == "model"
    assert list(pd.read_csv(tmp_path / "s.csv")["model"]) == ["org/a", "org/b"]
    result = karma_build("kinship", "--scores", "s.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # A CSV edited by hand is no longer the file karma-build wrote.
    (tmp_path / "s.csv").write_text((tmp_path / "s.csv").read_text() + "# my comment\n")
    before = snapshot(tmp_path)
    result = karma_build("scores", "runs", "-o", "s.csv", cwd=tmp_path)
    assert_fails(result, 2, "already exists and karma-build did not write it")
    assert snapshot(tmp_path) == before


def test_kinship_json_checks_the_matrix_file_before_writing_either(tmp_path: Path) -> None:
    _big_table(tmp_path / "big.csv")
    (tmp_path / "k_matrix.parquet").write_bytes(b"not mine to lose")
    before = snapshot(tmp_path)
    result = karma_build("kinship", "--scores", "big.csv", "--json", "k.json", cwd=tmp_path)
    assert_fails(result, 2, "--json 'k_matrix.parquet' already exists", "--overwrite")
    assert snapshot(tmp_path) == before  # k.json not written either
    result = karma_build(
        "kinship", "--scores", "big.csv", "--json", "k.json", "--overwrite", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
