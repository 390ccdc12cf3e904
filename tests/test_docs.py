"""The docs cannot drift from the CLI (in the spirit of sqlite-utils' tests/test_docs.py).

- docs/cli.md is generated from the click commands (scripts/cli_reference.py) and must be
  current;
- the README's synopsis (the first code block under "## `karma-build`") has a line for every
  command, naming every option of it, and names no command or option that does not exist;
- every `karma-build COMMAND ...` in the Markdown docs (code blocks and inline code) names only
  options that COMMAND has;
- every `karma_plugin` module the docs name exists.

The commands are read from the click group itself, so a new command or option fails here until
it is documented, and each failure says what to write where.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from karma_plugin.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SYNOPSIS_HEADING = "## `karma-build`"


def _load_reference_script():
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "scripts/cli_reference.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference_script()
COMMANDS: dict[str, click.Command] = ref.commands(main)
REGENERATE = "then run `python scripts/cli_reference.py` and commit docs/cli.md"
# Options that every command takes (the group adds them), and --version (before the command).
GLOBAL_OPTIONS = frozenset({"-v", "--verbose", "-h", "--help", "--version"})
# An option as written on a command line: -o, --test-size (not the dash inside data-report/).
OPTION = re.compile(r"(?<![\w/.=*-])(--?[A-Za-z][\w-]*)")
# `karma-build COMMAND`, not the marker file `.karma-build` nor a path ending in it.
INVOCATION = re.compile(r"(?<![\w./-])karma-build\s+([a-z][\w-]*)")
# Where a command line written in the docs ends: a comment, a pipe, $(...), chained commands.
END_OF_COMMAND = re.compile(r"\s#|\s\|\s|&&|;|\)|`")


def markdown_files() -> list[Path]:
    files = [README, *sorted((ROOT / "docs").glob("*.md"))]
    for folder in ("lm_eval_tasks", "hub_cards", "axolotl_configs"):
        files += sorted((ROOT / folder).rglob("*.md"))
    return files


def option_names(command: click.Command) -> set[str]:
    return {name for option in ref.options(command) for name in ref.names(option)}


def named_options(text: str) -> list[str]:
    return OPTION.findall(text)


def how_to_write(command: click.Command) -> str:
    return " ".join(ref.synopsis_item(option) for option in ref.options(command))


# --- the README's synopsis -------------------------------------------------------------------


def synopsis_block(text: str) -> list[str]:
    """The lines of the first fenced code block after the synopsis heading."""
    lines = text.splitlines()
    start = lines.index(SYNOPSIS_HEADING)
    fences = [i for i in range(start + 1, len(lines)) if lines[i].startswith("```")]
    return lines[fences[0] + 1 : fences[1]]


def synopsis_entries(text: str) -> dict[str, str]:
    """``karma-build NAME ...`` lines of the synopsis (with their indented continuation lines)
    by NAME."""
    entries: dict[str, str] = {}
    current = None
    for line in synopsis_block(text):
        match = re.match(r"karma-build\s+([a-z][\w-]*)", line)  # not the `[-v] ...` line
        if match:
            current = match.group(1)
            entries[current] = entries.get(current, "") + " " + line[match.end() :]
        elif current and line[:1].isspace():
            entries[current] += " " + line
        else:
            current = None
    return entries


@pytest.fixture(scope="module")
def synopsis() -> dict[str, str]:
    return synopsis_entries(README.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", list(COMMANDS))
def test_readme_synopsis_names_every_option(synopsis, name):
    command = COMMANDS[name]
    where = f"README.md, in the code block under '{SYNOPSIS_HEADING}'"
    assert name in synopsis, (
        f"{where}: no line for `karma-build {name}`. Add the line\n"
        f"    karma-build {name} {how_to_write(command)}\n"
        f"(with its arguments: {ref.usage(command)}); {REGENERATE}."
    )
    named = set(named_options(synopsis[name]))
    missing = [o for o in ref.options(command) if not named & set(ref.names(o))]
    assert not missing, (
        f"{where}: the line of `karma-build {name}` does not name "
        f"{', '.join(ref.long_name(o) for o in missing)}. Add "
        f"`{' '.join(ref.synopsis_item(o) for o in missing)}` to it; {REGENERATE}."
    )


def test_readme_synopsis_names_only_commands_and_options_that_exist(synopsis):
    problems = []
    for name, text in synopsis.items():
        if name not in COMMANDS:
            problems.append(
                f"`karma-build {name}` is not a command (commands: {', '.join(COMMANDS)}): "
                "remove its line or correct the name"
            )
            continue
        known = option_names(COMMANDS[name]) | GLOBAL_OPTIONS
        for option in sorted(set(named_options(text)) - known):
            problems.append(
                f"`karma-build {name}` has no option {option}: remove it from its line or "
                f"correct it (its options: {', '.join(sorted(option_names(COMMANDS[name])))})"
            )
    assert not problems, f"README.md, the synopsis under '{SYNOPSIS_HEADING}':\n" + "\n".join(
        problems
    )


def test_readme_synopsis_lists_the_commands_in_the_groups_order(synopsis):
    listed = [name for name in synopsis if name in COMMANDS]
    assert listed == list(COMMANDS), (
        f"README.md, the synopsis under '{SYNOPSIS_HEADING}': list the commands in the order "
        f"of karma_plugin.cli.COMMANDS: {', '.join(COMMANDS)}"
    )


# --- the generated reference -----------------------------------------------------------------


def test_cli_reference_is_current():
    reference = ROOT / "docs" / "cli.md"
    current = reference.read_text(encoding="utf-8") if reference.exists() else ""
    assert current == ref.render(main), (
        "docs/cli.md is out of date with the commands: run `python scripts/cli_reference.py` "
        "(with this tree's package importable, e.g. after karma_use_tree) and commit docs/cli.md"
    )


# --- every command line in the docs ----------------------------------------------------------


def command_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of every `karma-build ...` in fenced code blocks (continuation lines
    joined) and in inline code spans, plus inline spans that start with a command name
    (`push --overwrite`)."""
    found: list[tuple[int, str]] = []
    in_block = False
    logical: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
            logical = None
            continue
        if in_block:
            continues = logical is not None and (
                logical[1].rstrip().endswith("\\")
                or (line[:1].isspace() and "karma-build" in logical[1])
            )
            if continues and logical is not None:
                found[-1] = (logical[0], logical[1].rstrip().rstrip("\\") + " " + line.strip())
                logical = found[-1]
            elif "karma-build" in line:
                logical = (number, line)
                found.append(logical)
            else:
                logical = None
            continue
        for span in re.findall(r"`([^`]+)`", line):
            first = span.split()[0] if span.split() else ""
            if "karma-build" in span or (first in COMMANDS and len(span.split()) > 1):
                found.append((number, span if "karma-build" in span else f"karma-build {span}"))
    return found


