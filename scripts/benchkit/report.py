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

from .cases import FAKE_REVISION_COUNTS, FARM_JOBS, ORIG_REQUIREMENTS, Case
from .util import quiet_run
from .workspace import Workspace

GOAL_ADD_VS_ORIG = 5.0  # rezup add (minimal, warm) at least this many times faster
GOAL_ADD_VS_FLOOR = 1.1  # ... and at most this many times the bare-uv floor (issue 19)
GOAL_NEW_CONTAINER_VS_ORIG = 5.0  # a new container's first revision, another one ready
GOAL_USE_OVERHEAD_MS = 25.0
GOAL_USE_FLAT_MS = 5.0
GOAL_PULL_VS_ADD = 1.5
# issue 13
GOAL_SECOND_VS_ORIG = 4.0  # add of a second revision (one pin changed) vs the original
GOAL_SAME_VS_ORIG = 6.0  # add of an unchanged recipe vs the original
GOAL_USE_VS_FLOOR_MS = 3.0  # use, 1 revision, over the launcher floor
GOAL_USE_MANY_MS = 1.0  # use with the most revisions over use with one
GOAL_FORTY_VS_FLOOR = 1.1  # add with 40 libs (online) vs the bare-uv floor
# FARM_JOBS processes pulling at once vs one pull alone: a goal retired by issue 19 (64 Python
# starts alone cost 2.17x one pull on 2 cores); the ratio is still reported

GROUP_TITLES = {
    "add-minimal-warm": "add, minimal recipe, warm cache",
    "add-minimal-cold": "add, minimal recipe, cold cache",
    "add-studio-warm": "add, studio recipe, warm cache",
    "add-studio-cold": "add, studio recipe, cold cache",
    "use": "use: `rezup use -- PY -c pass` vs `PY -c pass`",
    "pull": "pull of a remote revision into an empty local root vs local add (minimal, warm)",
    "add-second": "add of a second revision, one pin changed (six 1.16.0 -> 1.17.0), warm",
    "add-same": "add of a second revision, recipe unchanged (identical plan), warm",
    "pull-second": "pull of a newer remote revision B (one pin changed): node with A vs "
    "fresh node, warm",
    "add-forty": "add, rez + 40 packages in [rez] lib, online, warm cache",
    "add-new-container": "add of the first revision of a new container, .main (rez) ready, warm",
    "use-http": "use with a remote root served over HTTP vs on a folder: `rezup use -- PY -c "
    "pass`, the revision pulled already",
    "pull-http": "the first job on a machine: pull of the remote revision into an empty local "
    "root, from a folder vs over HTTP, warm",
    "burst-http": "16 jobs at once, the revision pulled already: remote root on a folder vs "
    "served over HTTP with this machine's copy of its index too old",
    "farm64": f"pull of one new remote revision into a fresh local root: 1 process vs "
    f"{FARM_JOBS} at once (wall time until the last exits), and {FARM_JOBS} jobs "
    "once it is pulled, warm",
}

GROUP_SHORT = {
    "add-minimal-warm": "add minimal, warm",
    "add-minimal-cold": "add minimal, cold",
    "add-studio-warm": "add studio, warm",
    "add-studio-cold": "add studio, cold",
    "use": "use -- PY -c pass",
    "pull": "pull vs add",
    "add-second": "add 2nd revision, 1 pin changed",
    "add-same": "add 2nd revision, unchanged",
    "pull-second": "pull newer revision",
    "add-forty": "add 40 libs, warm",
    "add-new-container": "add, new container",
    "farm64": f"pull by 1 vs {FARM_JOBS} jobs",
    "use-http": "use, HTTP remote",
    "burst-http": "16 jobs, HTTP remote",
    "pull-http": "first job (pull), HTTP remote",
}

LABELS = {
    "rezup": "rezup (this repo)",
    "uv": "bare uv (floor)",
    "orig": "rezup 2.x (original)",
    "rezup-nobg": "rezup add --no-background",
    "rezup-other": "rezup, rez + six (another plan)",
    "orig-other": "rezup 2.x, rez + six",
    "resolve": "uv pip compile alone (the resolve)",
    "python": "bare python",
    "rezup-1": "rezup, 1 revision",
    "rezup-100": "rezup, 100 revisions",
    "rezup-1000": "rezup, 1,000 revisions",
    "init": "rezup, 1 revision, [init] script",
    "baseline-1": "baseline rezup, 1 revision",
    "baseline": "baseline rezup (--baseline)",
    "pull": "rezup use (pull)",
    "add": "rezup add (local)",
    "floor": "launcher floor (python -I -S, exec)",
    "rezup-10000": "rezup, 10,000 revisions",
    "node-with-previous": "node with revision A",
    "fresh-node": "fresh node (empty root)",
    "one": "1 process",
    "sixty-four": f"{FARM_JOBS} processes at once",
    "sixty-four-ready": f"{FARM_JOBS} processes, revision pulled already",
    "folder": "remote root on a folder",
    "fresh": "HTTP, copy of the index fresh",
    "every-job": "HTTP, every job fetches the index",
    "down-first": "HTTP, server gone: first job",
    "down-later": "HTTP, server gone: later jobs (recorded)",
    "url": "HTTP, copy of the index too old",
    "pull-folder": "pull from a folder",
    "pull-url": "pull over HTTP",
}

