"""scripts/diff-stages --check, the course map: docs/README.md's two tables
must say what the manifests say, so the page a learner starts from cannot
drift from what the suite runs.

- The limitations table: one row per limitation any manifest names, the
  stages it fails on (those whose manifest lists it), the stage it passes
  from (the next one), and tests that exist in the linked file and carry
  @pytest.mark.limitation with that name.
- The manifests table: for each stage, the features it adds to the stage
  before, the ones its [replaces] gives up, and its [limitations].

One line per problem: docs/README.md:LINE: what is wrong."""

import ast
import re
import sys
import tomllib
from pathlib import Path

TICKED = re.compile(r"`([^`]+)`")


def manifests(root):
    """(tag, manifest) for every stage, in order; tag is "v07"."""
    found = []
    for path in sorted(root.glob("v[0-9][0-9]_*/manifest.toml")):
        with open(path, "rb") as f:
            found.append((path.parent.name[:3], tomllib.load(f)))
    return found


def table_rows(lines, header_start):
    """(line number, cells) of the table whose header row starts so."""
    rows, inside = [], False
    for number, line in enumerate(lines, 1):
        if line.startswith(header_start):
            inside = True
        elif inside and line.startswith("|"):
            if not line.startswith("|---"):
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                rows.append((number, cells))
        elif inside:
            break
    return rows


def stage_range(tags):
    """"v06–v08" for v06, v07, v08; runs with gaps are joined by commas."""
    runs = []
    for tag in tags:
        if runs and int(tag[1:]) == int(runs[-1][-1][1:]) + 1:
            runs[-1].append(tag)
        else:
            runs.append([tag])
    return ", ".join(r[0] if len(r) == 1 else f"{r[0]}–{r[-1]}"
                     for r in runs)


def limitation_names(nodes):
    """The names given to pytest.mark.limitation(...) calls among nodes."""
    return {a.value for node in nodes for call in ast.walk(node)
            if isinstance(call, ast.Call)
            and getattr(call.func, "attr", None) == "limitation"
            for a in call.args if isinstance(a, ast.Constant)}


def limitation_marks(test_file):
    """{test function: limitation names it carries, its own decorators'
    and the module's pytestmark's}."""
    tree = ast.parse(test_file.read_text())
    module = limitation_names(
        node for node in tree.body if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "pytestmark" for t in node.targets))
    return {node.name: module | limitation_names(node.decorator_list)
            for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def check_limitations(root, stages, lines):
    problems = []
    tags = [tag for tag, _ in stages]
    listed = {}
    for tag, m in stages:
        for name in m.get("limitations", {}):
            listed.setdefault(name, []).append(tag)
    rows = table_rows(lines, "| limitation |")
    seen = set()
    for number, cells in rows:
        where = f"docs/README.md:{number}"
        name = cells[0].strip("`")
        seen.add(name)
        if name not in listed:
            problems.append(f"{where}: {name!r} is in no manifest's "
                            f"[limitations]")
            continue
        on = listed[name]
        after = tags.index(on[-1]) + 1
        passes = tags[after] if after < len(tags) else "—"
        if cells[1] != stage_range(on):
            problems.append(f"{where}: {name} fails on {stage_range(on)} "
                            f"by the manifests, not {cells[1]}")
        if cells[2] != passes:
            problems.append(f"{where}: {name} passes from {passes} by the "
                            f"manifests, not {cells[2]}")
        link = re.search(r"\]\(\.\./(tests/[\w.]+\.py)\)", cells[3])
        if not link or not (root / link.group(1)).is_file():
            problems.append(f"{where}: {name}: no link to an existing test "
                            f"file")
            continue
        marks = limitation_marks(root / link.group(1))
        for test in TICKED.findall(cells[3]):
            if name not in marks.get(test, set()):
                problems.append(f"{where}: {test} in {link.group(1)} is "
                                f"not marked limitation({name!r})")
    for name in sorted(set(listed) - seen):
        problems.append(f"docs/README.md: the limitations table has no row "
                        f"for {name!r} ({stage_range(listed[name])})")
    return problems


def check_manifest_table(stages, lines):
    problems = []
    rows = {cells[0]: (number, cells)
            for number, cells in table_rows(lines, "| stage | features")}
    before = []
    for tag, m in stages:
        features = m.get("features", [])
        want = [
            [f for f in features if f not in before],
            list(m.get("replaces", {})),
            list(m.get("limitations", {})),
        ]
        before = features
        if tag not in rows:
            problems.append(f"docs/README.md: the manifests table has no "
                            f"row for {tag}")
            continue
        number, cells = rows[tag]
        columns = ["features it adds", "[replaces]", "limitations"]
        for column, wanted, cell in zip(columns, want, cells[1:]):
            if set(TICKED.findall(cell)) != set(wanted):
                problems.append(
                    f"docs/README.md:{number}: {tag} {column}: the manifest "
                    f"says {', '.join(sorted(wanted)) or 'none'}")
    return problems


def main():
    root = Path(sys.argv[1])
    lines = (root / "docs" / "README.md").read_text().splitlines()
    stages = manifests(root)
    problems = (check_limitations(root, stages, lines)
                + check_manifest_table(stages, lines))
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(1)
    print(f"diff-stages --check: docs/README.md's tables match the "
          f"{len(stages)} manifests")


if __name__ == "__main__":
    main()
