"""Safe YAML reading that remembers where every value came from (file and line).

Scenario errors must name the file and line of the bad field, so files are composed into
nodes, walked by hand and constructed with PyYAML's SafeLoader; Python tags are refused.
`extends:` chains are deep-merged here and `--set` overrides are applied here, before any
validation, so every later error still points at the right place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import Problem, ScenarioError

MAX_BYTES = 5_000_000  # a scenario is a page or two of YAML; forecasts live in their own files
MAX_DEPTH = 40  # nesting levels: a scenario needs about 8
MAX_VALUES = 200_000  # values after alias expansion (stops "billion laughs" alias bombs)

Path_ = tuple[Any, ...]
LineMap = dict[Path_, tuple[str, int | None]]

_STANDARD_TAGS = {
    f"tag:yaml.org,2002:{t}"
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
}


class _Walk:
    """Turn a composed node tree into plain Python data, recording each path's line, within the
    limits above: aliases are expanded at most MAX_VALUES values in all and may not refer to themselves."""

    def __init__(self, file: str, lines: LineMap, loader: yaml.SafeLoader):
        self.file, self.lines, self.loader = file, lines, loader
        self.values = 0
        self.open: set[int] = set()  # nodes being walked: an alias to one of them is a cycle

    def problem(self, node: yaml.Node, path: Path_, what: str, fix: str) -> ScenarioError:
        return ScenarioError([Problem(self.file, node.start_mark.line + 1, ".".join(map(str, path)), what, fix)])

    def walk(self, node: yaml.Node, path: Path_) -> Any:
        self.lines.setdefault(path, (self.file, node.start_mark.line + 1))
        self.values += 1
        if self.values > MAX_VALUES:
            raise self.problem(node, path, f"more than {MAX_VALUES:,} values once aliases are expanded",
                               "a scenario needs far fewer; remove the aliases (*name) that repeat large blocks")
        if len(path) > MAX_DEPTH:
            raise self.problem(node, path, f"nested more than {MAX_DEPTH} levels deep", "flatten the structure")
        if node.tag not in _STANDARD_TAGS:
            raise self.problem(node, path, f"the tag {node.tag!r} is not allowed",
                               "scenario files are plain YAML; remove the tag, Python tags are never loaded")
        if id(node) in self.open:
            raise self.problem(node, path, "an alias refers to the block that contains it",
                               "an anchor (&name) cannot be used (*name) inside its own block")
        if isinstance(node, yaml.MappingNode):
            self.open.add(id(node))
            out = self._mapping(node, path)
            self.open.discard(id(node))
            return out
        if isinstance(node, yaml.SequenceNode):
            self.open.add(id(node))
            out = [self.walk(child, path + (i,)) for i, child in enumerate(node.value)]
            self.open.discard(id(node))
            return out
        try:
            return self.loader.construct_object(node)
        except (ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError) as exc:
            raise self.problem(node, path, f"cannot read the value {node.value!r} as {node.tag.rsplit(':', 1)[-1]}"
                               f" ({exc})" if not isinstance(exc, KeyError) else
                               f"cannot read the value {node.value!r} as {node.tag.rsplit(':', 1)[-1]}",
                               "write a valid value (dates as YYYY-MM-DD) or drop the !!tag") from None

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        self.loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.problem(key_node, path, "a key must be a plain name", "write the key as text")
            key = key_node.value
            if key in out:
                raise self.problem(key_node, path + (key,), f"the key {key!r} appears twice", "keep one of them")
            self.lines[path + (key,)] = (self.file, key_node.start_mark.line + 1)
            out[key] = self.walk(value_node, path + (key,))
        return out


def _unreadable_character(file: str, text: str, exc: yaml.reader.ReaderError) -> Problem:
    """A control character (or other non-printable one) the YAML reader refuses, with its line."""
    return Problem(file, text.count("\n", 0, exc.position) + 1, "",
                   f"character #x{exc.character:04x} is not allowed in YAML",
                   "remove control characters (tabs and newlines are fine)")


def _too_deep(text: str) -> int | None:
    """The first line where flow brackets or indentation nest deeper than MAX_DEPTH (before the parser
    recurses into it), or None."""
    depth = 0
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) - len(line.lstrip(" ")) > 4 * MAX_DEPTH:
            return number
        for char in line:
            depth += (char in "[{") - (char in "]}")
            if depth > MAX_DEPTH:
                return number
    return None


def read_yaml(path: Path) -> tuple[dict[str, Any], LineMap]:
    """Read one YAML mapping safely; return the data and a path -> (file, line) map."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([Problem(file, None, "", "file not found", "check the path")]) from None
    except (OSError, ValueError) as exc:  # a folder, no permission, a name too long, a NUL byte
        raise ScenarioError([Problem(file, None, "", f"cannot read the file: {exc}",
                                     "give the path of a YAML scenario file")]) from None
    if len(raw) > MAX_BYTES:
        raise ScenarioError([Problem(file, None, "", f"the file is {len(raw):,} bytes; a scenario is at most "
                                     f"{MAX_BYTES:,}", "put forecasts in CSV or Parquet files (volume: {file: ...})")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError([Problem(file, raw.count(b"\n", 0, exc.start) + 1, "",
                                     f"byte 0x{raw[exc.start]:02x} is not UTF-8",
                                     "save the file as UTF-8")]) from None
    deep = _too_deep(text)
    if deep is not None:
        raise ScenarioError([Problem(file, deep, "", f"nested more than {MAX_DEPTH} levels deep",
                                     "flatten the structure")])
    try:
        loader = yaml.SafeLoader(text)  # the reader checks every character here
    except yaml.reader.ReaderError as exc:
        raise ScenarioError([_unreadable_character(file, text, exc)]) from None
    lines: LineMap = {}
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError([Problem(file, 1, "", "the file is empty",
                                         "a scenario needs at least name, horizon, queues and pools")])
        data = _Walk(file, lines, loader).walk(node, ())
    except yaml.reader.ReaderError as exc:
        raise ScenarioError([_unreadable_character(file, text, exc)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError([Problem(file, line, "", f"malformed YAML: {exc.problem or exc.context}",
                                     "check indentation, colons and quotes on this line")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(file, None, "", f"malformed YAML: {exc}", "")]) from None
    except RecursionError:
        raise ScenarioError([Problem(file, None, "", "nested too deeply to read", "flatten the structure")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ScenarioError([Problem(file, 1, "", f"the file must hold a mapping, got {type(data).__name__}",
                                     "start with 'name:', 'horizon:', 'queues:' and 'pools:'")])
    return data, lines


def deep_merge(base: Any, top: Any) -> Any:
    """Merge `top` over `base`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return top


def read_scenario_tree(path: Path, _chain: tuple[Path, ...] = ()) -> tuple[dict[str, Any], LineMap]:
    """Read a scenario and its `extends:` bases (relative paths), merged; cycles are errors."""
    resolved = path.resolve()
    if resolved in _chain:
        cycle = " -> ".join(str(p) for p in _chain + (resolved,))
        raise ScenarioError([Problem(str(path), None, "extends", f"extends forms a cycle: {cycle}",
                                     "remove one of the extends lines")])
    data, lines = read_yaml(path)
    base_ref = data.pop("extends", None)
    if base_ref is None:
        return data, lines
    file, line = lines[("extends",)]
    if not isinstance(base_ref, str):
        raise ScenarioError([Problem(file, line, "extends", f"expected a file path, got {base_ref!r}",
                                     "write e.g. extends: base.yaml")])
    base_path = path.parent / base_ref
    if not base_path.is_file():
        raise ScenarioError([Problem(file, line, "extends", f"the base file {str(base_path)!r} does not exist",
                                     "paths in extends are relative to the file that names them")])
    base, base_lines = read_scenario_tree(base_path, _chain + (resolved,))
    merged_lines = dict(base_lines)
    merged_lines.update(lines)
    return deep_merge(base, data), merged_lines


def _override_value(dotted: str, text: str) -> Any:
    """A --set value read as YAML, under the same limits and checks as a file's values."""
    if not text.strip():
        return ""
    if len(text) > 10_000 or _too_deep(text) is not None:
        raise ScenarioError([Problem("--set", None, dotted, "the value is too long or too deeply nested",
                                     "put large values in the scenario file")])
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        raise ScenarioError([_unreadable_character("--set", text, exc)]) from None
    try:
        node = loader.get_single_node()
        return "" if node is None else _Walk("--set", {}, loader).walk(node, tuple(dotted.split(".")))
    except ScenarioError as exc:
        problem = exc.problems[0]
        raise ScenarioError([Problem("--set", None, dotted, problem.message, problem.hint)]) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ScenarioError([Problem("--set", None, dotted, f"cannot read the value {text!r}: {exc}",
                                     "quote text values; dates as YYYY-MM-DD")]) from None
    finally:
        loader.dispose()


def apply_override(data: dict[str, Any], lines: LineMap, assignment: str) -> None:
    """Apply one `PATH=VALUE` override in place; the value is read as a YAML scalar or flow value."""
    if "=" not in assignment:
        raise ScenarioError([Problem("--set", None, assignment, "expected PATH=VALUE",
                                     "e.g. --set pools.sg.headcount=90")])
    dotted, _, text = assignment.partition("=")
    keys = dotted.strip().split(".")
    value = _override_value(dotted, text)
    node: Any = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        where = ".".join(keys[: depth + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ScenarioError([Problem("--set", None, where,
                                             f"no list item {key!r} (the list has {len(node)} items)",
                                             f"use an index from 0 to {len(node) - 1}")])
            index: Any = int(key)
        elif isinstance(node, dict):
            index = key
        else:
            raise ScenarioError([Problem("--set", None, where, f"{'.'.join(keys[:depth])} is not a mapping or list",
                                         "check the path")])
        if last:
            node[index] = value
        else:
            if isinstance(node, dict) and not isinstance(node.get(index), (dict, list)):
                node[index] = {}
            elif isinstance(node, dict):
                node[index] = node[index].copy()
            else:
                node[index] = node[index].copy() if isinstance(node[index], (dict, list)) else {}
            node = node[index]
    path = tuple(int(k) if k.isdigit() else k for k in keys)
    for known in [p for p in lines if p[: len(path)] == path]:
        del lines[known]
    lines[path] = ("--set", None)
