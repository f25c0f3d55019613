"""A catalogue of bad inputs: each exits 2, names file, line and field, and never prints a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli import main

GOOD = """\
name: t
horizon: {start: 2027-01-04, duration: 2w}
queues:
  q:
    volume: {mean: 100, per: day}
    handling_time: {mean: 45s}
    skill: s
    sla: {target: 24h}
pools:
  p: {headcount: 3, skills: [s]}
"""

CASES = {
    "typo key": (GOOD.replace("handling_time:", "handling_tme:"),
                 ["s.yaml:6: queues.q.handling_tme: unknown field", "did you mean `handling_time`?"]),
    "wrong type": (GOOD.replace("mean: 100", "mean: lots"),
                   ["s.yaml:5: queues.q.volume.mean:", "'lots'"]),
    "negative head-count": (GOOD.replace("headcount: 3", "headcount: -3"),
                            ["s.yaml:10: pools.p.headcount:", "greater than or equal to 0", "-3"]),
    "unknown skill": (GOOD.replace("skill: s", "skill: hate_en"),
                      ["s.yaml:7: queues.q.skill: no pool has the skill 'hate_en'"]),
    "misspelt skill": (GOOD.replace("skills: [s]", "skills: [hate_en]").replace("skill: s", "skill: hate_em"),
                       ["s.yaml:7: queues.q.skill:", "did you mean `hate_en`?"]),
    "bad duration": (GOOD.replace("duration: 2w", "duration: 2weeks"),
                     ["s.yaml:2: horizon.duration:", "'2weeks'", "45s, 12m, 8h, 3d or 13w"]),
    "malformed YAML": (GOOD.replace("{headcount: 3, skills: [s]}", "{headcount: 3, skills: [s]"),
                       ["s.yaml:", "malformed YAML"]),
    "Python tag": ("name: !!python/object/apply:os.system ['echo pwned']\n" + GOOD.split("\n", 1)[1],
                   ["s.yaml:1: name: the tag", "not allowed"]),
    "empty file": ("", ["s.yaml:1: the file is empty"]),
    "shares not summing to 1": (GOOD.replace("{headcount: 3, skills: [s]}", "\n    headcount: 3\n    skills: [s]\n"
                                             "    shifts:\n"
                                             "      - {start: '09:00', length: 9h, share: 0.5}\n"
                                             "      - {start: '14:00', length: 9h, share: 0.4}"),
                                ["s.yaml:13: pools.p.shifts:", "sum to 1", "0.9"]),
    "short hourly profile": (GOOD.replace("skill: s\n", "skill: s\n    hourly_profile: [1, 2, 3]\n"),
                             ["s.yaml:8: queues.q.hourly_profile: needs exactly 24 weights, got 3"]),
    "unknown workflow": (GOOD.replace("skill: s\n", "skill: s\n    workflow: standrd\n"),
                         ["queues.q.workflow: no workflow named 'standrd'", "did you mean `standard`?"]),
    "unknown time zone": (GOOD.replace("skills: [s]}", "skills: [s], timezone: Mars/Olympus}"),
                          ["s.yaml:10: pools.p.timezone: unknown time zone 'Mars/Olympus'"]),
    "warm-up past the end": (GOOD.replace("duration: 2w}", "duration: 2w, warmup: 3w}"),
                             ["s.yaml:2: horizon:", "warmup (504 h) must be shorter than duration (336 h)"]),
}


def _run(args):
    return CliRunner().invoke(main, args)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["validate", "simulate"])
def test_bad_input_exits_2_with_the_place_named(tmp_path, monkeypatch, case, command):
    text, expected = CASES[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(text)
    result = _run([command, "s.yaml"] + (["-r", "1", "--jobs", "1"] if command == "simulate" else []))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in expected:
        assert fragment in result.output, result.output


def test_all_problems_are_reported_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(GOOD.replace("handling_time:", "handling_tme:")
                                     .replace("headcount: 3", "headcount: -3").replace("per: day", "per: month"))
    result = _run(["validate", "s.yaml"])
    assert result.exit_code == 2
    assert result.output.count("error: s.yaml:") == 4  # missing handling_time, the typo, per, headcount


def test_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run(["simulate", "nowhere.yaml"])
    assert result.exit_code == 2 and "nowhere.yaml: file not found" in result.output


def test_extends_cycle_is_rejected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    result = _run(["validate", "a.yaml"])
    assert result.exit_code == 2 and "extends forms a cycle" in result.output


def test_bad_override_names_the_override(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(GOOD)
    result = _run(["simulate", "s.yaml", "--set", "pools.p.headcont=4"])
    assert result.exit_code == 2
    assert "--set: pools.p.headcont: unknown field (did you mean `headcount`?)" in result.output
    result = _run(["simulate", "s.yaml", "--set", "pools.p.headcount"])
    assert result.exit_code == 2 and "expected PATH=VALUE" in result.output


def test_consensus_needs_as_many_workers_as_passes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(GOOD.replace("headcount: 3", "headcount: 2")
                                     + "workflows:\n  standard:\n    label: {passes: 3}\n")
    result = _run(["simulate", "s.yaml", "-r", "1"])
    assert result.exit_code == 2
    assert "s.yaml:13: workflows.standard.label.passes: 3 passes need 3 different workers with skill 's'" \
        in result.output
