"""scripts/diff-stages --check: the chapters tell the truth about the code.

A chapter (a stage's README.md) quotes its stage, and the code moves on
under it. This check fails, one line per problem, on:

1. a "What changed" table that is not the diffstat `scripts/diff-stages
   PREV CUR` prints (every stage with a stage before it, but a rewrite);
   `--fix` rewrites those tables in place (of the chapters of the stages
   named after ROOT, as v02 or v02_fork, or of all); the first stage's
   table gives each file's length in lines, and they must be right;
2. a quoted block (```c, ```cpp, ```c++, ```h, ```diff, ```toml, ```ini,
   ```php) that is not in the stage's files, whitespace aside. A line that is
   only `...`, `…`, `/* ... */` or `// ...` stands for any run of lines. In
   a ```diff block the `-` side must be in the stage before, the `+` side in
   this one. A block that is deliberately not the code (a sketch, the broken
   version an exercise asks for, pseudo-code) says so in its info string:
   ```c sketch
3. a stage that exists called "planned";
4. a relative link whose file, or whose heading (#anchor), is missing;
5. a `name()` in backticks that is in no stage up to this one, nor in
   tests/, scripts/, www/, libc (libc.so.6, a macro in its headers, a
   system call in the kernel's), or, for C++, the C++ library headers.
   Looked up in files, not man pages, so the answer is the same on every
   machine that can build the stages.

Checks 1, 2 and 5 read the chapters; 3 and 4 also README.md, docs/*.md and
bench/*.md.
"""

import ctypes
import functools
import glob
import re
import subprocess
import sys
import tomllib
from pathlib import Path

QUOTE_LANGS = {"c", "h", "cpp", "c++", "diff", "toml", "ini", "php"}
FENCE = re.compile(r"^(\s*)(```+|~~~+)(.*)$")
ELISION = re.compile(r"^(\.\.\.|…|/\*\s*(\.\.\.|…)\s*\*/|//\s*(\.\.\.|…))$")
LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
CALL = re.compile(r"`((?:[A-Za-z_~][\w~]*(?:::|\.|->))*([A-Za-z_~][\w~]*))"
                  r"\(\)`")
PLANNED = re.compile(r"\bplanned\b", re.I)


def problem(path, line, text):
    return f"{path}:{line}: {text}"


# --- reading a chapter ------------------------------------------------------

def fenced_blocks(lines):
    """(first line number, info string, body lines) of each fenced block;
    the first line number is the fence's, counting from 1."""
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, start, body = m.group(2), i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        blocks.append((start + 1, m.group(3).strip(), body))
        i += 1
    return blocks


def prose_lines(lines):
    """(line number, text) of each line outside fenced blocks."""
    inside = set()
    for start, _, body in fenced_blocks(lines):
        inside.update(range(start, start + len(body) + 2))
    return [(n, t) for n, t in enumerate(lines, 1) if n not in inside]


def without_code_spans(text):
    return re.sub(r"`[^`]*`", "``", text)


# --- 1. the "What changed" diffstat -----------------------------------------

def is_rewrite(stage):
    with open(stage / "manifest.toml", "rb") as f:
        return tomllib.load(f).get("rewrite", False) is True


def diffstat(root, prev, cur):
    out = subprocess.run([str(root / "scripts/diff-stages"), prev.name,
                          cur.name], capture_output=True, text=True,
                         check=True).stdout
    return out.split("\n\n", 1)[0].splitlines()


def table_block(lines):
    """The first fenced block under "## What changed", or None."""
    heading = next((n for n, t in enumerate(lines, 1)
                    if t.strip() == "## What changed"), None)
    if heading is None:
        return None
    after = [b for b in fenced_blocks(lines) if b[0] > heading]
    return after[0] if after else None


def check_table(root, prev, cur, lines, fix):
    rel = f"{cur.name}/README.md"
    block = table_block(lines)
    if block is None:
        return [problem(rel, 1, "no fenced diffstat under '## What changed'")]
    start, _, body = block
    want = diffstat(root, prev, cur)
    if body == want:
        return []
    if fix:
        lines[start:start + len(body)] = want
        return []
    return [problem(rel, start, "the 'What changed' table is not what "
                    f"scripts/diff-stages {prev.name[:3]} {cur.name[:3]} "
                    "prints (scripts/lib/check-chapters.py --fix rewrites it)")]


