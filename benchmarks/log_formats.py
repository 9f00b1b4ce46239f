"""Log-format parsing benchmark: the quick check that refuses a line whose text between fields is
not in it (``logs/formats.py``), against the same format without it, in the same run.

1. Lines that match: each Loghub-2k system's 2,000 lines repeated 25 times, parsed with and
   without the check (lines per second, median of 5).
2. Lines that do not match: a line of N words with no ``: `` in it, parsed by the thunderbird
   format (whose Python regular expression tries every way of cutting the line into its nine
   fields before it gives up), with and without the check; N stops growing once one parse
   without the check takes over 5 s.

Writes benchmarks/results/log_formats.json.

    python benchmarks/log_formats.py
"""

from __future__ import annotations

import dataclasses
import json
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from deepsentry.core.settings import data_dir
from deepsentry.logs.formats import PRESETS, LogFormat

RESULTS = Path(__file__).parent / "results"


def _rate(parse, lines: list[str], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for line in lines:
            parse(line)
        times.append(time.perf_counter() - start)
    return len(lines) / statistics.median(times)


def matching_lines(root: Path) -> dict:
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower() in PRESETS):
        lines = (folder / f"{folder.name}_2k.log").read_text(encoding="utf-8", errors="replace").splitlines() * 25
        checked = LogFormat.from_spec(folder.name.lower())
        unchecked = dataclasses.replace(checked, separators=None)
        with_check, without = _rate(checked.parse, lines), _rate(unchecked.parse, lines)
        out[folder.name] = {"with_check_lines_s": round(with_check), "without_check_lines_s": round(without),
                            "time_ratio": round(without / with_check, 2)}
        print(folder.name, out[folder.name], flush=True)
    return out


def lines_that_do_not_match() -> list[dict]:
    checked = LogFormat.from_spec("thunderbird")
    unchecked = dataclasses.replace(checked, separators=None)
    out = []
    for words in range(10, 60, 2):
        line = " ".join(["word"] * words)
        row = {"words": words}
        for name, fmt in (("with_check_s", checked), ("without_check_s", unchecked)):
            start = time.perf_counter()
            assert fmt.parse(line) is None
            row[name] = round(time.perf_counter() - start, 6)
        out.append(row)
        print(row, flush=True)
        if row["without_check_s"] > 5:
            break
    return out


def main() -> None:
    root = data_dir() / "logs" / "loghub-2k"
    if not root.is_dir():
        sys.exit(f"datasets not found at {root}; set DEEPSENTRY_DATA")
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {platform.processor() or '?'}",
              "python": platform.python_version(), "matching": matching_lines(root),
              "not_matching_thunderbird": lines_that_do_not_match()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "log_formats.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