# The case each group's rows are compared with (default: this repo's rezup).
REFERENCES = {
    "use": "python",
    "use-http": "python",
    "pull": "add",
    "pull-second": "fresh-node",
    "farm64": "one",
    "burst-http": "folder",
    "pull-http": "pull-folder",
}
MS_GROUPS = ("use", "use-http")  # reported in milliseconds, as a difference to bare python

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
    unit = "ms" if group in MS_GROUPS else "s"
    by_label = {c.label: c for c in cases}
    reference = REFERENCES.get(group, "rezup")
    ref_median = by_label[reference].median() if reference in by_label else None
    floor_median = by_label["floor"].median() if group == "use" and "floor" in by_label else None
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
            rows.append(
                Row(
                    case,
                    LABELS.get(case.label, case.label),
                    runs,
                    f"failed: {reason}" if reason else "not run",
                    "",
                    rss,
                    "",
                )
            )
            continue
        span = f"{fmt_seconds(min(times), unit)}-{fmt_seconds(max(times), unit)}"
        compare = ""
        if ref_median:
            if group in MS_GROUPS:
                if case.label != reference:
                    compare = f"{(median - ref_median) * 1000:+.1f} ms vs python"
                if floor_median is not None and case.label not in (reference, "floor"):
                    compare += f", {(median - floor_median) * 1000:+.1f} ms vs floor"
            else:
                compare = f"{median / ref_median:.2f}x {reference}"
        rows.append(
            Row(
                case,
                LABELS.get(case.label, case.label),
                runs,
                f"{fmt_seconds(median, unit)} {unit}",
                f"{span} {unit}",
                rss,
                compare,
            )
        )
    return unit, rows


