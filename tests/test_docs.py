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
import re
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