def check_line_counts(cur, lines):
    """The first stage's table lists each file and its length in lines."""
    rel = f"{cur.name}/README.md"
    block = table_block(lines)
    if block is None:
        return [problem(rel, 1, "no fenced table under '## What changed'")]
    start, _, body = block
    problems = []
    for n, row in enumerate(body, start + 1):
        m = re.match(r"\s*(\S+)\s+(\d+)\b", row)
        path = cur / m.group(1) if m else None
        if path is None or not path.is_file():
            problems.append(problem(rel, n, "not a 'file lines' row"))
        elif len(path.read_text().splitlines()) != int(m.group(2)):
            problems.append(problem(rel, n, f"{m.group(1)} has "
                                    f"{len(path.read_text().splitlines())} "
                                    f"lines, not {m.group(2)}"))
    return problems


# --- 2. quoted code ---------------------------------------------------------

def squash(text):
    return re.sub(r"\s+", " ", text).strip()


@functools.cache
def stage_texts(directory):
    """Whitespace-squashed text of every file of a stage (or www/) but the
    chapter."""
    texts = []
    for path in sorted(Path(directory).rglob("*")):
        if path.is_file() and path.name != "README.md":
            try:
                texts.append(squash(path.read_text()))
            except UnicodeDecodeError:
                continue
    return texts


def quoted_in(body, texts):
    """Whether the lines of body, split at elisions, appear in this order in
    one of texts."""
    pieces, piece = [], []
    for line in body + ["..."]:
        if ELISION.match(line.strip()):
            if squash("\n".join(piece)):
                pieces.append(squash("\n".join(piece)))
            piece = []
        else:
            piece.append(line)
    for text in texts:
        at = 0
        for p in pieces:
            at = text.find(p, at)
            if at < 0:
                break
            at += len(p)
        else:
            return True
    return False


def diff_sides(body):
    """The old and the new side of a quoted diff; a hunk header is an
    elision, as is `...` with or without the diff's leading space."""
    old, new = [], []
    for line in body:
        if line.startswith("@@") or ELISION.match(line.strip()):
            old.append("...")
            new.append("...")
        elif line.startswith("-"):
            old.append(line[1:])
        elif line.startswith("+"):
            new.append(line[1:])
        else:
            old.append(line[1:])
            new.append(line[1:])
    return old, new


def check_quotes(root, prev, cur, lines):
    rel = f"{cur.name}/README.md"
    here = stage_texts(cur) + stage_texts(root / "www")
    before = stage_texts(prev) if prev else []
    problems = []
    for start, info, body in fenced_blocks(lines):
        words = info.split()
        if not words or words[0] not in QUOTE_LANGS or "sketch" in words:
            continue
        if words[0] == "diff":
            old, new = diff_sides(body)
            if not quoted_in(old, before):
                problems.append(problem(rel, start, "the '-' side of this "
                                        "diff is not in the stage before"))
            if not quoted_in(new, here):
                problems.append(problem(rel, start, "the '+' side of this "
                                        f"diff is not in {cur.name}"))
        elif not quoted_in(body, here):
            problems.append(problem(rel, start, f"this {words[0]} block is "
                                    f"not in {cur.name}'s files (stale "
                                    f"quote? mark a sketch: ```{words[0]} "
                                    "sketch)"))
    return problems


# --- 3. "planned" stages that exist -----------------------------------------

def check_planned(root, path, lines, stages):
    """A line that says "planned" near (on it, or the lines either side) a
    stage's name or the word stage or chapter."""
    rel = path.relative_to(root)
    names = {s.name[:3] for s in stages}
    prose = dict(prose_lines(lines))
    problems = []
    for n, text in prose.items():
        if not PLANNED.search(text):
            continue
        near = " ".join(prose.get(i, "") for i in (n - 1, n, n + 1))
        if set(re.findall(r"\bv\d\d\b", near)) & names or \
                re.search(r"\b(stage|chapter)s?\b", near, re.I):
            problems.append(problem(rel, n, "a stage that exists is called "
                                    "planned: " + text.strip()))
    return problems


# --- 4. relative links ------------------------------------------------------

