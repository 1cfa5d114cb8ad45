"""Replaces (or appends) one named section of bench/RESULTS.md.

Usage: python3 bench/update_results.py NAME < section.md
The section on stdin is wrapped in <!-- NAME:start --> / <!-- NAME:end -->
markers, so each benchmark script rewrites only its own figures.
"""
import re
import sys
from pathlib import Path

name = sys.argv[1]
path = Path(__file__).with_name("RESULTS.md")
body = sys.stdin.read().strip()
section = f"<!-- {name}:start -->\n{body}\n<!-- {name}:end -->"
text = path.read_text() if path.exists() else (
    "# Benchmark results\n\nEvery figure here was printed by a command in this repository, "
    "next to its baseline from the same run.\n")
pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*<!-- {re.escape(name)}:end -->", re.S)
if pattern.search(text):
    text = pattern.sub(lambda _: section, text)
else:
    text = text.rstrip() + "\n\n" + section + "\n"
path.write_text(text)
