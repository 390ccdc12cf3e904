"""A small stateful Hugging Face Hub emulation on 127.0.0.1, for offline push/pull tests.

It speaks the subset of the Hub API that ``huggingface_hub`` and ``datasets`` use to create a
dataset repo, commit to it (preupload, LFS batch/upload/verify, NDJSON commit), branch, open a
PR, list and download (see ../shared/notes/hub-protocol.md). It keeps every commit, so tests
assert on what was stored, and it can inject faults on any request, reads as well as commits
(``HubState.inject``): an HTTP status (5xx, 429, 401...) a number of times or always, or a
connection dropped in the middle of the answer. ``closed_port_endpoint()`` gives an endpoint
where nothing listens (an unreachable Hub).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

# Binary files go through LFS, as on the Hub; `datasets` relies on it (see the notes).
LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".safetensors", ".png")
GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


DROP = "drop"  # a Fault answer: close the socket in the middle of the response
HANG = "hang"  # a Fault answer: read the request, then never answer (until the server stops)


@dataclass
class Fault:
    """Answer requests matching ``method`` and the ``path`` pattern with ``answer`` (an HTTP
    status, or DROP), ``times`` times (-1: always). ``hits`` counts the requests it answered."""

    method: str  # "GET", "HEAD", "POST", "PUT", or "*"
    path: str  # a regular expression the whole request path must match
    answer: int | str
    times: int = -1
    hits: int = 0
    held: list[float] = field(default_factory=list)  # HANG: seconds until the client hung up

    def matches(self, method: str, path: str) -> bool:
        wanted = self.method in ("*", method)
        return self.times != 0 and wanted and re.fullmatch(self.path, path) is not None


@dataclass
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, bytes]
    lfs: set[str]  # paths stored through LFS


@dataclass
class Repo:
    repo_id: str
    private: bool
    refs: dict[str, str] = field(default_factory=dict)  # branch or refs/pr/N -> commit oid
    commits: dict[str, Commit] = field(default_factory=dict)

    def files(self, revision: str = "main") -> dict[str, bytes]:
        return dict(self.commits[self.resolve(revision)].files)

    def resolve(self, revision: str) -> str:
        if revision in self.refs:
            return self.refs[revision]
        if revision in self.commits:
            return revision
        raise KeyError(revision)


class HubState:
    """Everything the server holds, plus the faults to inject. Tests read and set it directly."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.reject_token = False
        self.faults: list[Fault] = []
        self.stopped = threading.Event()  # set when the server stops: hanging answers end
        self.lock = threading.RLock()
        self._counter = itertools.count(1)

    def inject(self, path: str, answer: int | str, times: int = -1, method: str = "*") -> Fault:
        """Answer requests whose path matches ``path`` (a regex) with ``answer``: a status
        (500, 503, 429, 401...), DROP (the connection closes mid-response) or HANG (no answer
        at all, the connection left open); ``times`` times,
        -1 for always. The fault is checked before the token, as a proxy in front would."""
        fault = Fault(method, path, answer, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def count(self, method: str, path: str) -> int:
        """How many requests matching ``method`` and the ``path`` regex arrived (faults too)."""
        with self.lock:
            return sum(m == method and re.fullmatch(path, p) is not None for m, p in self.requests)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.times > 0:
                        fault.times -= 1
                    return fault
        return None

    def new_oid(self, salt: str) -> str:
        return hashlib.sha1(f"{next(self._counter)}:{salt}".encode()).hexdigest()

    def create_repo(self, repo_id: str, private: bool = False) -> Repo:
        repo = Repo(repo_id, private)
        oid = self.new_oid(repo_id)
        repo.commits[oid] = Commit(
            oid, None, "initial commit", {".gitattributes": GITATTRIBUTES}, set()
        )
        repo.refs["main"] = oid
        self.repos[repo_id] = repo
        return repo


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: HubState  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # the tests' output stays clean
        pass

    # --- plumbing -------------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(
        self,
        status: int,
        body: Any = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, {"error": message}, headers)

    def _authorized(self) -> bool:
        sent = self.headers.get("Authorization", "")
        if self.state.reject_token or sent != f"Bearer {self.state.token}":
            self._error(401, "Invalid credentials in Authorization header")
            return False
        return True

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        with self.state.lock:
            self.state.requests.append((method, path))
        body = self._body() if method in ("POST", "PUT") else b""
        fault = self.state.take_fault(method, path)
        if fault is not None:
            self._inject(fault)
            return
        # LFS content transfers carry no auth header, as on the Hub.
        if not path.startswith("/lfs-") and not self._authorized():
            return
        for pattern, route_method, handler in ROUTES:
            match = re.fullmatch(pattern, path)
            if match and (route_method == method or (method, route_method) == ("HEAD", "GET")):
                with self.state.lock:
                    handler(self, body, *match.groups())
                return
        self._error(404, f"emulator: no route for {method} {path}")

    def _inject(self, fault: Fault) -> None:
        if fault.answer == HANG:
            # The connection stays open and silent, as behind a stalled proxy or a Hub whose
            # worker froze: only the client's read timeout ends the wait. How long the client
            # waited (until it hung up) goes to ``fault.held``.
            start = time.monotonic()
            self.close_connection = True
            while not self.state.stopped.is_set():
                readable, _, _ = select.select([self.connection], [], [], 0.05)
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    break  # the client closed the connection
            with self.state.lock:
                fault.held.append(time.monotonic() - start)
            return
        if fault.answer != DROP:
            self._error(int(fault.answer), f"emulator: injected {fault.answer}")
            return
        # Hang up in the middle of the answer, as when a proxy or the Hub's edge resets the
        # connection: the client sees it drop (httpx: RemoteProtocolError). A GET gets its
        # headers and part of the promised body; a HEAD, which has no body, half its headers.
        self.close_connection = True
        if self.command == "HEAD":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: appl")
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"partial": ')
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # --- helpers ---------------------------------------------------------------------------
    def _repo(self, repo_id: str) -> Repo | None:
        repo = self.state.repos.get(repo_id)
        if repo is None:
            self._error(404, "Repository not found", "RepoNotFound")
        return repo

    def _commit(self, repo: Repo, revision: str) -> Commit | None:
        try:
            return repo.commits[repo.resolve(unquote(revision))]
        except KeyError:
            self._error(404, f"Invalid rev id: {unquote(revision)}", "RevisionNotFound")
            return None

    def _base(self) -> str:
        return f"http://{self.headers['Host']}"

    def _entry(self, commit: Commit, path: str) -> dict[str, Any]:
        data = commit.files[path]
        entry: dict[str, Any] = {
            "type": "file",
            "path": path,
            "oid": git_blob_sha1(data),
            "size": len(data),
        }
        if path in commit.lfs:
            sha = hashlib.sha256(data).hexdigest()
            entry["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
        return entry

    @staticmethod
    def _folders(commit: Commit) -> set[str]:
        return {
            "/".join(parts[:i])
            for parts in (p.split("/") for p in commit.files)
            for i in range(1, len(parts))
        }

    # --- routes ----------------------------------------------------------------------------
    def repo_info(self, _body: bytes, repo_id: str, revision: str | None = None) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        commit = self._commit(repo, revision or "main")
        if commit is None:
            return
        self._send(
            200,
            {
                "id": repo_id,
                "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
                "author": repo_id.split("/")[0],
                "sha": commit.oid,
                "private": repo.private,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": [{"rfilename": p} for p in sorted(commit.files)],
                "lastModified": "2025-01-01T00:00:00.000Z",
            },
        )

    def create_repo(self, body: bytes) -> None:
        payload = json.loads(body)
        repo_id = f"{payload.get('organization') or 'tester'}/{payload['name']}"
        url = f"{self._base()}/datasets/{repo_id}"
        if payload.get("type") != "dataset":
            self._error(400, "emulator: only dataset repos")
        elif repo_id in self.state.repos:
            self._send(409, {"error": "You already created this dataset repo", "url": url})
        else:
            private = bool(payload.get("private")) or payload.get("visibility") == "private"
            self.state.create_repo(repo_id, private)
            self._send(200, {"url": url, "name": repo_id})

    def validate_yaml(self, body: bytes) -> None:
        content = json.loads(body)["content"]
        errors = []
        match = re.match(r"^---\n(.*?)\n---\n", content, re.S)
        if match:
            try:
                meta = yaml.safe_load(match.group(1))
                if not isinstance(meta, dict):
                    errors.append({"message": "metadata must be a mapping"})
            except yaml.YAMLError as exc:
                errors.append({"message": f"invalid YAML: {exc}"})
        self._send(400 if errors else 200, {"errors": errors, "warnings": []})

    def preupload(self, body: bytes, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        commit = self._commit(repo, revision)
        if commit is None:
            return
        answers = []
        for f in json.loads(body)["files"]:
            lfs = f["path"].endswith(LFS_SUFFIXES) or f["size"] > 10 * 1024 * 1024
            answer = {"path": f["path"], "uploadMode": "lfs" if lfs else "regular"}
            answer["shouldIgnore"] = False
            if f["path"] in commit.files:
                data = commit.files[f["path"]]
                stored_lfs = f["path"] in commit.lfs
                answer["oid"] = (
                    hashlib.sha256(data).hexdigest() if stored_lfs else git_blob_sha1(data)
                )
            answers.append(answer)
        self._send(200, {"files": answers, "commitOid": commit.oid})

    def lfs_batch(self, body: bytes, repo_id: str) -> None:
        if self._repo(repo_id) is None:
            return
        objects = []
        for obj in json.loads(body)["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.state.lfs_objects:
                entry["actions"] = {
                    "upload": {"href": f"{self._base()}/lfs-upload/{obj['oid']}"},
                    "verify": {"href": f"{self._base()}/lfs-verify/{obj['oid']}"},
                }
            objects.append(entry)
        self._send(200, {"transfer": "basic", "objects": objects})

    def lfs_upload(self, body: bytes, oid: str) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            self._error(400, "emulator: LFS content does not match its oid")
            return
        self.state.lfs_objects[oid] = body
        self._send(200)

    def lfs_verify(self, body: bytes, oid: str) -> None:
        if oid in self.state.lfs_objects:
            self._send(200, {})
        else:
            self._error(404, "emulator: LFS object was never uploaded")

    def commit(self, body: bytes, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        base = self._commit(repo, revision)
        if base is None:
            return
        files, lfs = dict(base.files), set(base.lfs)
        summary = ""
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                summary = value.get("summary", "")
                parent = value.get("parentCommit")
                if parent and parent != base.oid:
                    self._error(412, "A commit has happened since. Please refresh and try again.")
                    return
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
                lfs.discard(value["path"])
            elif key == "lfsFile":
                data = self.state.lfs_objects.get(value["oid"])
                if data is None:
                    self._error(422, f"emulator: LFS object of {value['path']} is missing")
                    return
                files[value["path"]] = data
                lfs.add(value["path"])
            elif key == "deletedFile":
                if value["path"] not in files:
                    self._error(404, "A file with this name doesn't exist", "EntryNotFound")
                    return
                del files[value["path"]]
                lfs.discard(value["path"])
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                for path in [p for p in files if p.startswith(prefix)]:
                    del files[path]
                    lfs.discard(path)
        oid = self.state.new_oid(repo_id)
        repo.commits[oid] = Commit(oid, base.oid, summary, files, lfs)
        answer: dict[str, Any] = {"commitOid": oid}
        if self.query.get("create_pr") == "1":
            number = 1 + sum(ref.startswith("refs/pr/") for ref in repo.refs)
            repo.refs[f"refs/pr/{number}"] = oid
            answer["pullRequestUrl"] = f"{self._base()}/datasets/{repo_id}/discussions/{number}"
        else:
            repo.refs[unquote(revision)] = oid
        answer["commitUrl"] = f"{self._base()}/datasets/{repo_id}/commit/{oid}"
        self._send(200, answer)

    def create_branch(self, body: bytes, repo_id: str, branch: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        branch = unquote(branch)
        if branch in repo.refs:
            self._error(409, "Reference already exists")
            return
        start = (json.loads(body) if body else {}).get("startingPoint") or "main"
        commit = self._commit(repo, start)
        if commit is not None:
            repo.refs[branch] = commit.oid
            self._send(200, {})

    def refs(self, _body: bytes, repo_id: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return

        def ref(name: str, oid: str) -> dict[str, str]:
            return {"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}

        branches = [ref(n, o) for n, o in repo.refs.items() if not n.startswith("refs/")]
        pulls = [
            {"name": n, "ref": n, "targetCommit": o}
            for n, o in repo.refs.items()
            if n.startswith("refs/pr/")
        ]
        self._send(200, {"branches": branches, "tags": [], "converts": [], "pullRequests": pulls})

    def tree(self, _body: bytes, repo_id: str, revision: str, folder: str | None = None) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        commit = self._commit(repo, revision)
        if commit is None:
            return
        folder = unquote(folder or "").strip("/")
        prefix = f"{folder}/" if folder else ""
        folders = self._folders(commit)
        if folder and folder not in folders:
            self._error(404, "Entry not found", "EntryNotFound")
            return
        recursive = self.query.get("recursive", "").lower() in ("1", "true")

        def wanted(path: str) -> bool:
            rest = path[len(prefix) :]
            return path.startswith(prefix) and bool(rest) and (recursive or "/" not in rest)

        entries = [{"type": "directory", "path": d, "oid": "0" * 40, "size": 0} for d in folders]
        entries = [e for e in entries if wanted(e["path"])]
        entries += [self._entry(commit, p) for p in sorted(commit.files) if wanted(p)]
        self._send(200, entries)

    def paths_info(self, body: bytes, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        commit = self._commit(repo, revision)
        if commit is None:
            return
        form = parse_qs(body.decode()) if body else {}
        if self.headers.get("Content-Type", "").startswith("application/json"):
            form = {"paths": json.loads(body).get("paths", [])}
        folders = self._folders(commit)
        found = []
        for path in form.get("paths", []):
            if path in commit.files:
                found.append(self._entry(commit, path))
            elif path in folders:
                found.append({"type": "directory", "path": path, "oid": "0" * 40, "size": 0})
        self._send(200, found)

    def resolve(self, _body: bytes, repo_id: str, revision: str, path: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        commit = self._commit(repo, revision)
        if commit is None:
            return
        path = unquote(path)
        if path not in commit.files:
            self._error(404, "Entry not found", "EntryNotFound")
            return
        data = commit.files[path]
        entry = self._entry(commit, path)
        etag = entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes"}
        if "lfs" in entry:
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = str(len(data))
        status = 200
        span = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if span:
            start = int(span.group(1) or 0)
            end = int(span.group(2)) if span.group(2) else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        self._send(status, data, headers)

    def whoami(self, _body: bytes) -> None:
        self._send(
            200,
            {
                "type": "user",
                "name": "tester",
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"role": "write"}},
            },
        )


_REPO = r"/api/datasets/([^/]+/[^/]+)"
# Request paths, for HubState.inject and HubState.count.
COMMIT = r"/api/datasets/[^/]+/[^/]+/commit/.+"
REPO_INFO = r"/api/datasets/[^/]+/[^/]+(?:/revision/.+)?"
RESOLVE = r"/datasets/[^/]+/[^/]+/resolve/.+"
ROUTES: list[tuple[str, str, Any]] = [
    (r"/api/whoami-v2", "GET", _Handler.whoami),
    (r"/api/repos/create", "POST", _Handler.create_repo),
    (r"/api/validate-yaml", "POST", _Handler.validate_yaml),
    (_REPO + r"/preupload/([^/]+)", "POST", _Handler.preupload),
    (_REPO + r"/commit/([^/]+)", "POST", _Handler.commit),
    (_REPO + r"/branch/([^/]+)", "POST", _Handler.create_branch),
    (_REPO + r"/refs", "GET", _Handler.refs),
    (_REPO + r"/tree/([^/]+)(?:/(.*))?", "GET", _Handler.tree),
    (_REPO + r"/paths-info/([^/]+)", "POST", _Handler.paths_info),
    (_REPO + r"/revision/([^/]+)", "GET", _Handler.repo_info),
    (_REPO, "GET", _Handler.repo_info),
    (r"/datasets/([^/]+/[^/]+)\.git/info/lfs/objects/batch", "POST", _Handler.lfs_batch),
    (r"/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", "GET", _Handler.resolve),
    (r"/lfs-upload/([0-9a-f]{64})", "PUT", _Handler.lfs_upload),
    (r"/lfs-verify/([0-9a-f]{64})", "POST", _Handler.lfs_verify),
]


def closed_port_endpoint() -> str:
    """An endpoint on 127.0.0.1 where nothing listens: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def silent_endpoint() -> Iterator[str]:
    """An endpoint on 127.0.0.1 where a connection is never made, as with a host that drops
    every packet: a listening socket that never accepts, its accept queue filled first, so
    that the kernel drops every further SYN and a client's connect waits until it times out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        address = server.getsockname()
        fillers = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(4)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(address)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.settimeout(0.5)
                try:
                    probe.connect(address)
                except TimeoutError:
                    pass
                else:
                    raise RuntimeError("the accept queue did not fill: connects still complete")
            yield f"http://127.0.0.1:{address[1]}"
        finally:
            for filler in fillers:
                filler.close()


class HubEmulator:
    """``with HubEmulator(token) as hub: hub.endpoint ...``; ``hub.state`` holds the repos."""

    def __init__(self, token: str = "hf_emulator_token") -> None:
        self.state = HubState(token)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HubEmulator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.stopped.set()
        self.server.shutdown()
        self.server.server_close()

    def repo(self, repo_id: str) -> Repo:
        return self.state.repos[repo_id]

    def resolve_url(self, repo_id: str, revision: str, path: str) -> str:
        return f"{self.endpoint}/datasets/{repo_id}/resolve/{quote(revision, safe='')}/{path}"
