"""report.py: what bench.py measured, as tables (terminal and Markdown),
charts (SVG drawn by gnuplot into docs/img/) and the generated part of
docs/performance.md, between its bench:begin and bench:end markers.

Run on its own it redraws everything from bench/results/latest.json:
    /usr/bin/python3 bench/report.py
"""

import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BEGIN = "<!-- bench:begin: bench/run writes from here to bench:end -->"
END = "<!-- bench:end -->"
SCENARIO_SHORT = {"small": "13 B keep-alive", "4k": "4 KiB keep-alive",
                  "1m": "1 MiB keep-alive", "close": "conn per request",
                  "php": "PHP (php-fpm)"}


# --- numbers ---------------------------------------------------------------------


def spread(stat, fmt, unit=""):
    """'median (min–max)' of one summarized figure, or '–'."""
    if not stat:
        return "–"
    med, lo, hi = (format(stat[k], fmt) for k in ("median", "min", "max"))
    if lo == hi:
        return f"{med}{unit}"
    return f"{med}{unit} ({lo}–{hi})"


def ratio(stat):
    return spread(stat, ".2f", "×")


COARSE_CPU_S = 0.2  # below this much server CPU per run, ticks show


def runs_note(entry):
    """What a reader should know about how these runs went."""
    notes = []
    if entry["ok"] < entry["asked"]:
        notes.append(f"{entry['ok']} of {entry['asked']} runs")
    cpu = [r["cpu_s"] for r in entry["runs"] if r and "cpu_s" in r]
    if cpu and max(cpu) < COARSE_CPU_S:
        # /proc reports CPU time in 10 ms ticks (USER_HZ = 100).
        notes.append(f"CPU coarse: {max(cpu) * 1000:.0f} ms or less per run, "
                     f"read in 10 ms ticks")
    return "; ".join(notes)


def errors_total(entry):
    return sum(r["errors"] for r in entry["runs"] if r)


def server_order(data):
    s = data["servers"]
    return s["http"] + s["peers"]


# --- tables ----------------------------------------------------------------------


def http_rows(data, key):
    rows = []
    table = data["http"][key]
    for name in server_order(data):
        if name not in table:
            continue
        e = table[name]
        note = runs_note(e)
        if name == "v06":
            note = "; ".join(filter(None, [
                "answers its request-inspector page, not the file", note]))
        rows.append([name, spread(e.get("cpu_us"), ".1f"),
                     ratio(e.get("cpu_ratio")),
                     spread(e.get("with_client_cpu_us"), ".1f"),
                     ratio(e.get("with_client_cpu_ratio")),
                     spread(e.get("rps"), ",.0f"), ratio(e.get("rps_ratio")),
                     spread(e.get("p99_ms"), ".2f"), str(errors_total(e)),
                     note])
    return rows


HTTP_HEAD = ["server", "CPU µs/req", "CPU vs best peer",
             "with wrk's µs/req", "with wrk's vs best peer", "req/s",
             "req/s vs best peer", "p99 ms", "errors", "note"]


def memory_rows(data):
    rows = []
    mem = data["memory"]
    notes = data.get("memory_notes", {})
    for name in server_order(data):
        row, row_notes = [name], []
        for count in mem:
            e = mem[count].get(name)
            row += [spread(e.get("kib_per_conn"), ".2f") if e else "–",
                    ratio(e.get("kib_ratio")) if e else "–"]
            note = notes.get(count, {}).get(name)
            if note and note not in row_notes:
                row_notes.append(f"{int(count):,}: {note}" if e else note)
        rows.append(row + ["; ".join(row_notes)])
    return rows


def memory_head(data):
    head = ["server"]
    for count in data["memory"]:
        head += [f"KiB per conn, {int(count):,} idle", "vs best peer"]
    return head + ["note"]


def echo_rows(data):
    rows = []
    for stage in data["servers"]["echo"]:
        for clients, table in data["echo"].items():
            e = table[stage]
            wait = e.get("longest_wait_us")
            rows.append([stage, clients, spread(e.get("cpu_us"), ".1f"),
                         spread(e.get("rps"), ",.0f"),
                         spread(_scaled(e.get("p99_us"), 1e-3), ".2f"),
                         spread(_scaled(wait, 1e-3), ",.0f"),
                         runs_note(e)])
    return rows


ECHO_HEAD = ["stage", "clients", "CPU µs/round trip", "round trips/s",
             "p99 ms", "longest wait ms", "note"]


LOGGING_HEAD = ["access_log", "CPU µs/req", "CPU on/off, same round",
                "req/s", "p99 ms", "errors", "note"]


def logging_rows(data):
    rows = []
    for setting, e in data["logging"]["runs"].items():
        rows.append([setting, spread(e.get("cpu_us"), ".1f"),
                     ratio(e.get("cpu_ratio")) if setting == "on" else "–",
                     spread(e.get("rps"), ",.0f"),
                     spread(e.get("p99_ms"), ".2f"), str(errors_total(e)),
                     runs_note(e)])
    return rows