def invocations(line: str) -> list[tuple[str, str]]:
    """(command, its arguments) for each `karma-build COMMAND ...` in ``line``."""
    calls = []
    for match in INVOCATION.finditer(line):
        rest = line[match.end() :]
        nxt = INVOCATION.search(rest)
        rest = rest[: nxt.start()] if nxt else rest
        end = END_OF_COMMAND.search(rest)
        calls.append((match.group(1), rest[: end.start()] if end else rest))
    return calls


def test_docs_name_only_commands_and_options_that_exist():
    problems = []
    for path in markdown_files():
        for number, line in command_lines(path.read_text(encoding="utf-8")):
            for name, arguments in invocations(line):
                where = f"{path.relative_to(ROOT)}:{number}"
                if name not in COMMANDS:
                    problems.append(f"{where}: `karma-build {name}` is not a command")
                    continue
                known = option_names(COMMANDS[name]) | GLOBAL_OPTIONS
                for option in named_options(arguments):
                    if option not in known:
                        problems.append(
                            f"{where}: `karma-build {name}` has no option {option} "
                            f"(its options: {', '.join(sorted(option_names(COMMANDS[name])))})"
                        )
    assert not problems, "the docs name what the CLI does not have:\n" + "\n".join(problems)


# --- modules the docs name -------------------------------------------------------------------

