#!/usr/bin/env python3
"""Finds import cycles between the modules of each crate.

usage: .ci/module_cycles.py [CRATE_DIR ...]   (default: every crates/*)

A module depends on another when its code names a path into it: `use
crate::a::…`, `crate::a::x` in an expression, `super::…`, or a child module
by name. Comments and `#[cfg(test)]` modules are left out (a test module
naturally uses its parent). A path through a re-export at the crate root
(`crate::Name`) counts as a dependency on the module that defines the name.
Prints each cycle found, module by module, and exits 1 if there is any.
"""

import pathlib
import re
import sys


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"//.*", "", line) for line in text.split("\n"))


def strip_inline_tests(text):
    # `#[cfg(test)] mod name { ... }` blocks, by brace matching.
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def modules(src):
    """Module path (tuple) -> file, from lib.rs/main.rs down through `mod x;`."""
    found = {}

    def walk(path, file, is_dir_owner):
        found[path] = file
        text = strip_comments(file.read_text())
        base = file.parent if is_dir_owner else file.parent / file.stem
        for m in re.finditer(
            r"^\s*((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;",
            text,
            flags=re.M,
        ):
            attrs, name = m.group(1), m.group(2)
            if "cfg(test)" in attrs:
                continue
            for cand, owner in ((base / f"{name}.rs", False), (base / name / "mod.rs", True)):
                if cand.exists():
                    walk(path + (name,), cand, owner)
                    break

    for root in ("lib.rs", "main.rs"):
        if (src / root).exists():
            walk((), src / root, True)
    return found


def root_reexports(text):
    """Name -> module path for `pub use a::b::{X, Y}` at the crate root."""
    names = {}
    for m in re.finditer(r"pub\s+use\s+([\w:]+?)::(?:\{([^}]*)\}|(\w+))\s*;", text, flags=re.S):
        module = tuple(p for p in m.group(1).split("::") if p not in ("crate", "self"))
        items = m.group(2).split(",") if m.group(2) else [m.group(3)]
        for item in items:
            item = item.strip().split(" as ")[-1].strip()
            if item and item != "self":
                names[item] = module
    return names


def deps(path, text, mods, reexports):
    """The modules that module `path` names."""
    out = set()

    def resolve(parts):
        # The longest prefix that is a module.
        for n in range(len(parts), -1, -1):
            if tuple(parts[:n]) in mods:
                target = tuple(parts[:n])
                if target == () and len(parts) > 0 and parts[0] in reexports:
                    target = reexports[parts[0]]
                return target
        return None

    # Expand `use a::{b, c::d}` groups into whole paths first.
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        paths.extend(expand(m.group(1).replace("\n", " ")))
    for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", text):
        paths.append(m.group(1))
    children = {p[-1] for p in mods if len(p) == len(path) + 1 and p[: len(path)] == path}
    for m in re.finditer(r"(?<![:\w])(\w+)::", text):
        if m.group(1) in children:
            paths.append(m.group(1) + "::x")
    for p in paths:
        parts = [x for x in p.split("::") if x]
        if not parts:
            continue
        if parts[0] == "crate":
            absolute = parts[1:]
        elif parts[0] in ("super", "self"):
            base = list(path)
            while parts and parts[0] in ("super", "self"):
                if parts[0] == "super":
                    base = base[:-1]
                parts = parts[1:]
            absolute = base + parts
        elif parts[0] in children:
            absolute = list(path) + parts
        else:
            continue
        target = resolve(absolute)
        if target is not None and target != path:
            out.add(target)
    return out


def expand(tree):
    tree = tree.strip()
    if "{" not in tree:
        return [tree.split(" as ")[0].strip()]
    prefix, rest = tree.split("{", 1)
    if "}" not in rest:
        return []  # not a use tree (a `use` inside a string, say)
    inner = rest[: rest.rindex("}")]
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    items.append(cur)
    out = []
    for item in items:
        if item.strip():
            for e in expand(item):
                out.append(prefix + e if e != "self" else prefix.rstrip(":"))
    return out


def cycles(graph):
    found, index, low, stack, on, counter = [], {}, {}, [], set(), [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return found


def check(crate):
    src = crate / "src"
    mods = modules(src)
    if not mods:
        return 0
    root_text = strip_comments(mods[()].read_text())
    reexports = root_reexports(root_text)
    graph = {}
    for path, file in mods.items():
        if path and path[-1] == "tests":
            continue
        text = strip_inline_tests(strip_comments(file.read_text()))
        graph[path] = {
            d for d in deps(path, text, mods, reexports) if not (d and d[-1] == "tests")
        }
    # A module naming `crate::X` for a root re-export was resolved to the
    # module behind it above, so the root's facade makes no false cycle.
    problems = cycles(graph)
    name = lambda p: "::".join(("crate",) + p)
    for c in problems:
        print(f"{crate}: import cycle: " + " <-> ".join(name(p) for p in c))
    if not problems:
        print(f"{crate}: {len(mods)} modules, no import cycle")
    return len(problems)


def main():
    dirs = [pathlib.Path(a) for a in sys.argv[1:]] or sorted(pathlib.Path("crates").glob("*"))
    total = sum(check(d) for d in dirs if (d / "src").is_dir())
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