def logging_title(data):
    log = data["logging"]
    scenario = data["scenarios"][log["scenario"]]["title"]
    return f"access log on against off: {log['stage']}, {scenario}"


ALLOC_HEAD = ["scenario", "allocations per request", "requests counted",
              "errors"]


def allocation_rows(data):
    rows = []
    for key, result in data["allocations"]["runs"].items():
        title = data["scenarios"][key]["title"]
        if result is None:
            rows.append([title, "failed", "–", "–"])
            continue
        rows.append([title, f"{result['allocations_per_request']:.2f}",
                     f"{result['requests']:,}", str(result["errors"])])
    return rows


def allocation_title(data):
    return (f"heap allocations per request: {data['allocations']['stage']}, "
            f"one run each after a warm-up (tests/alloc_counter.c preloaded)")


def _scaled(stat, factor):
    return stat and {k: v * factor for k, v in stat.items()}


def text_table(head, rows):
    rows = [r for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))
    return "\n".join([line(head), line(["-" * w for w in widths])]
                     + [line(r) for r in rows])


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


def sections(data):
    """(title, head, rows) of every table, in the order they are shown."""
    out = []
    if "echo" in data:
        out.append(("echo stages: sessions of 10 round trips of 64 bytes, "
                    "1 ms think time", ECHO_HEAD, echo_rows(data)))
    for key, table in data.get("http", {}).items():
        if table:
            out.append((data["scenarios"][key]["title"], HTTP_HEAD,
                        http_rows(data, key)))
    if "memory" in data:
        out.append(("resident memory per idle keep-alive connection (KiB)",
                    memory_head(data), memory_rows(data)))
    if "logging" in data:
        out.append((logging_title(data), LOGGING_HEAD, logging_rows(data)))
    if "allocations" in data:
        out.append((allocation_title(data), ALLOC_HEAD, allocation_rows(data)))
    return out


def text_tables(data):
    s = data["settings"]
    parts = [f"median of {s['rounds']} rounds (min–max); ratios against the "
             f"best of the peers in the same round (CPU, memory: lower is "
             f"better; req/s: higher is better)"]
    for title, head, rows in sections(data):
        parts.append(f"\n{title}\n" + text_table(head, rows))
    return "\n".join(parts)


# --- charts ----------------------------------------------------------------------


def bar_chart(path, title, ylabel, groups, series, value, log=False):
    """A clustered bar chart: one cluster per group, one bar per series,
    value(group, series) the height (None: no bar). Drawn by gnuplot."""
    with tempfile.TemporaryDirectory() as tmp:
        dat = Path(tmp) / "data"
        lines = ["group " + " ".join(f'"{s}"' for s in series)]
        values = []
        for g in groups:
            cells = []
            for s in series:
                v = value(g, s)
                cells.append("?" if v is None else f"{v:.6g}")
                if v:
                    values.append(v)
            lines.append(f'"{g}" ' + " ".join(cells))
        # On a log scale a bar starts at the bottom of the graph: start it
        # a power of ten below the smallest value, so that every bar shows.
        bottom = 10 ** math.floor(math.log10(min(values) / 2)) if values else 1
        dat.write_text("\n".join(lines) + "\n")
        plots = [f"'{dat}' using 2:xtic(1) title columnheader(2)"]
        plots += [f"'' using {i}:xtic(1) title columnheader({i})"
                  for i in range(3, len(series) + 2)]
        script = "\n".join([
            "set terminal svg size 900,440 dynamic enhanced "
            "font 'Helvetica,12' background rgb 'white'",
            f"set output '{path}'",
            f'set title "{title}"',
            f'set ylabel "{ylabel}"',
            "set style data histograms",
            "set style histogram clustered gap 1",
            "set style fill solid 0.85 border -1",
            "set boxwidth 0.9",
            "set datafile missing '?'",
            "set grid ytics",
            "set key outside right top",
            "set xtics nomirror scale 0",
            f"set logscale y; set yrange [{bottom:g}:*]" if log
            else "set yrange [0:*]",
            "plot " + ", ".join(plots),
        ]) + "\n"
        subprocess.run(["gnuplot"], input=script, text=True, check=True)


def median(entry, key):
    stat = entry.get(key) if entry else None
    return stat["median"] if stat else None


