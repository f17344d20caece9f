"""scripts/diff-stages --check: each stage's manifest `changes` must be
exactly the files that differ from the stage before it (added, removed or
changed; README.md and manifest.toml always change and are not listed). v01
lists all its files, and so does a stage whose manifest says `rewrite = true`
(v15, C++ in place of C: its lesson is a table of where each C function went,
not a diff). Build output and editor junk are ignored."""

import filecmp
import fnmatch
import sys
import tomllib
from pathlib import Path

ALWAYS_CHANGE = {"README.md", "manifest.toml"}
JUNK_DIRS = {"build", "build-*", "CMakeFiles", "__pycache__", ".cache",
             ".pytest_cache", ".vscode", ".idea"}
JUNK_FILES = {"*.o", "*.a", "*.so", "*.pyc", "*~", ".*.swp", ".DS_Store",
              "CMakeCache.txt", "compile_commands.json", "a.out"}


def junk(name, patterns):
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def files_of(stage_dir):
    """Relative paths of the stage's source files."""
    found = set()
    for path in sorted(stage_dir.rglob("*")):
        rel = path.relative_to(stage_dir)
        if any(junk(part, JUNK_DIRS) for part in rel.parts[:-1]):
            continue
        if path.is_dir() or junk(path.name, JUNK_FILES | JUNK_DIRS):
            continue
        found.add(rel.as_posix())
    return found - ALWAYS_CHANGE


def differing(prev_dir, cur_dir):
    """Files added, removed or changed going from prev_dir to cur_dir."""
    if prev_dir is None:
        return files_of(cur_dir)
    before, after = files_of(prev_dir), files_of(cur_dir)
    changed = {f for f in before & after
               if not filecmp.cmp(prev_dir / f, cur_dir / f, shallow=False)}
    return (before ^ after) | changed


def main(root):
    stages = sorted(p for p in root.glob("v[0-9][0-9]_*") if p.is_dir())
    problems = []
    prev = None
    for cur in stages:
        manifest = cur / "manifest.toml"
        if not manifest.exists():
            problems.append(f"{cur.name}: no manifest.toml")
            prev = cur
            continue
        try:
            with open(manifest, "rb") as f:
                data = tomllib.load(f)
            listed = data.get("changes")
            rewrite = data.get("rewrite", False) is True
        except tomllib.TOMLDecodeError as e:
            problems.append(f"{cur.name}: manifest.toml: {e}")
            prev = cur
            continue
        if not isinstance(listed, list):
            problems.append(f"{cur.name}: manifest.toml has no changes list")
            prev = cur
            continue
        if rewrite:
            prev = None
        base = prev.name if prev else "nothing (first stage or a rewrite)"
        actual = differing(prev, cur)
        for f in sorted(actual - set(listed)):
            problems.append(f"{cur.name}: {f} differs from {base} "
                            "but is not in changes")
        for f in sorted(set(listed) - actual):
            if prev and f in files_of(prev) and f in files_of(cur):
                why = f"is identical to {prev.name}/{f}"
            elif f in ALWAYS_CHANGE:
                why = "is implicit and must not be listed"
            else:
                why = f"exists in neither {cur.name} nor {base}"
            problems.append(f"{cur.name}: changes lists {f}, which {why}")
        prev = cur
    for p in problems:
        print(p)
    if problems:
        print(f"diff-stages --check: {len(problems)} mismatch(es) between "
              "manifests and stage contents")
        return 1
    print(f"diff-stages --check: {len(stages)} stages, every manifest's "
          "changes list matches its diff")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