def goals(cases: list[Case]) -> list[Goal]:
    """Each goal whose cases were run, with what was measured and whether it passed (None
    when a case it needs has no median)."""
    by_id = {c.id: c for c in cases}

    def med(case_id: str) -> Optional[float]:
        case = by_id.get(case_id)
        return case.median() if case else None

    results: list[Goal] = []

    def judge(goal: str, needs: tuple[str, ...], measured: Optional[tuple[str, bool]]) -> None:
        if not any(case_id in by_id for case_id in needs):
            return  # none of its cases was selected
        results.append((goal, *measured) if measured else (goal, "n/a", None))

    def faster(what: str, group: str, goal: float, variant: str = "") -> None:
        new, orig = med(f"{group}/rezup{variant}"), med(f"{group}/orig{variant}")
        judge(
            f"{what} >= {goal:g}x faster than the original",
            (f"{group}/rezup{variant}", f"{group}/orig{variant}"),
            (f"{orig / new:.2f}x faster", orig / new >= goal) if new and orig else None,
        )

    def at_most(what: str, group: str, goal: float, label: str = "rezup") -> None:
        new, floor = med(f"{group}/{label}"), med(f"{group}/uv")
        judge(
            f"{what} <= {goal:g}x the bare-uv floor",
            (f"{group}/{label}", f"{group}/uv"),
            (f"{new / floor:.2f}x", new / floor <= goal) if new and floor else None,
        )

    faster("add minimal warm", "add-minimal-warm", GOAL_ADD_VS_ORIG)
    at_most("add minimal warm", "add-minimal-warm", GOAL_ADD_VS_FLOOR)
    at_most(
        "add minimal warm, --no-background", "add-minimal-warm", GOAL_ADD_VS_FLOOR, "rezup-nobg"
    )
    faster(
        "first revision of a new container (same recipe as .main)",
        "add-new-container",
        GOAL_NEW_CONTAINER_VS_ORIG,
    )
    faster(
        "first revision of a new container (rez + six; .main: rez)",
        "add-new-container",
        GOAL_NEW_CONTAINER_VS_ORIG,
        "-other",
    )
    python, one, floor = med("use/python"), med("use/rezup-1"), med("use/floor")
    overhead = (one - python) * 1000 if python is not None and one is not None else None
    judge(
        f"use overhead <= {GOAL_USE_OVERHEAD_MS:g} ms over bare python",
        ("use/rezup-1",),
        (f"{overhead:+.1f} ms", overhead <= GOAL_USE_OVERHEAD_MS) if overhead is not None else None,
    )
    over_floor = (one - floor) * 1000 if floor is not None and one is not None else None
    judge(
        f"use within {GOAL_USE_VS_FLOOR_MS:g} ms of the launcher floor",
        ("use/floor",),
        (f"{over_floor:+.1f} ms", over_floor <= GOAL_USE_VS_FLOOR_MS)
        if over_floor is not None
        else None,
    )
    # over the counts that were run
    many = [
        (n, med(f"use/rezup-{n}")) for n in FAKE_REVISION_COUNTS[1:] if f"use/rezup-{n}" in by_id
    ]
    flat = None
    if one is not None and many and all(m is not None for _, m in many):
        deltas = [((m or 0.0) - one) * 1000 for _, m in many]
        measured = ", ".join(f"{n}: {d:+.1f} ms" for (n, _), d in zip(many, deltas))
        flat = (measured, all(abs(d) <= GOAL_USE_FLAT_MS for d in deltas))
    most = max([n for n, _ in many], default=FAKE_REVISION_COUNTS[-1])
    judge(
        f"use flat (+-{GOAL_USE_FLAT_MS:g} ms) from 1 to {most:,} revisions",
        tuple(f"use/rezup-{n}" for n in FAKE_REVISION_COUNTS[1:]),
        flat,
    )
    most = FAKE_REVISION_COUNTS[-1]
    top = med(f"use/rezup-{most}")
    extra = (top - one) * 1000 if top is not None and one is not None else None
    judge(
        f"use with {most:,} revisions within {GOAL_USE_MANY_MS:g} ms of use with one",
        (f"use/rezup-{most}",),
        (f"{extra:+.1f} ms", extra <= GOAL_USE_MANY_MS) if extra is not None else None,
    )
    pull, add = med("pull/pull"), med("pull/add")
    judge(
        f"pull <= {GOAL_PULL_VS_ADD:g}x a local add",
        ("pull/pull", "pull/add"),
        (f"{pull / add:.2f}x", pull / add <= GOAL_PULL_VS_ADD) if pull and add else None,
    )
    faster("add of a second revision (one pin changed)", "add-second", GOAL_SECOND_VS_ORIG)
    faster("add of an unchanged recipe", "add-same", GOAL_SAME_VS_ORIG)
    at_most("add with 40 libs (online)", "add-forty", GOAL_FORTY_VS_FLOOR)
    at_most(
        "add with 40 libs (online), --no-background", "add-forty", GOAL_FORTY_VS_FLOOR, "rezup-nobg"
    )
    return results


