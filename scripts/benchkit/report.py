"""The report: one row per case, grouped by scenario, the goals with their verdicts, as text
and as Markdown, and the details of the machine the run was made on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional

from .cases import FAKE_REVISION_COUNTS, ORIG_REQUIREMENTS, Case
from .util import quiet_run
from .workspace import Workspace

GOAL_ADD_VS_ORIG = 5.0  # rezup add (minimal, warm) at least this many times faster
GOAL_ADD_VS_FLOOR = 1.25  # ... and at most this many times the bare-uv floor
GOAL_USE_OVERHEAD_MS = 25.0
GOAL_USE_FLAT_MS = 5.0
GOAL_PULL_VS_ADD = 1.5

GROUP_TITLES = {
    "add-minimal-warm": "add, minimal recipe, warm cache",
    "add-minimal-cold": "add, minimal recipe, cold cache",
    "add-studio-warm": "add, studio recipe, warm cache",
    "add-studio-cold": "add, studio recipe, cold cache",
    "use": "use: `rezup use -- PY -c pass` vs `PY -c pass`",
    "pull": "pull of a remote revision into an empty local root vs local add (minimal, warm)",
}

GROUP_SHORT = {
    "add-minimal-warm": "add minimal, warm",
    "add-minimal-cold": "add minimal, cold",
    "add-studio-warm": "add studio, warm",
    "add-studio-cold": "add studio, cold",
    "use": "use -- PY -c pass",
    "pull": "pull vs add",
}

LABELS = {
    "rezup": "rezup (this repo)",
    "uv": "bare uv (floor)",
    "orig": "rezup 2.x (original)",
    "python": "bare python",
    "rezup-1": "rezup, 1 revision",
    "rezup-100": "rezup, 100 revisions",
    "rezup-1000": "rezup, 1,000 revisions",
    "init": "rezup, 1 revision, [init] script",
    "baseline-1": "baseline rezup, 1 revision",
    "baseline": "baseline rezup (--baseline)",
    "pull": "rezup use (pull)",
    "add": "rezup add (local)",
}

Goal = tuple[str, str, Optional[bool]]  # goal, measured, passed (None: cannot be judged)


def fmt_seconds(value: Optional[float], unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1000:.1f}"
    return f"{value:.2f}"


@dataclass
class Row:
    case: Case
    label: str
    runs: str
    median: str
    span: str  # empty when the case has no successful run
    rss: str
    compare: str


def group_rows(group: str, cases: list[Case]) -> tuple[str, list[Row]]:
    """The unit of ``group`` and a row per case, compared with the group's reference case
    (bare python for use, the local add for pull, this repo's rezup for add)."""
    unit = "ms" if group == "use" else "s"
    by_label = {c.label: c for c in cases}
    reference = {"use": "python", "pull": "add"}.get(group, "rezup")
    ref_median = by_label[reference].median() if reference in by_label else None
    rows = []
    for case in cases:
        times = case.times()
        failures = case.failures()
        runs = f"{len(times)}" + (f" ({len(failures)} failed)" if failures else "")
        rss_values = [o.rss_kb for o in case.outcomes if o.rss_kb]
        rss = f"{max(rss_values) / 1024:.0f} MB" if rss_values else "-"
        median = case.median()
        if median is None:
            reason = case.failure_summary() or case.warmup_error
            rows.append(Row(case, LABELS.get(case.label, case.label), runs,
                            f"failed: {reason}" if reason else "not run", "", rss, ""))
            continue
        span = f"{fmt_seconds(min(times), unit)}-{fmt_seconds(max(times), unit)}"
        compare = ""
        if ref_median:
            if group == "use":
                if case.label != reference:
                    compare = f"{(median - ref_median) * 1000:+.1f} ms vs python"
            else:
                compare = f"{median / ref_median:.2f}x {reference}"
        rows.append(Row(case, LABELS.get(case.label, case.label), runs,
                        f"{fmt_seconds(median, unit)} {unit}", f"{span} {unit}", rss, compare))
    return unit, rows


def goals(cases: list[Case]) -> list[Goal]:
    """Each goal with what was measured and whether it passed (None when a case it needs
    has no median)."""
    by_id = {c.id: c for c in cases}

    def med(case_id: str) -> Optional[float]:
        case = by_id.get(case_id)
        return case.median() if case else None

    results: list[Goal] = []

    def judge(goal: str, measured: Optional[tuple[str, bool]]) -> None:
        results.append((goal, *measured) if measured else (goal, "n/a", None))

    new, orig, floor = (med("add-minimal-warm/rezup"), med("add-minimal-warm/orig"),
                        med("add-minimal-warm/uv"))
    judge(f"add minimal warm >= {GOAL_ADD_VS_ORIG:g}x faster than the original",
          (f"{orig / new:.2f}x faster", orig / new >= GOAL_ADD_VS_ORIG)
          if new and orig else None)
    judge(f"add minimal warm <= {GOAL_ADD_VS_FLOOR:g}x the bare-uv floor",
          (f"{new / floor:.2f}x", new / floor <= GOAL_ADD_VS_FLOOR) if new and floor else None)
    python, one = med("use/python"), med("use/rezup-1")
    overhead = (one - python) * 1000 if python is not None and one is not None else None
    judge(f"use overhead <= {GOAL_USE_OVERHEAD_MS:g} ms over bare python",
          (f"{overhead:+.1f} ms", overhead <= GOAL_USE_OVERHEAD_MS)
          if overhead is not None else None)
    many = [(n, med(f"use/rezup-{n}")) for n in FAKE_REVISION_COUNTS]
    flat = None
    if one is not None and all(m is not None for _, m in many):
        deltas = [((m or 0.0) - one) * 1000 for _, m in many[1:]]
        measured = ", ".join(f"{n}: {d:+.1f} ms" for (n, _), d in zip(many[1:], deltas))
        flat = (measured, all(abs(d) <= GOAL_USE_FLAT_MS for d in deltas))
    judge(f"use flat (+-{GOAL_USE_FLAT_MS:g} ms) from 1 to 1,000 revisions", flat)
    pull, add = med("pull/pull"), med("pull/add")
    judge(f"pull <= {GOAL_PULL_VS_ADD:g}x a local add",
          (f"{pull / add:.2f}x", pull / add <= GOAL_PULL_VS_ADD) if pull and add else None)
    return results


def verdict(passed: Optional[bool]) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def groups_in_order(cases: list[Case]) -> list[tuple[str, list[Case]]]:
    order: dict[str, list[Case]] = {}
    for case in cases:
        order.setdefault(case.group, []).append(case)
    return list(order.items())


def _text_table(unit: str, rows: list[Row]) -> list[str]:
    """A group's rows as aligned columns; a row without runs shows its reason instead."""
    table = [("", "runs", f"median ({unit})", f"min-max ({unit})", "max RSS", "compared")]
    for row in rows:
        if not row.span:
            table.append((row.label, row.runs, row.median, "", row.rss, ""))
        else:
            table.append((row.label, row.runs, row.median.split()[0],
                          row.span.rsplit(" ", 1)[0], row.rss, row.compare))
    plain = [r for r, row in zip(table, [None, *rows]) if row is None or row.span]
    widths = [max(len(r[i]) for r in (plain if i >= 2 else table)) for i in range(6)]
    lines = []
    for row, source in zip(table, [None, *rows]):
        if source is not None and not source.span:
            lines.append(f"  {row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]}")
        else:
            lines.append("  " + "  ".join(
                f"{cell:<{widths[i]}}" if i in (0, 5) else f"{cell:>{widths[i]}}"
                for i, cell in enumerate(row)).rstrip())
    return lines


def _text_failures(cases: list[Case], short: Callable[[str], str]) -> list[str]:
    failures = [c for c in cases if c.failures() or c.blocked or c.warmup_error]
    if not failures:
        return []
    lines = ["", "== failures"]
    for case in failures:
        if case.blocked:
            lines.append(f"  {case.id}: {case.blocked}")
            continue
        errors = Counter(o.error for o in case.failures())
        if case.warmup_error and not errors:
            errors[case.warmup_error] += 0
        first = next((o for o in case.failures() if o.command), None)
        command = short(subprocess.list2cmdline(first.command)) if first else ""
        runs = len(case.outcomes)
        lines.append(f"  {case.id}: {sum(errors.values())}/{runs} timed runs failed"
                     + (" (and the warm-up)" if case.warmup_error else "")
                     + (f"; command: {command}" if command else ""))
        for error, count in errors.most_common():
            lines.append(f"      {count}x {error}")
    return lines


def text_report(cases: list[Case], short: Callable[[str], str]) -> str:
    """The report printed at the end; ``short`` makes the temporary paths generic."""
    lines = [""]
    for group, members in groups_in_order(cases):
        unit, rows = group_rows(group, members)
        lines.append(f"== {GROUP_TITLES.get(group, group)}")
        lines += _text_table(unit, rows)
        lines.append("")
    lines.append("== goals (medians of this interleaved run)")
    for goal, measured, passed in goals(cases):
        lines.append(f"  {verdict(passed):<4}  {goal}: {measured}")
    lines += _text_failures(cases, short)
    return "\n".join(lines) + "\n"


def markdown_report(cases: list[Case], machine: list[tuple[str, str]], settings: str,
                    orig_version: str) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["## rezup benchmark", "", settings, "", "| Machine | |", "|---|---|"]
    lines += [f"| {cell(k)} | {cell(v)} |" for k, v in machine if k != "temp folder"]
    if orig_version:
        lines.append(f"| original tool | {cell(' + '.join(ORIG_REQUIREMENTS))}: "
                     f"{cell(orig_version)} |")
    lines += ["", "| Scenario | Tool | Runs | Median | Min-max | Max RSS | Compared |",
              "|---|---|---:|---:|---:|---:|---|"]
    for group, members in groups_in_order(cases):
        _, rows = group_rows(group, members)
        for row in rows:
            lines.append("| " + " | ".join(cell(x) for x in (
                GROUP_SHORT.get(group, group), row.label, row.runs, row.median, row.span,
                row.rss, row.compare)) + " |")
    lines += ["", "| Goal | Measured | Result |", "|---|---|---|"]
    for goal, measured, passed in goals(cases):
        lines.append(f"| {cell(goal)} | {cell(measured)} | {verdict(passed)} |")
    return "\n".join(lines) + "\n"


def _cpu() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def _memory() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        try:
            pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            return f"{pages / 1024 ** 3:.1f} GiB"
        except (ValueError, OSError, AttributeError):
            pass
    return "?"


def machine_info(ws: Workspace) -> list[tuple[str, str]]:
    """(name, value) pairs on the machine, the tools and how runs are made."""
    cores = str(os.cpu_count() or "?")
    if hasattr(os, "sched_getaffinity"):
        usable = len(os.sched_getaffinity(0))
        if str(usable) != cores:
            cores += f" ({usable} usable)"
    env = ws.base_env(ws.misc_home)
    uv_version = quiet_run([ws.uv, "--version"], env, ws.tmp).stdout.strip()
    rezup_version = quiet_run([str(ws.rezup), "--version"], env, ws.tmp)
    rezup_python = quiet_run([str(ws.rezup_python), "-c",
                              "import sys; print(sys.version.split()[0])"], env, ws.tmp)
    return [
        ("CPU", _cpu()),
        ("cores", cores),
        ("memory", _memory()),
        ("OS", platform.platform()),
        ("Python (harness)", f"{platform.python_version()} ({sys.executable})"),
        ("Python (rezup)", f"{rezup_python.stdout.strip()} ({ws.rezup_python})"),
        ("uv", f"{uv_version or '?'} ({ws.uv})"),
        ("rezup", f"{(rezup_version.stdout or rezup_version.stderr).strip()} "
                  f"({ws.rezup})"),
        ("temp folder", str(ws.tmp)),
        ("environment", "each run: fresh HOME, no REZUP_*/VIRTUAL_ENV/XDG_*/PYTHON*"
                        " variables, bytecode writing on"),
        ("max RSS", "GNU time %M of each command, max over a case's commands (largest "
                    "single process; times include its ~1 ms)" if ws.gnu_time else
                    "getrusage(RUSAGE_CHILDREN).ru_maxrss in a fresh wrapper per run "
                    "(largest single process; floor: the wrapper's own size)"),
    ]
