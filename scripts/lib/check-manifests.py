"""scripts/diff-stages --check, second part: what the manifests claim.

- Features add up: a stage keeps every feature of the stage before it,
  unless its [replaces] table names that feature with a reason.
- Each stage can be told from the one before it: it adds a feature or drops
  a limitation that a test checks, so some test runs (or passes) on it that
  fails on the one before. scripts/stage-deltas runs that claim.
- Every feature the suite knows (tests/conftest.py's FEATURES) turns on at
  least one test (@pytest.mark.needs with that feature), and every feature
  a manifest lists is one the suite knows."""

import ast
import sys
import tomllib
from pathlib import Path


def load(stage_dir):
    with open(stage_dir / "manifest.toml", "rb") as f:
        m = tomllib.load(f)
    return (set(m.get("features", [])), dict(m.get("replaces", {})),
            set(m.get("limitations", {})))


def known_features(tests_dir):
    """The FEATURES set literal of tests/conftest.py."""
    tree = ast.parse((tests_dir / "conftest.py").read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "FEATURES"):
            return set(ast.literal_eval(node.value))
    raise SystemExit("tests/conftest.py: no FEATURES = {...}")


def marked(tests_dir, mark):
    """Every name given to a mark (needs, limitation) in tests/*.py."""
    found = set()
    for path in sorted(tests_dir.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == mark):
                found.update(a.value for a in node.args
                             if isinstance(a, ast.Constant))
    return found


def stage_problems(prev, cur, checked):
    """What is wrong going from stage prev to stage cur (both directories);
    checked: the limitations some test carries."""
    problems = []
    features, replaces, limitations = load(cur)
    old_features, _, old_limitations = load(prev)
    for f in sorted(old_features - features - set(replaces)):
        problems.append(
            f"{cur.name}: drops feature {f!r} of {prev.name}; keep it, or "
            f"name it in [replaces] with the reason")
    for f in sorted(set(replaces) - old_features):
        problems.append(f"{cur.name}: [replaces] names {f!r}, which "
                        f"{prev.name} does not have")
    if not features - old_features and not (
            (old_limitations - limitations) & checked):
        problems.append(
            f"{cur.name}: adds no feature and drops no limitation (that a "
            f"test checks) of {prev.name}, so no test can tell the two apart")
    return problems


def main(root):
    stages = sorted(p for p in root.glob("v[0-9][0-9]_*")
                    if (p / "manifest.toml").exists())
    known = known_features(root / "tests")
    needed = marked(root / "tests", "needs")
    checked = marked(root / "tests", "limitation")
    problems = []
    for f in sorted(known - needed):
        problems.append(f"tests: no test needs feature {f!r}, so declaring "
                        "it selects nothing")
    for cur in stages:
        for f in sorted(load(cur)[0] - known):
            problems.append(f"{cur.name}: feature {f!r} is not in "
                            "tests/conftest.py's FEATURES")
    for prev, cur in zip(stages, stages[1:]):
        problems += stage_problems(prev, cur, checked)
    for p in problems:
        print(p)
    if problems:
        print(f"diff-stages --check: {len(problems)} problem(s) with what "
              "the manifests claim")
        return 1
    print(f"diff-stages --check: features add up over {len(stages)} stages "
          "(but for [replaces]), each stage adds a feature or drops a "
          f"limitation, and each of {len(known)} features selects a test")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
