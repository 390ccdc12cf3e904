# Sourced by the other scripts.
#   karma_venv KIND      prints the path of a ready virtual environment for KIND, building it
#                        on first use: demo (light, no torch), test (Axolotl 0.19.0's pinned
#                        stack), latest (the newest releases, no constraints: what a plain
#                        `pip install .` resolves today).
#   karma_use_tree VENV  installs this working tree's package (not editable, as `pip install .`
#                        ships it) into a folder of its own for this run and puts it first on
#                        PYTHONPATH and PATH. The cached environment itself never holds the
#                        package, so two runs from different trees can share it safely.
#
# Environments live outside the clone, under $KARMA_CACHE_DIR, keyed by a hash of what decides
# their packages, so a repeated run reuses them and a changed dependency builds anew. An
# environment is built under a lock and marked complete last: an interrupted build is never
# reused, and two runs never build the same one at once.

KARMA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KARMA_CACHE_DIR="${KARMA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/karma-plugin}"
KARMA_PYTHON="${KARMA_PYTHON:-$(command -v python3.11 || command -v python3)}"

karma_log() { printf '[karma] %s\n' "$*" >&2; }

_karma_install() {  # KIND VENV
  local kind="$1" venv="$2" pip="$2/bin/pip"
  local quiet=(-q --disable-pip-version-check)
  "$pip" install "${quiet[@]}" --upgrade pip setuptools wheel >&2
  case "$kind" in
    demo)
      "$pip" install "${quiet[@]}" -c "$KARMA_ROOT/scripts/constraints.txt" "$KARMA_ROOT" >&2 ;;
    test)
      # torch first and pinned: the CPU build where the machine has it, never an unpinned pull.
      "$pip" install "${quiet[@]}" "torch==2.13.0" >&2
      "$pip" install "${quiet[@]}" -c "$KARMA_ROOT/scripts/constraints.txt" \
        "$KARMA_ROOT[train,test,analysis]" >&2 ;;
    latest)
      # No constraints: the newest release of everything, as a user without Axolotl gets it.
      # torch stays pinned (an eager upgrade would pull a CUDA build of several GB).
      "$pip" install "${quiet[@]}" --upgrade --upgrade-strategy eager "torch==2.13.0" \
        "$KARMA_ROOT[test,analysis]" "lm-eval[hf,ifeval]" >&2 ;;
    *) karma_log "unknown environment kind: $kind"; return 2 ;;
  esac
  if [ "$kind" != demo ]; then
    "$pip" uninstall "${quiet[@]}" -y karma-plugin >&2  # each run installs its own tree
  fi
}

karma_deps_hash() {  # KIND
  # Only what decides the installed packages: pyproject's dependency tables (an edit to its
  # metadata or tool settings reuses the environment), the constraints and the recipe above.
  {
    "$KARMA_PYTHON" -c 'import json, sys, tomllib
d = tomllib.load(open(sys.argv[1], "rb"))
print(json.dumps([d["build-system"], d["project"].get("dependencies"),
                  d["project"].get("optional-dependencies")], sort_keys=True))' \
      "$KARMA_ROOT/pyproject.toml"
    cat "$KARMA_ROOT/scripts/constraints.txt"
    declare -f _karma_install
    printf '%s\n' "$1"
  } | sha256sum | cut -c1-16
}

karma_venv() {  # KIND -> prints the venv path
  local kind="$1" venv
  venv="$KARMA_CACHE_DIR/venv-$kind-$(karma_deps_hash "$kind")"
  mkdir -p "$KARMA_CACHE_DIR"
  if [ ! -f "$venv/.karma-complete" ]; then
    # One builder at a time per environment; a run that waited then finds it complete.
    exec {lock}>"$venv.lock"
    flock "$lock"
    if [ ! -f "$venv/.karma-complete" ]; then
      karma_log "building the '$kind' environment in $venv (first run only; a few minutes)"
      # Built where it will live (a venv's scripts name its path); the marker comes last.
      rm -rf "$venv"
      if ! "$KARMA_PYTHON" -m venv "$venv" >&2 || ! _karma_install "$kind" "$venv"; then
        rm -rf "$venv"
        exec {lock}>&-
        karma_log "could not build the '$kind' environment"
        return 1
      fi
      touch "$venv/.karma-complete"
    fi
    exec {lock}>&-
  fi
  if [ "$kind" = demo ]; then
    # The quickstart's environment is the user's to keep using: it holds the package itself.
    _karma_pip_tree "$venv" --force-reinstall
  fi
  printf '%s\n' "$venv"
}

KARMA_SITES=()
_karma_remove_sites() { [ ${#KARMA_SITES[@]} -eq 0 ] || rm -rf "${KARMA_SITES[@]}"; }
trap _karma_remove_sites EXIT

_karma_pip_tree() {  # VENV PIP-OPTION...: pip install this tree (not editable)
  # setuptools builds in ./build and reuses it: a file renamed or removed in the tree would
  # still ship from there. Each install starts from an empty build folder, one at a time.
  local venv="$1"; shift
  flock "$KARMA_ROOT" bash -c 'rm -rf "$1/build" && shift && exec "$@"' _ "$KARMA_ROOT" \
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation \
    "$@" "$KARMA_ROOT" >&2
}

karma_use_tree() {  # VENV: install this tree for this run only (removed when the shell exits)
  local venv="$1" site
  site="$(mktemp -d "${TMPDIR:-/tmp}/karma-site.XXXXXX")"
  KARMA_SITES+=("$site")
  _karma_pip_tree "$venv" --no-compile --target "$site"
  export PYTHONPATH="$site" PATH="$site/bin:$venv/bin:$KARMA_BASE_PATH"
}
KARMA_BASE_PATH="$PATH"
