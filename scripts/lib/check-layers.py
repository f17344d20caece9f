"""scripts/diff-stages --check: v15's directories are layers, and a layer
includes only itself and the layers below it: base/ (what any program
could use), then net/ (the reactor), http/ (HTTP on the reactor), app/
(the server's main, configuration and daemon). The echo example under
examples/ is built on base/ and net/ alone. One line per include that
reaches up (or outside the layers), so the layering the chapter draws is
the one the code keeps."""

import re
import sys
from pathlib import Path

STAGE = "v15_cpp_reactor"
# Each directory and what its files may include, besides themselves.
MAY_INCLUDE = {
    "base": [],
    "net": ["base"],
    "http": ["base", "net"],
    "app": ["base", "net", "http"],
    "examples": ["base", "net"],
}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def bad_includes(stage, layer):
    """(file, line number, included path) of each include in layer's files
    that names neither the layer itself nor one it may include."""
    allowed = {layer, *MAY_INCLUDE[layer]}
    found = []
    for path in sorted((stage / layer).rglob("*")):
        if path.suffix not in {".h", ".cc"}:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            match = INCLUDE.match(line)
            if match and match.group(1).split("/")[0] not in allowed:
                found.append((path.relative_to(stage.parent), n,
                              match.group(1)))
    return found


def main(root):
    stage = root / STAGE
    problems = []
    for layer in MAY_INCLUDE:
        if (stage / layer).is_dir():
            problems += bad_includes(stage, layer)
    for path, n, included in problems:
        layer = path.parts[1]
        allowed = ", ".join(f"{d}/" for d in [layer, *MAY_INCLUDE[layer]])
        print(f'{path}:{n}: {layer}/ includes "{included}"; it may include '
              f"only {allowed}")
    if problems:
        print(f"diff-stages --check: {len(problems)} include(s) reach above "
              f"their layer in {STAGE}")
        return 1
    print(f"diff-stages --check: {STAGE}'s layers include only downwards")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
