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

Path_ = tuple[Any, ...]
LineMap = dict[Path_, tuple[str, int | None]]

_STANDARD_TAGS = {
    f"tag:yaml.org,2002:{t}"
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
}


def _walk(node: yaml.Node, path: Path_, file: str, lines: LineMap, loader: yaml.SafeLoader) -> Any:
    """Turn a composed node into plain Python data, recording each path's line."""
    lines.setdefault(path, (file, node.start_mark.line + 1))
    if node.tag not in _STANDARD_TAGS:
        raise ScenarioError([Problem(
            file, node.start_mark.line + 1, ".".join(map(str, path)),
            f"the tag {node.tag!r} is not allowed",
            "scenario files are plain YAML; remove the tag, Python tags are never loaded",
        )])
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ScenarioError([Problem(file, key_node.start_mark.line + 1, ".".join(map(str, path)),
                                             "a key must be a plain name", "write the key as text")])
            key = key_node.value
            if key in out:
                raise ScenarioError([Problem(
                    file, key_node.start_mark.line + 1, ".".join(map(str, path + (key,))),
                    f"the key {key!r} appears twice", "keep one of them")])
            lines[path + (key,)] = (file, key_node.start_mark.line + 1)
            out[key] = _walk(value_node, path + (key,), file, lines, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(child, path + (i,), file, lines, loader) for i, child in enumerate(node.value)]
    return loader.construct_object(node)


def read_yaml(path: Path) -> tuple[dict[str, Any], LineMap]:
    """Read one YAML mapping safely; return the data and a path -> (file, line) map."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([Problem(file, None, "", "file not found", "check the path")]) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(file, None, "", f"cannot read the file: {exc}",
                                     "give a UTF-8 YAML scenario file")]) from None
    loader = yaml.SafeLoader(text)
    lines: LineMap = {}
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError([Problem(file, 1, "", "the file is empty",
                                         "a scenario needs at least name, horizon, queues and pools")])
        data = _walk(node, (), file, lines, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError([Problem(file, line, "", f"malformed YAML: {exc.problem or exc.context}",
                                     "check indentation, colons and quotes on this line")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(file, None, "", f"malformed YAML: {exc}", "")]) from None
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


def apply_override(data: dict[str, Any], lines: LineMap, assignment: str) -> None:
    """Apply one `PATH=VALUE` override in place; the value is read as a YAML scalar or flow value."""
    if "=" not in assignment:
        raise ScenarioError([Problem("--set", None, assignment, "expected PATH=VALUE",
                                     "e.g. --set pools.sg.headcount=90")])
    dotted, _, text = assignment.partition("=")
    keys = dotted.strip().split(".")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem("--set", None, dotted, f"cannot read the value {text!r}: {exc}",
                                     "quote text values")]) from None
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