def slug(heading):
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@functools.cache
def anchors(path):
    seen, found = {}, set()
    for _, text in prose_lines(Path(path).read_text().splitlines()):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", text)
        if not m:
            continue
        base = slug(m.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def check_links(root, path, lines):
    rel = path.relative_to(root)
    problems = []
    for n, text in prose_lines(lines):
        for target in LINK.findall(without_code_spans(text)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.exists():
                problems.append(problem(rel, n, f"link to a missing file: "
                                        f"{target}"))
            elif anchor and dest.suffix == ".md" and \
                    anchor not in anchors(dest):
                problems.append(problem(rel, n, f"no heading '#{anchor}' "
                                        f"in {dest.relative_to(root)}"))
    return problems


# --- 5. functions named in backticks ----------------------------------------

@functools.cache
def libc():
    return ctypes.CDLL("libc.so.6")


@functools.cache
def libc_header_names():
    """The function-like macros (WIFEXITED, FD_SET) of libc's headers and the
    system calls (__NR_openat2) of the kernel's: Debian's libc6-dev and
    linux-libc-dev, which building the stages needs anyway."""
    files = subprocess.run(["dpkg", "-L", "libc6-dev", "linux-libc-dev"],
                           capture_output=True, text=True).stdout.split()
    names = set()
    for path in files:
        if path.endswith(".h") and Path(path).is_file():
            text = Path(path).read_text(errors="replace")
            names.update(re.findall(r"#\s*define\s+(\w+)\(", text))
            names.update(re.findall(r"\b__NR_(\w+)", text))
    return names


@functools.cache
def in_libc(name):
    try:
        getattr(libc(), name)
        return True
    except AttributeError:
        return name in libc_header_names()


def called_names(texts):
    """Every name followed by "(" in texts: what a file defines or calls."""
    return {name for t in texts
            for name in re.findall(r"([A-Za-z_~][\w~]*)\s*\(", t)}


@functools.cache
def cxx_library():
    return called_names(Path(p).read_text(errors="replace") for p in
                        glob.glob("/usr/include/c++/*/**/*", recursive=True)
                        if Path(p).is_file())


@functools.cache
def names_in(directory):
    return called_names(stage_texts(directory))


def is_cxx(stage):
    return any(stage.glob("*.cc")) or any(stage.glob("*.cpp"))


def known(root, stages, cur, full, name):
    """Whether name is in a stage up to cur, the tests, the scripts, libc
    or its headers, or (for a C++ stage, or std::) the C++ library."""
    places = stages[:stages.index(cur) + 1] + \
        [root / d for d in ("tests", "scripts", "www")]
    if any(name in names_in(p) for p in places) or in_libc(name):
        return True
    return (is_cxx(cur) or full.startswith("std::")) and name in cxx_library()


def check_calls(root, stages, cur, lines):
    rel = f"{cur.name}/README.md"
    problems = []
    for n, text in prose_lines(lines):
        for full, name in CALL.findall(text):
            if not known(root, stages, cur, full, name):
                problems.append(problem(rel, n, f"`{full}()` is in no stage "
                                        "up to this one, nor in tests/, "
                                        "scripts/, libc or its headers"))
    return problems


# --- putting it together ----------------------------------------------------

def check_chapter(root, stages, cur, fix):
    path = cur / "README.md"
    lines = path.read_text().splitlines()
    i = stages.index(cur)
    prev = stages[i - 1] if i > 0 else None
    problems = []
    if prev is None:
        problems += check_line_counts(cur, lines)
    elif not is_rewrite(cur):
        problems += check_table(root, prev, cur, lines, fix)
        if fix:
            path.write_text("\n".join(lines) + "\n")
    problems += check_quotes(root, prev, cur, lines)
    problems += check_calls(root, stages, cur, lines)
    return problems


def main(argv):
    fix = "--fix" in argv
    args = [a for a in argv if a != "--fix"]
    if not args:
        print("usage: check-chapters.py [--fix] ROOT [STAGE ...]",
              file=sys.stderr)
        return 2
    root = Path(args[0]).resolve()
    stages = sorted(p for p in root.glob("v[0-9][0-9]_*") if p.is_dir())
    chosen = [s for s in stages
              if not args[1:] or any(s.name.startswith(a) for a in args[1:])]
    problems = []
    for stage in chosen:
        problems += check_chapter(root, stages, stage, fix)
    docs = [s / "README.md" for s in chosen] + [root / "README.md"] + \
        sorted(root.glob("docs/*.md")) + sorted(root.glob("bench/*.md"))
    for path in docs:
        lines = path.read_text().splitlines()
        problems += check_planned(root, path, lines, stages)
        problems += check_links(root, path, lines)
    for p in problems:
        print(p)
    if not problems:
        print(f"diff-stages --check: {len(chosen)} chapters quote their code "
              "and diffstat as they are; links and names resolve")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
