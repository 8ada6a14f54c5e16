"""Count non-blank, non-comment lines per source file and check them against the budgets of DESIGN.md §4.

    python scripts/sz.py            # table of every file, budgets last; exit 1 when a budget is exceeded
    python scripts/sz.py --check    # only the budget lines and the verdict

A budget covers one file or every .py file under a folder. Raising one names the feature that paid for it (DESIGN.md:
"code golf is no way back under one").
"""
from __future__ import annotations

import argparse
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("distgrad", "backends", "launcher")

# path -> (budget, why it differs from DESIGN.md's starting budget, or "" when it does not)
BUDGETS: dict[str, tuple[int, str]] = {
    "distgrad/tensor.py": (900, ""),
    "distgrad/ops.py": (700, ""),
    "distgrad/function.py": (200, ""),
    "distgrad/prims.py": (250, ""),
    "backends/cpu.py": (300, ""),
    "distgrad/nn/module.py": (300, ""),
    "distgrad/optim": (250, ""),
    "launcher": (600, ""),
}


def code_lines(path: Path) -> int:
    """Lines holding code: not blank, not only a comment, not part of a docstring (a string statement)."""
    lines: set[int] = set()
    previous = tokenize.NEWLINE
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL):
            continue
        docstring = tok.type == tokenize.STRING and previous in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
        if not docstring and tok.type not in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            lines.update(range(tok.start[0], tok.end[0] + 1))
        previous = tok.type
    return len(lines)


def counts() -> dict[str, int]:
    """Code lines of every .py file under the source folders, keyed by path relative to the repo."""
    return {str(p.relative_to(ROOT)): code_lines(p) for folder in SOURCES for p in sorted((ROOT / folder).rglob("*.py"))}


def budget_usage(per_file: dict[str, int]) -> list[tuple[str, int, int, str]]:
    """(target, lines, budget, why) for every budget: a folder sums the files under it."""
    usage = []
    for target, (budget, why) in BUDGETS.items():
        lines = sum(n for path, n in per_file.items() if path == target or path.startswith(target + "/"))
        usage.append((target, lines, budget, why))
    return usage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print only the budgets")
    args = parser.parse_args()
    per_file = counts()
    if not args.check:
        for path, n in sorted(per_file.items(), key=lambda kv: -kv[1]):
            print(f"{n:6d}  {path}")
        print(f"{sum(per_file.values()):6d}  total\n")
    over = []
    for target, lines, budget, why in budget_usage(per_file):
        flag = "OVER" if lines > budget else "ok"
        print(f"{flag:4s} {lines:5d} / {budget:5d}  {target}" + (f"  ({why})" if why else ""))
        if lines > budget:
            over.append(target)
    if over:
        print(f"over budget: {', '.join(over)} (simplify, or raise the budget naming the feature that paid for it)")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