def draw_charts(data, img):
    """Draws every chart the data allows; returns the files drawn."""
    img.mkdir(parents=True, exist_ok=True)
    drawn = []
    servers = server_order(data)
    http = data.get("http", {})
    scenarios = [k for k in http if http[k]]
    if scenarios:
        for name, key, label in [
                ("rps-by-stage.svg", "rps", "requests/s (median, log scale)"),
                ("cpu-by-stage.svg", "cpu_us",
                 "server CPU µs per request (median, log scale)")]:
            path = img / name
            bar_chart(path, label.split(" (")[0] + " by stage and peer",
                      label, servers, [SCENARIO_SHORT[k] for k in scenarios],
                      lambda g, s, key=key: median(
                          http[_key_of(s)].get(g), key), log=True)
            drawn.append(path)
    if "memory" in data:
        mem = data["memory"]
        path = img / "mem-per-conn.svg"
        bar_chart(path, "resident memory per idle keep-alive connection",
                  "KiB per connection (median)", servers,
                  [f"{int(c):,} idle" for c in mem],
                  lambda g, s: median(mem[_count_of(s)].get(g),
                                      "kib_per_conn"))
        drawn.append(path)
    if "echo" in data:
        echo = data["echo"]
        path = img / "echo-by-stage.svg"
        bar_chart(path, "echo stages: round trips per second",
                  "round trips/s (median, log scale)",
                  data["servers"]["echo"],
                  [f"{c} client{'s' if c != '1' else ''}" for c in echo],
                  lambda g, s: median(echo[s.split()[0]].get(g), "rps"),
                  log=True)
        drawn.append(path)
    newest = data["servers"]["http"][-1] if data["servers"]["http"] else None
    if scenarios and newest and data["servers"]["peers"]:
        path = img / f"{newest}-vs-peers.svg"
        bar_chart(path, f"{newest} against nginx, lighttpd and h2o: server "
                  f"CPU time per request",
                  "relative to the best peer (1 = best, lower is better)",
                  [SCENARIO_SHORT[k] for k in scenarios
                   if newest in http[k]],
                  [newest] + data["servers"]["peers"],
                  lambda g, s: median(http[_key_of(g)].get(s), "cpu_ratio"))
        drawn.append(path)
        for stale in img.glob("v*-vs-peers.svg"):
            if stale != path:
                stale.unlink()
    return drawn


def _key_of(short):
    return next(k for k, v in SCENARIO_SHORT.items() if v == short)


def _count_of(label):
    return label.split()[0].replace(",", "")


# --- docs/performance.md -------------------------------------------------------------


def generated_section(data, drawn, docs):
    s, m, v = data["settings"], data["machine"], data["versions"]
    peers = ", ".join(x for x in (v.get("nginx"), v.get("lighttpd"),
                                  v.get("h2o")) if x)
    tools = ", ".join(x for x in (v.get("wrk"), v.get("php-fpm")) if x)
    how = (f"`bench/run{' --quick' if data['mode'] == 'quick' else ''}`: "
           f"{s['rounds']} interleaved rounds, wrk runs of {s['seconds']} s, "
           f"echo runs of {s['echo_seconds']} s")
    out = [BEGIN, "",
           f"Measured {data['generated']} at commit `{data['commit']}` with "
           f"{how}; took {data['seconds'] // 60} min {data['seconds'] % 60} s. "
           f"Machine: {m['cpu']}, {m['cpus']} cores, {m['memory_gib']} GiB, "
           f"Linux {m['kernel']}. Peers: {peers}; with {tools}.",
           "",
           "Every figure is the median of the rounds with the min–max spread "
           "in brackets. *vs best peer* divides by the best of nginx, "
           "lighttpd and h2o in the same round (CPU and memory: lower is "
           "better; req/s: higher is better).", ""]
    for path in drawn:
        rel = path.relative_to(docs)
        out += [f"![{path.stem}]({rel})", ""]
    for title, head, rows in sections(data):
        out += [f"#### {title[0].upper() + title[1:]}", "", md_table(head, rows),
                ""]
    if data.get("problems"):
        out += ["#### Problems seen during the run", ""]
        out += [f"- {p}" for p in data["problems"]] + [""]
    out.append(END)
    return "\n".join(out)


def write_docs(data, root):
    """Draws the charts and rewrites the generated part of
    docs/performance.md; returns the paths written."""
    docs = root / "docs"
    written = []
    if shutil.which("gnuplot"):
        written += draw_charts(data, docs / "img")
    else:
        print("report: gnuplot is missing, no charts drawn", file=sys.stderr)
    page = docs / "performance.md"
    section = generated_section(data, written, docs)
    text = page.read_text() if page.exists() else (
        "# Performance\n\n## bench\n\n" + BEGIN + "\n" + END + "\n")
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + "\n\n" + BEGIN + "\n" + END + "\n"
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END),
                  lambda _: section, text, flags=re.S)
    page.write_text(text)
    return written + [page]


def main():
    root = Path(__file__).resolve().parent.parent
    data = json.loads((root / "bench/results/latest.json").read_text())
    print(text_tables(data))
    for path in write_docs(data, root):
        print(f"updated: {path.relative_to(root)}")


if __name__ == "__main__":
    main()
