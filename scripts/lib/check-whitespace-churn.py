"""scripts/diff-stages --check: no line of a stage differs from the stage
before it only in the spaces inside it. Such a line is formatter churn
(a trailing comment or a macro value realigned because a neighbour grew),
and it hides the lines that carry the lesson. A line whose indentation
alone changed is not churn: the code moved into or out of a block. The
chapters (README.md) are prose and are not checked; nor is a rewrite
(v15: its diff is not its lesson)."""

import difflib
import re
import sys
import tomllib
from pathlib import Path

CODE_SUFFIXES = {".c", ".h", ".cc", ".hpp", ".txt", ".toml", ".py", ".sh",
                 ".php", ".conf"}


def is_rewrite(stage):
    with open(stage / "manifest.toml", "rb") as f:
        return tomllib.load(f).get("rewrite", False) is True


def churned_lines(before, after):
    """(line number in after, text) of each line that replaced a line of
    before differing only in spaces after the indentation."""
    inner = lambda line: re.sub(r"\s+", " ", line.strip())
    churn = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "replace":
            continue
        removed = {}
        for line in before[i1:i2]:
            removed.setdefault(inner(line), []).append(line)
        for j in range(j1, j2):
            line = after[j]
            twins = removed.get(inner(line))
            if inner(line) and twins and line.strip() not in (
                    t.strip() for t in twins):
                churn.append((j + 1, line))
    return churn


def main(root):
    stages = sorted(p for p in root.glob("v[0-9][0-9]_*") if p.is_dir())
    problems = []
    for prev, cur in zip(stages, stages[1:]):
        if is_rewrite(cur):
            continue
        for path in sorted(cur.rglob("*")):
            rel = path.relative_to(cur)
            old = prev / rel
            if path.suffix not in CODE_SUFFIXES or not old.is_file():
                continue
            churn = churned_lines(old.read_text().splitlines(),
                                  path.read_text().splitlines())
            problems += [f"{cur.name}/{rel}:{n}: only the spaces inside "
                         f"this line changed from {prev.name}: {text.strip()}"
                         for n, text in churn]
    for p in problems:
        print(p)
    if problems:
        print(f"diff-stages --check: {len(problems)} line(s) changed only "
              "in their spaces (formatter churn: clang-format -i, or "
              "undo the realignment)")
        return 1
    print("diff-stages --check: no line changed only in its spaces")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