def ratios(cases: list[Case]) -> list[tuple[str, str]]:
    """The ratios and differences issue 13 asks about, for the groups that were run (no
    verdict: some have no goal)."""
    by_id = {c.id: c for c in cases}

    def med(case_id: str) -> Optional[float]:
        case = by_id.get(case_id)
        return case.median() if case else None

    found: list[tuple[str, str]] = []

    def ratio(what: str, top: str, bottom: str) -> None:
        a, b = med(top), med(bottom)
        if a and b:
            found.append((what, f"{a / b:.2f}x"))

    def diff_ms(what: str, top: str, bottom: str) -> None:
        a, b = med(top), med(bottom)
        if a is not None and b is not None:
            found.append((what, f"{(a - b) * 1000:+.1f} ms"))

    for group in ("add-second", "add-same", "add-forty", "add-minimal-warm", "add-new-container"):
        ratio(f"{group}: orig / rezup", f"{group}/orig", f"{group}/rezup")
        ratio(f"{group}: rezup / uv", f"{group}/rezup", f"{group}/uv")
        ratio(f"{group}: rezup --no-background / uv", f"{group}/rezup-nobg", f"{group}/uv")
    ratio(
        "add-new-container: orig-other / rezup-other",
        "add-new-container/orig-other",
        "add-new-container/rezup-other",
    )
    diff_ms(
        "add-new-container: rezup - the resolve alone",
        "add-new-container/rezup",
        "add-new-container/resolve",
    )
    ratio(
        "add-new-container: orig / the resolve alone (the best any resolving tool can do)",
        "add-new-container/orig",
        "add-new-container/resolve",
    )
    ratio(
        "add-new-container: rezup-other / uv",
        "add-new-container/rezup-other",
        "add-new-container/uv",
    )
    ratio(
        "add-second/rezup / add-minimal-warm/rezup (second vs first revision)",
        "add-second/rezup",
        "add-minimal-warm/rezup",
    )
    ratio(
        "pull-second: node-with-previous / fresh-node",
        "pull-second/node-with-previous",
        "pull-second/fresh-node",
    )
    diff_ms("use: rezup-1 - floor", "use/rezup-1", "use/floor")
    diff_ms("use: floor - python", "use/floor", "use/python")
    for count in FAKE_REVISION_COUNTS[1:]:
        diff_ms(f"use: rezup-{count} - rezup-1", f"use/rezup-{count}", "use/rezup-1")
    ratio(f"farm64: {FARM_JOBS} at once / one", "farm64/sixty-four", "farm64/one")
    diff_ms(
        f"farm64: {FARM_JOBS} pulling - {FARM_JOBS} on the ready revision",
        "farm64/sixty-four",
        "farm64/sixty-four-ready",
    )
    return found


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
            table.append(
                (
                    row.label,
                    row.runs,
                    row.median.split()[0],
                    row.span.rsplit(" ", 1)[0],
                    row.rss,
                    row.compare,
                )
            )
    plain = [r for r, row in zip(table, [None, *rows]) if row is None or row.span]
    widths = [max(len(r[i]) for r in (plain if i >= 2 else table)) for i in range(6)]
    lines = []
    for row, source in zip(table, [None, *rows]):
        if source is not None and not source.span:
            lines.append(f"  {row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]}")
        else:
            lines.append(
                "  "
                + "  ".join(
                    f"{cell:<{widths[i]}}" if i in (0, 5) else f"{cell:>{widths[i]}}"
                    for i, cell in enumerate(row)
                ).rstrip()
            )
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
        lines.append(
            f"  {case.id}: {sum(errors.values())}/{runs} timed runs failed"
            + (" (and the warm-up)" if case.warmup_error else "")
            + (f"; command: {command}" if command else "")
        )
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
    found = ratios(cases)
    if found:
        lines.append("== ratios (medians of this interleaved run)")
        width = max(len(what) for what, _ in found)
        lines += [f"  {what:<{width}}  {value}" for what, value in found]
        lines.append("")
    lines.append("== goals (medians of this interleaved run)")
    for goal, measured, passed in goals(cases):
        lines.append(f"  {verdict(passed):<4}  {goal}: {measured}")
    lines += _text_failures(cases, short)
    return "\n".join(lines) + "\n"


def markdown_report(
    cases: list[Case], machine: list[tuple[str, str]], settings: str, orig_version: str
) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["## rezup benchmark", "", settings, "", "| Machine | |", "|---|---|"]
    lines += [f"| {cell(k)} | {cell(v)} |" for k, v in machine if k != "temp folder"]
    if orig_version:
        lines.append(
            f"| original tool | {cell(' + '.join(ORIG_REQUIREMENTS))}: {cell(orig_version)} |"
        )
    lines += [
        "",
        "| Scenario | Tool | Runs | Median | Min-max | Max RSS | Compared |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for group, members in groups_in_order(cases):
        _, rows = group_rows(group, members)
        for row in rows:
            lines.append(
                "| "
                + " | ".join(
                    cell(x)
                    for x in (
                        GROUP_SHORT.get(group, group),
                        row.label,
                        row.runs,
                        row.median,
                        row.span,
                        row.rss,
                        row.compare,
                    )
                )
                + " |"
            )
    found = ratios(cases)
    if found:
        lines += ["", "| Ratio (medians) | Measured |", "|---|---:|"]
        lines += [f"| {cell(what)} | {cell(value)} |" for what, value in found]
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
            return f"{pages / 1024**3:.1f} GiB"
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
    rezup_python = quiet_run(
        [str(ws.rezup_python), "-c", "import sys; print(sys.version.split()[0])"], env, ws.tmp
    )
    return [
        ("CPU", _cpu()),
        ("cores", cores),
        ("memory", _memory()),
        ("OS", platform.platform()),
        ("Python (harness)", f"{platform.python_version()} ({sys.executable})"),
        ("Python (rezup)", f"{rezup_python.stdout.strip()} ({ws.rezup_python})"),
        ("uv", f"{uv_version or '?'} ({ws.uv})"),
        ("rezup", f"{(rezup_version.stdout or rezup_version.stderr).strip()} ({ws.rezup})"),
        ("temp folder", str(ws.tmp)),
        (
            "environment",
            "each run: fresh HOME, no REZUP_*/VIRTUAL_ENV/XDG_*/PYTHON*"
            " variables, bytecode writing on",
        ),
        (
            "max RSS",
            "GNU time %M of each command, max over a case's commands (largest "
            "single process; times include its ~1 ms)"
            if ws.gnu_time
            else "getrusage(RUSAGE_CHILDREN).ru_maxrss in a fresh wrapper per run "
            "(largest single process; floor: the wrapper's own size)",
        ),
    ]
