"""scripts/diff-stages --check: a rewrite's chapter says where every function
of the stage before it went.

A stage whose manifest says `rewrite = true` is not read as a diff: its
chapter's "## What changed" section maps the stage before it, function by
function, to the new code (scripts/diff-stages A B prints that section). This
check fails, one line per function, for each function defined in the
previous stage's .c files (static or not; the *_test.c files aside) that the
section does not name as `name()`.
"""

import re
import sys
import tomllib
from pathlib import Path

# A definition starts in column 0, and its parameter list is followed by its
# body's brace, not by a semicolon (which would make it a declaration).
DEFINITION = re.compile(r"^[A-Za-z_][\w \t*]*?\b(\w+)\(([^;{}]*?)\)\s*\{",
                        re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def functions(stage):
    """(file name, function name) of every function the stage defines."""
    found = []
    for path in sorted(stage.glob("*.c")):
        if path.name.endswith("_test.c"):
            continue
        text = COMMENT.sub("", path.read_text())
        found += [(path.name, m.group(1)) for m in DEFINITION.finditer(text)]
    return found


def what_changed(chapter):
    """The lines of the chapter's "## What changed" section."""
    section, inside = [], False
    for line in chapter.read_text().splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## What changed"
        elif inside:
            section.append(line)
    return "\n".join(section)


def is_rewrite(stage):
    with open(stage / "manifest.toml", "rb") as f:
        return tomllib.load(f).get("rewrite", False) is True


def main(root):
    stages = sorted(p for p in Path(root).glob("v[0-9][0-9]_*") if p.is_dir())
    problems = []
    for prev, cur in zip(stages, stages[1:]):
        if not is_rewrite(cur):
            continue
        named = set(re.findall(r"`(?:[\w:~]*::)?(\w+)\(\)`",
                               what_changed(cur / "README.md")))
        for file, name in functions(prev):
            if name not in named:
                problems.append(f"{cur.name}/README.md: What changed does "
                                f"not say where {prev.name[:3]}'s "
                                f"{name}() ({file}) went")
    for p in problems:
        print(p)
    if not problems:
        print("diff-stages --check: each rewrite's chapter says where every "
              "function of the stage before it went")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
