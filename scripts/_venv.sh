# Sourced by the other scripts: `karma_venv KIND` prints the path of a ready virtual
# environment for KIND (demo | test | lm013), building it on first use.
#
# Environments live outside the clone, under $KARMA_CACHE_DIR, keyed by a hash of the
# dependency files, so a repeated run reuses them and a changed pyproject.toml builds anew.
# A half-built environment is never reused: it is built in a temporary folder and renamed.

KARMA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KARMA_CACHE_DIR="${KARMA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/karma-plugin}"
KARMA_PYTHON="${KARMA_PYTHON:-$(command -v python3.11 || command -v python3)}"

karma_log() { printf '[karma] %s\n' "$*" >&2; }

karma_deps_hash() {
  # Only what decides the installed packages: pyproject's dependency tables (an edit to its
  # metadata or tool settings reuses the environment), the constraints and this script.
  {
    "$KARMA_PYTHON" -c 'import json, sys, tomllib
d = tomllib.load(open(sys.argv[1], "rb"))
print(json.dumps([d["build-system"], d["project"].get("dependencies"),
                  d["project"].get("optional-dependencies")], sort_keys=True))' \
      "$KARMA_ROOT/pyproject.toml"
    cat "$KARMA_ROOT/scripts/constraints.txt" "$KARMA_ROOT/scripts/_venv.sh"
  } | sha256sum | cut -c1-16
}

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
    lm013)
      "$pip" install "${quiet[@]}" "torch==2.13.0" >&2
      grep -v '^lm_eval' "$KARMA_ROOT/scripts/constraints.txt" > "$venv/constraints-lm013.txt"
      "$pip" install "${quiet[@]}" -c "$venv/constraints-lm013.txt" \
        "$KARMA_ROOT[test,analysis]" "lm-eval[hf,ifeval]==0.4.13" >&2 ;;
    *) karma_log "unknown environment kind: $kind"; return 2 ;;
  esac
}

karma_venv() {  # KIND -> prints the venv path
  local kind="$1" venv
  venv="$KARMA_CACHE_DIR/venv-$kind-$(karma_deps_hash)"
  if [ ! -f "$venv/.karma-complete" ]; then
    karma_log "building the '$kind' environment in $venv (first run only; a few minutes)"
    rm -rf "$venv"  # a half-built environment from an interrupted run is never reused
    mkdir -p "$KARMA_CACHE_DIR"
    "$KARMA_PYTHON" -m venv "$venv" >&2
    if ! _karma_install "$kind" "$venv"; then
      rm -rf "$venv"
      karma_log "could not build the '$kind' environment"
      return 1
    fi
    touch "$venv/.karma-complete"
  fi
  # The package itself is reinstalled from the working tree every time (not editable), so
  # the tests exercise what `pip install .` ships.
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall \
    --no-build-isolation "$KARMA_ROOT" >&2
  printf '%s\n' "$venv"
}
