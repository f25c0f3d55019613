"""Load a scenario: YAML (with extends and --set) -> validated, frozen Scenario, or every problem at once."""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ValidationError

from .errors import AnnoplanError, Problem, ScenarioError
from .forecast import read_forecast
from .schema import Scenario
from .checks import cross_check
from .yaml_source import LineMap, apply_override, read_scenario_tree


def _vocabulary(model: type[BaseModel], seen: set[type] | None = None) -> set[str]:
    """Every field name of `model` and the models it contains (to tell field names from pydantic's union labels)."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for sub in _models_in(field.annotation):
            names |= _vocabulary(sub, seen)
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


_FIELD_NAMES = _vocabulary(Scenario)


def _model_at(path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the keys at `path` (a cleaned data path), for "did you mean" hints."""
    current: Any = Scenario
    for key in path:
        current = _step(current, key)
        if current is None:
            return None
    models = _models_in(current)
    return models[0] if models else None


def _step(annotation: Any, key: Any) -> Any:
    models = _models_in(annotation) if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)) \
        else [annotation]
    if isinstance(key, str):
        for model in models:
            if key in model.model_fields:
                return model.model_fields[key].annotation
    for arg in _containers(annotation):
        origin = typing.get_origin(arg)
        if origin is dict and isinstance(key, str):
            return typing.get_args(arg)[1]
        if origin in (list, tuple) and isinstance(key, int):
            return typing.get_args(arg)[0]
    return None


def _containers(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin in (dict, list, tuple):
        return [annotation]
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return [c for arg in typing.get_args(annotation) for c in _containers(arg)]
    return []


def _clean_loc(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop pydantic's union/validator labels from an error location, keeping data keys and field names."""
    out: list[Any] = []
    node = data
    for key in loc:
        if isinstance(node, dict) and key in node:
            out.append(key)
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            out.append(key)
            node = node[key]
        elif isinstance(key, str) and key in _FIELD_NAMES and (node is None or isinstance(node, dict)):
            out.append(key)
            node = None
    return tuple(out)


def _line_of(path: tuple[Any, ...], lines: LineMap, default_file: str) -> tuple[str, int | None]:
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return default_file, None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem_from_pydantic(err: dict[str, Any], data: dict[str, Any], lines: LineMap, file: str) -> Problem:
    path = _clean_loc(tuple(err["loc"]), data)
    where_file, line = _line_of(path, lines, file)
    dotted = ".".join(str(p) for p in path)
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_at(path[:-1])
        options = sorted(model.model_fields) if model else []
        match = difflib.get_close_matches(str(path[-1]), options, n=1)
        hint = f"did you mean `{match[0]}`?" if match else (f"allowed: {', '.join(options)}" if options else "")
        return Problem(where_file, line, dotted, "unknown field", hint)
    if kind == "missing":
        return Problem(where_file, line, dotted, "required field is missing", "add it")
    message = err["msg"].removeprefix("Value error, ")
    if kind.startswith(("literal_", "enum")):
        return Problem(where_file, line, dotted, f"{message}, got {_short(err.get('input'))}")
    hint = ""
    if kind in ("greater_than_equal", "greater_than", "less_than", "less_than_equal"):
        hint = "change the value to fit the bound"
    shown = "" if kind == "value_error" else f", got {_short(err.get('input'))}"
    return Problem(where_file, line, dotted, f"{message}{shown}", hint)


_BRANCH_MISMATCH = ("literal_error", "string_type", "list_type", "dict_type", "model_type", "float_type", "int_type")


def _drop_union_branch_noise(errors: list[Any], data: dict[str, Any]) -> list[Any]:
    """A field that may be A or B reports a mismatch with A when B has the real error deeper down: keep B's."""
    paths = [_clean_loc(tuple(e["loc"]), data) for e in errors]
    return [e for e, path in zip(errors, paths)
            if not (e["type"] in _BRANCH_MISMATCH and any(len(o) > len(path) and o[:len(path)] == path
                                                           for o in paths))]


def _resolve_forecast_files(data: dict[str, Any], lines: LineMap) -> list[Problem]:
    """Make forecast paths absolute (relative to the file that names them) and check they read."""
    problems: list[Problem] = []
    queues = data.get("queues")
    if not isinstance(queues, dict):
        return problems
    for qid, queue in queues.items():
        volume = queue.get("volume") if isinstance(queue, dict) else None
        if isinstance(volume, dict) and isinstance(volume.get("replay"), str):
            problems += _resolve_replay(queues, qid, volume, lines)
            continue
        if not isinstance(volume, dict) or not isinstance(volume.get("file"), str):
            continue
        key = ("queues", qid, "volume", "file")
        src, line = _line_of(key, lines, "")
        base = Path(src).parent if src not in ("", "--set") else Path.cwd()
        try:
            target = (base / volume["file"]).resolve()
            read_forecast(target)
        except (ValueError, OSError) as exc:  # also a NUL byte or an over-long name in the path
            problems.append(Problem(src, line, ".".join(key), str(exc),
                                    "a forecast has columns start (ISO timestamp) and volume"))
            continue
        volume = dict(volume, file=str(target))
        queues[qid] = dict(queue, volume=volume)
    return problems


def _resolve_replay(queues: dict[str, Any], qid: str, volume: dict[str, Any], lines: LineMap) -> list[Problem]:
    """`volume: {replay: LOG}`: the log's path made absolute and read once (a bad log is reported here,
    naming its row and column); the queue's name in the log defaults to the queue's own."""
    from .task_log import read_cached

    key = ("queues", qid, "volume", "replay")
    src, line = _line_of(key, lines, "")
    base = Path(src).parent if src not in ("", "--set") else Path.cwd()
    target = (base / volume["replay"]).resolve()
    try:
        log = read_cached(str(target))
    except AnnoplanError as exc:
        return [Problem(src, line, ".".join(key), str(exc), "give a task log (README, \"Task logs\")")]
    name = str(volume.get("queue", qid))
    if name not in set(log.tasks["queue"].astype(str).unique()):
        return [Problem(src, line, ".".join(key), f"the log has no queue named {name!r}",
                        "give volume.queue: the queue's name in the log")]
    queues[qid] = dict(queues[qid], volume=dict(volume, replay=str(target), queue=name))
    return []


def load_raw(path: str | Path, overrides: Iterable[str] = ()) -> tuple[dict[str, Any], LineMap]:
    """The merged YAML data of a scenario (extends resolved, overrides applied) with its line map."""
    data, lines = read_scenario_tree(Path(path))
    for assignment in overrides:
        apply_override(data, lines, assignment)
    return data, lines


def validate_data(data: dict[str, Any], lines: LineMap, file: str) -> Scenario:
    """Validate merged data into a Scenario; raise ScenarioError listing every problem."""
    problems = _resolve_forecast_files(data, lines)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        errors = _drop_union_branch_noise(exc.errors(), data)
        problems += [_problem_from_pydantic(e, data, lines, file) for e in errors]
        raise ScenarioError(problems) from None
    for path, message, hint in cross_check(scenario):
        where_file, line = _line_of(path, lines, file)
        problems.append(Problem(where_file, line, ".".join(map(str, path)), message, hint))
    if problems:
        raise ScenarioError(problems)
    return scenario


def load_scenario(path: str | Path, overrides: Iterable[str] = ()) -> Scenario:
    """Read, merge, override and validate a scenario file; the single entry point for every command."""
    data, lines = load_raw(path, overrides)
    return validate_data(data, lines, str(path))