# Installed names of the folders that ship inside the package (pyproject's package-dir).
PACKAGE_DIRS = {
    "karma_plugin.lm_eval_tasks": ROOT / "lm_eval_tasks",
    "karma_plugin.axolotl_configs": ROOT / "axolotl_configs",
    "karma_plugin.hub_cards": ROOT / "hub_cards",
}


def module_source(dotted: str) -> Path | None:
    """The file (module or package __init__) of a dotted module name in this tree."""
    for prefix, folder in PACKAGE_DIRS.items():
        if dotted == prefix or dotted.startswith(prefix + "."):
            base = (
                folder.joinpath(*dotted[len(prefix) + 1 :].split("."))
                if dotted != prefix
                else folder
            )
            break
    else:
        base = ROOT.joinpath(*dotted.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def top_level_names(source: Path) -> set[str]:
    """Names a module defines or imports at its top level."""
    names: set[str] = set()
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                # what the module exports, lazily too (karma_plugin's __getattr__, PEP 562)
                names |= set(ast.literal_eval(node.value)) if node.value else set()
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def resolves(dotted: str) -> bool:
    """A module of this tree, or a name defined at the top of one (``module.Class``)."""
    if module_source(dotted):
        return True
    module, _, attribute = dotted.rpartition(".")
    source = module_source(module) if module else None
    return source is not None and attribute in top_level_names(source)


def test_docs_name_only_modules_that_exist():
    problems = []
    for path in markdown_files():
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            where = f"{path.relative_to(ROOT)}:{number}"
            for file in re.findall(r"\bkarma_plugin/[\w/]+\.py\b", line):
                if not (ROOT / file).is_file():
                    problems.append(f"{where}: {file} does not exist")
            for dotted in re.findall(r"\bkarma_plugin(?:\.[A-Za-z_]\w*)+", line):
                if not resolves(dotted):
                    problems.append(f"{where}: {dotted} is not a module or name of the package")
    assert not problems, "the docs name code that is not there:\n" + "\n".join(problems)


# --- what a new user pastes ------------------------------------------------------------------

# "pip install ..." up to where the shell command ends.
PIP_INSTALL = re.compile(r"pip install\b([^\n#;&|`]*)")


def pip_from_an_index(text: str) -> list[tuple[int, str]]:
    """(line, text) of every `pip install` naming karma-plugin itself, which is on no index
    (install it from a clone: `pip install .`, `pip install '.[train]'`)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in PIP_INSTALL.finditer(line):
            names = [w.strip("'\"") for w in match.group(1).split()]
            if any(re.fullmatch(r"karma[-_]plugin(\[[\w,]+\])?", n) for n in names):
                found.append((number, line.strip()))
    return found


def shell_blocks(text: str) -> list[tuple[int, str]]:
    """(line, text) of every line of the ```bash blocks (the ones meant to be pasted)."""
    lines, shell = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            shell = not shell and line.strip() in ("```bash", "```sh", "```shell")
            continue
        if shell:
            lines.append((number, line))
    return lines


# A synopsis in a shell block: `[--private]` (an optional part) or `<commit sha>` (a
# placeholder the shell reads as a redirection). Outside strings and comments.
NOT_PASTEABLE = re.compile(r"\[--?[A-Za-z][^\]]*\]|<[A-Za-z][\w ]*>")


def unpasteable(text: str) -> list[tuple[int, str]]:
    found = []
    for number, line in shell_blocks(text):
        code = re.sub(r"'[^']*'|\"[^\"]*\"", "", line).split(" #", 1)[0]
        if not code.lstrip().startswith("#") and NOT_PASTEABLE.search(code):
            found.append((number, line.strip()))
    return found


def test_docs_install_karma_plugin_from_a_clone():
    problems = [
        f"{path.relative_to(ROOT)}:{number}: {line}"
        for path in markdown_files()
        for number, line in pip_from_an_index(path.read_text(encoding="utf-8"))
    ]
    assert not problems, (
        "karma-plugin is not on PyPI: say `pip install .` or `pip install '.[train]'` from a "
        "clone:\n" + "\n".join(problems)
    )


def test_shell_blocks_can_be_pasted():
    problems = [
        f"{path.relative_to(ROOT)}:{number}: {line}"
        for path in markdown_files()
        for number, line in unpasteable(path.read_text(encoding="utf-8"))
    ]
    assert not problems, (
        "a ```bash block holds synopsis syntax that fails when pasted (write the command "
        "without [--option] and <placeholder>, say the option in a comment, or use a plain "
        "``` block):\n" + "\n".join(problems)
    )


def test_the_paste_checks_catch_what_they_are_for():
    assert pip_from_an_index("pip install 'karma-plugin[train]'; x") == [
        (1, "pip install 'karma-plugin[train]'; x")
    ]
    assert pip_from_an_index("a\n    pip install karma_plugin 'lm-eval[hf]'")[0][0] == 2
    assert not pip_from_an_index("cd karma-plugin && pip install '.[train]'  # karma-plugin")
    block = "```bash\nkarma-build push x --repo-id A/B [--private]\n```\n"
    assert unpasteable(block) == [(2, "karma-build push x --repo-id A/B [--private]")]
    assert unpasteable("```bash\nx --revision <commit sha>\n```")
    assert not unpasteable("```\nkarma-build push [--private]\n```")  # a synopsis block
    assert not unpasteable("```bash\nx --revision SHA   # [--private] in a comment\n```")
    assert not unpasteable("```bash\npython -c 'print([x[-1]])'\n```")


# --- the checks themselves can fail ----------------------------------------------------------


def test_the_checks_catch_a_missing_and_an_unknown_option():
    """The parsers above on a broken synopsis: an option left out, one made up, a command
    missing, and an example naming an option the command lacks."""
    text = (
        f"{SYNOPSIS_HEADING}\n\n```\n"
        "karma-build push OUT --repo-id ORG/NAME [--private] [--frobnicate]\n"
        "                     [--dry-run]\n"
        "karma-lm-eval ...\n```\n"
    )
    entries = synopsis_entries(text)
    assert set(entries) == {"push"}
    named = set(named_options(entries["push"]))
    assert {"--repo-id", "--private", "--frobnicate", "--dry-run"} == named
    assert named - option_names(COMMANDS["push"]) - GLOBAL_OPTIONS == {"--frobnicate"}
    assert "--retries" in option_names(COMMANDS["push"]) - named
    assert "scores" not in entries
    example = "x\n```bash\nkarma-build pull ORG/NAME --frob \\\n   --config k_sim  # --out\n```\n"
    assert [
        (n, named_options(a)) for _, line in command_lines(example) for n, a in invocations(line)
    ] == [("pull", ["--frob", "--config"])]
    inline = (
        "use `binarize --splitt x` or "
        + '`lm_eval --include_path "$(karma-build tasks-path)" -t x`'
    )
    calls = [c for _, line in command_lines(inline) for c in invocations(line)]
    assert calls == [("binarize", " --splitt x"), ("tasks-path", "")]
    assert invocations("OUT/.karma-build   the marker") == []
    assert resolves("karma_plugin.core.kinship.Kinship")
    assert resolves("karma_plugin.axolotl_plugin.KarmaEvalPlugin")  # imported there
    assert resolves("karma_plugin.lm_eval_tasks")
    assert not resolves("karma_plugin.hub_faults")  # the module before the layout move
    assert not resolves("karma_plugin.core.kinship.NoSuchName")


def test_readme_python_api_example_runs(tmp_path):
    """The README's Python API block, run as written in a fresh folder: it builds the folder it
    names (as `karma-build binarize` would) and its dry-run push says what it would upload."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the Python API section has no ```python block"
    result = subprocess.run(
        [sys.executable, "-c", code.group(1)], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "out/karma/kinship.json").read_text(encoding="utf-8"))
    assert result.stdout.split()[0] == str(doc["counts"]["k_sim"]["pairs"]) != "0"
    assert (tmp_path / "out/karma/k_sim").is_dir() and (tmp_path / "out/karma/README.md").is_file()
