#!/usr/bin/env python3
"""Fails when pg_tenant's module imports point up a layer, or go in a circle.

The layers (src/lib.rs and CONTRIBUTING.md explain them), lowest first:

    0  error, names
    1  session
    2  store
    3  registry
    4  enforce
    5  tables
    6  api, check   (peers: neither may use the other)

A file may use modules of lower layers and other files of its own top-level
module, as long as no chain of uses between files comes back to where it
started. Every `crate::a::b` path (in `use` lines and in code, macros
included) and every top-level `use super::...` counts; `use super::` inside
a nested `mod tests` means the file itself and is skipped. Prints
"layers: N passed, N failed" and exits non-zero on any finding.
"""
import os
import re
import sys

RANK = {
    "error": 0,
    "names": 0,
    "session": 1,
    "store": 2,
    "registry": 3,
    "enforce": 4,
    "tables": 5,
    "api": 6,
    "check": 6,
}
# Macros exported at the crate root, and the module that defines them.
MACROS = {"trigger_function": ("enforce", "trigger")}

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    """src/api/members.rs -> ('api', 'members'); src/api/mod.rs -> ('api',)."""
    rel = os.path.relpath(path, ROOT)[: -len(".rs")].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    return tuple(rel)


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def expand(path_text):
    """'a::{b, c::{d}}' -> ['a::b', 'a::c::d'] (a use tree, flattened)."""
    path_text = re.sub(r"\s+", "", path_text)
    m = re.match(r"^(.*?)\{(.*)\}$", path_text)
    if not m:
        return [path_text]
    prefix, inner = m.groups()
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        parts.append(cur)
    out = []
    for p in parts:
        for e in expand(p):
            out.append(prefix + e if e != "self" else prefix.rstrip(":"))
    return out


def main():
    files = {}
    for dirpath, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(dirpath, n)
                files[module_of(p)] = p
    modules = set(files)

    def resolve(segments):
        """Longest prefix of `segments` that is a module file."""
        for k in range(len(segments), 0, -1):
            if tuple(segments[:k]) in modules:
                return tuple(segments[:k])
        return None

    edges = {m: set() for m in modules}
    for mod, path in files.items():
        if mod == ("lib",):
            continue
        text = strip_comments(open(path, encoding="utf-8").read())
        targets = []
        for m in re.finditer(r"^use\s+crate::([^;]+);", text, flags=re.M):
            targets += [t.split("::") for t in expand(m.group(1))]
        for m in re.finditer(r"(?<![\w$])crate::((?:\w+::)*\w+)", text):
            targets.append(m.group(1).split("::"))
        for m in re.finditer(r"\$crate::((?:\w+::)*\w+)", text):
            targets.append(m.group(1).split("::"))
        for m in re.finditer(r"crate::(\w+)!", text):
            if m.group(1) in MACROS:
                targets.append(list(MACROS[m.group(1)]))
        parent = mod[:-1]
        for m in re.finditer(r"^use\s+super::([^;]+);", text, flags=re.M):
            for t in expand(m.group(1)):
                targets.append(list(parent) + t.split("::"))
        for t in targets:
            target = resolve(t)
            if target is not None and target != mod:
                edges[mod].add(target)

    problems = []
    checked = 0
    for mod, targets in sorted(edges.items()):
        for target in sorted(targets):
            checked += 1
            a, b = mod[0], target[0]
            if a not in RANK or b not in RANK:
                problems.append(f"{'::'.join(mod)} -> {'::'.join(target)}: module not in a layer (add it to scripts/layers.py)")
            elif RANK[b] > RANK[a]:
                problems.append(f"{'::'.join(mod)} (layer {RANK[a]}) uses {'::'.join(target)} (layer {RANK[b]}), a layer above")
            elif RANK[b] == RANK[a] and a != b:
                problems.append(f"{'::'.join(mod)} uses {'::'.join(target)}: {a} and {b} are peers in layer {RANK[a]}")

    # Cycles between files (depth-first search; each cycle reported once).
    state, stack, seen_cycles = {}, [], set()

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):]
                key = frozenset(cycle)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    problems.append("cycle: " + " -> ".join("::".join(c) for c in cycle + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)

    for p in problems:
        print("FAILED:", p)
    failed = len(problems)
    print(f"layers: {checked - min(failed, checked)} passed, {failed} failed"
          f" ({checked} imports between {len(modules)} files)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
