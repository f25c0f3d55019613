"""Polish the verified plan: its one-step decreases that the study could not rule out, judged on fresh
replications, and the result confirmed on replications that played no part in choosing it.

The search judges plans on a few common random numbers. A step down that missed there by their luck
(an extreme-value KPI such as a pool's worst day of exposure), or that the descent never reached
before the budget ran out, is money left on the table. So once a plan passes verification, each
one-step decrease that saves money, unless the study showed it to miss with confidence (the
certificate: screened, or a miss at SURE), is verified on the same fresh replications: the largest
saving first among those the study's measured effects expect to pass, then the rest; after every
saving (exchanges included), the steps that cost the same but mean less work (a QC rate: the search's
tie-break), confirmed last. One that passes with KEEP confidence (or nearly the verified plan's, if
less) becomes the plan, and its variable may step again; one that misses is not stepped again (fewer
heads elsewhere never help it), up to `tries` verifications. One that meets the
rule with less confidence waits until no sure step is left, and is then taken (and may step again):
last in the sequence below, so that if the second set fails it, it costs only itself and what came
after it, never a sure step. If the plan moved since, it is judged again from the plan that stands, even
once the `tries` are spent (once per such variable): it passed once, and the budget spent on the sure
steps should not throw its saving away.

When no single step down is left (or the `tries` for them are spent), an exchange may be, up to
`exchanges` verifications of its own: a step down that missed on the first set, from the plan that
stands or an earlier one with the variable where it stands now, paired with the cheapest raise of the
other variables that covers what it is expected to miss from the plan that stands (its own miss,
moved by how far that plan's margins sit from the earlier plan's on the same replications), tried when
the pair still saves money (raising.raise_moves; what a raise buys is read off the other variables'
step downs on the same fresh replications, else the study). One that passes is kept like a step, and
since it added heads somewhere, the steps blocked before it that it is expected to cover may be tried
again.

Picking among several plans by one set of replications favours the lucky ones, so a polished plan
stands only if it also passes on a second fresh set (verify.CONFIRM). The steps kept are confirmed one
at a time, each on the second set, up to the first that fails there: first the steps that the same
variable's next step down backs (it passed too), in the order taken, then each variable's last step,
most sure first (confirmation_order). The plan standing is the last one confirmed, or the plan that
verification first passed. That order was fixed by the first set alone, so this is a fixed-sequence
test: the chance that any confirmed plan truly misses a target stays within one test's 5%, however
many steps are confirmed. Every decrease that failed on
fresh replications is evidence for the certificate (certificate.certify's `fresh`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, Callable

import optuna

from .certificate import certify
from .raising import fresh_effects, move_effects, raise_moves
from .search_space import Decision
from .trials import Outcome, plan_key
from .verify import CONFIRM, FRESH, Verification

SURE = 0.99  # a step down the study saw miss with at least this confidence is not tried again
KEEP = 0.99  # a step is kept at once only this sure on the first set (or nearly as sure as the plan verified,
# if that is less): one that barely passes there (95%) is a coin flip on the second, and a failed
# confirmation ends the sequence, so the unsure steps come last
NEARLY = 0.005  # "nearly as sure": a step of a variable that hardly moves the binding target only adds noise
# plan -> (key, source, heads moved, plan) for each roster transfer from it (StructuredSearch.transfers)
Transfers = Callable[[dict[str, Any]], list[tuple[str, Decision, int, dict[str, Any]]]]


@dataclass
class Polished:
    """What polishing did: the plan that stands and the evidence gathered on the way."""

    verification: Verification  # the last confirmed polished plan (on the CONFIRM set), or the one first verified
    steps: int = 0  # step-downs in the plan that stands
    checked: dict[str, Verification] = field(default_factory=dict)  # plan key -> each step-down tried (first set)
    confirmation: Verification | None = None  # the last confirmation tried on the second fresh set, if any
    unconfirmed: int = 0  # steps kept on the first set that the second did not confirm
    tried: list[dict[str, Any]] = field(default_factory=list)  # each step-down judged, in order (summary)
    out_of_time: bool = False  # the deadline (--time) came before polish ran out of steps or budget


def _ruled_out(plan: dict[str, Any], decisions: list[Decision], study: optuna.Study) -> set[str]:
    """The variables whose step down from `plan` the study already rules out: at a range's end, screened,
    or a miss at SURE confidence (certificate.certify)."""
    entries = certify(plan, decisions, study)["variables"]
    return {path for path, e in entries.items() if "step_down" not in e or e["status"] == "screened"
            or (e["status"] == "misses" and e["confidence"] >= SURE)}


def _options(plan: dict[str, Any], decisions: list[Decision], blocked: set[str],
             price: Callable[[dict[str, Any]], float], effects: dict[str, dict[str, float]],
             margins: dict[str, float], free: bool = False) -> list[tuple[Decision, dict[str, Any]]]:
    """The money-saving step-downs of the variables not `blocked` (with `free`, those that cost the same
    instead: a QC rate when review time is not paid apart, where less QC work at the same cost is the
    preferred plan, as in the search), in the order to try them: those the measured effects expect to
    keep every margin (or have none for) before those they expect to miss; each group by saving,
    largest first."""
    ranked = []
    for i, d in enumerate(decisions):
        if d.choices is not None or d.path in blocked or d.index(plan[d.path]) == 0:
            continue
        lower = dict(plan, **{d.path: d.at(d.index(plan[d.path]) - 1)})
        saving = price(plan) - price(lower)
        if saving < 0 or (saving == 0) != free:
            continue
        effect = effects.get(d.path, {})  # per step up: a step down changes each violation by minus it
        expected_miss = any(margins.get(name, 0.0) + change < 0 for name, change in effect.items())
        ranked.append(((expected_miss, -saving, i), d, lower))
    return [(d, lower) for _, d, lower in sorted(ranked, key=lambda r: r[0])]


def polish(decisions: list[Decision], verified: Verification, study: optuna.Study, studied: dict[str, Outcome],
           spread: dict[str, float], known: dict[str, Verification], tries: int,
           price: Callable[[dict[str, Any]], float], judge: Callable[[dict[str, Any], int], Verification],
           exchanges: int = 0, deadline: float | None = None,
           transfers: Transfers | None = None
           ) -> Polished:
    """Step the verified plan down while steps pass on the same fresh replications (up to `tries` new
    verifications of single steps, then up to `exchanges` of exchanges; `known`: plan key -> what
    verification already found on them), then confirm the result on the second fresh set (see the module
    docstring). `judge(plan, first)` verifies a plan on the fresh replications from index `first`. Fewer
    heads never help, so a variable whose step down missed (on fresh replications, or surely in the
    study) is not stepped down again from a lower plan; the effects measured around the verified plan
    order the steps all the way down. Past `deadline` (time.monotonic(); `--time`), no new plan is judged
    on the first set; the steps already kept are still confirmed, so the plan that stands is as sure.
    `transfers(plan)`: the roster transfers from a plan (StructuredSearch.transfers), for _softened."""
    path: list[Verification] = []  # the steps kept on the first set, in the order taken
    tried: list[dict[str, Any]] = []
    checked: dict[str, Verification] = {}
    keep = min(KEEP, verified.confidence - NEARLY)
    blocked = _ruled_out(verified.params, decisions, study)
    unsure: set[str] = set()  # their step met the rule below `keep`: taken once the sure steps run out
    retake: set[str] = set()  # the unsure variables, once released: each may be judged once past `tries`
    effects = move_effects(verified.params, decisions, studied, spread)
    judged: list[tuple[Decision, Verification, Verification]] = []  # each single step: variable, from, to (first set)
    failures: dict[str, tuple[Verification, Verification]] = {}  # variable -> its last step down that missed: from, to
    exchanged: set[str] = set()  # exchange plans already judged
    steps_run = swaps_run = 0
    out_of_time = False
    while True:
        current = path[-1] if path else verified
        options = [(d, lower) for d, lower in
                   _options(dict(current.params), decisions, blocked | unsure, price, effects, current.margins)
                   if steps_run < tries or d.path in retake or _seen(lower, checked, known)]
        if not options and unsure:
            retake, unsure, keep = unsure, set(), 0.0  # last in the sequence: their failure there costs only them
            continue
        if not options:
            options = [(d, plan) for d, plan in _softened(current, failures, transfers, price)
                       + _exchanges(current, failures, judged, decisions, price, effects)
                       if plan_key(plan) not in exchanged][:1] if swaps_run < exchanges else []
            if options:
                exchanged.add(plan_key(options[0][1]))
        if not options:  # last, the steps that save nothing but QC work: after every saving, never before one
            options = [(d, lower) for d, lower in _options(dict(current.params), decisions, blocked, price, effects,
                                                          current.margins, free=True)
                       if steps_run < tries or _seen(lower, checked, known)]
            if not options:
                break
        d, lower = options[0]
        exchange = {p: [current.params[p], v] for p, v in lower.items() if p != d.path and v != current.params[p]}
        result = _seen(lower, checked, known)
        if result is None and deadline is not None and monotonic() >= deadline:
            out_of_time = True
            break
        retake.discard(d.path)
        if result is None:
            result = checked[plan_key(lower)] = judge(lower, FRESH)
            swaps_run, steps_run = (swaps_run + 1, steps_run) if exchange else (swaps_run, steps_run + 1)
        taken = result.met and result.confidence >= keep
        tried.append({"variable": d.path, "from": current.params[d.path], "to": lower[d.path], "met": result.met,
                      "confidence": result.confidence, "kept": taken, "saving": price(current.params) - price(lower),
                      **({"exchange": exchange} if exchange else {}),
                      **({"replications_needed": result.needed} if result.needed else {})})
        if not exchange:
            judged.append((d, current, result))
            if not result.met:
                failures[d.path] = (current, result)
        if taken:
            path.append(result)
            if exchange:  # more heads elsewhere may help what was blocked: reopen what they are expected to cover
                blocked = _ruled_out(lower, decisions, study) | {
                    p for p, (there, missed) in failures.items()
                    if there.params[p] == lower[p] and min(_shifted(result, there, missed).values(), default=0.0) < 0}
        elif exchange:
            continue
        elif result.met:
            unsure.add(d.path)
        else:
            blocked.add(d.path)
    standing, steps, confirmation = verified, 0, None
    plan = dict(verified.params)
    for entry in confirmation_order([t for t in tried if t["kept"]]):  # the fixed sequence, up to the first failure
        plan = dict(plan, **{entry["variable"]: entry["to"]},
                    **{p: to for p, (_, to) in entry.get("exchange", {}).items()})
        confirmation = judge(plan, CONFIRM)
        entry["confirmed"] = confirmation.met
        if not confirmation.met:
            break
        standing, steps = confirmation, steps + 1
    return Polished(standing, steps, checked, confirmation, len(path) - steps, tried, out_of_time)


def confirmation_order(kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps kept on the first set (trace entries, in the order taken), in the order the second set
    confirms them: first every step after which its variable stepped down again and passed (fewer heads
    never help, so the first set backs it twice), in the order taken; then each variable's last step, the
    one at the edge of feasibility, most sure first. A failure at one variable's edge then never costs
    another variable's backed steps. The order depends on the first set alone: still a fixed sequence.
    An exchange was found from the plan all the steps before it reached, so it and every step after it
    keep the order taken; so does a step that saves nothing (a QC rate), taken only once no saving was left,
    so that its failure on the second set never costs a step that saves money."""
    first = next((i for i, entry in enumerate(kept) if entry.get("exchange") or entry["saving"] == 0), len(kept))
    before, after = kept[:first], kept[first:]
    last = {entry["variable"]: entry for entry in before}
    backed = [entry for entry in before if last[entry["variable"]] is not entry]
    return backed + sorted(last.values(), key=lambda entry: -entry["confidence"]) + after


def _seen(plan: dict[str, Any], checked: dict[str, Verification],
          known: dict[str, Verification]) -> Verification | None:
    """What the first fresh set already found for `plan`, if it was judged there."""
    return checked.get(plan_key(plan)) or known.get(plan_key(plan))


def _shifted(current: Verification, there: Verification, missed: Verification) -> dict[str, float]:
    """The margins a step down that `missed` from the plan `there` is expected to have from `current`:
    its own, moved by how far `current`'s margins sit from `there`'s on the same fresh replications (each
    constraint's change adds; where a margin is undefined, the step's own)."""
    out = {}
    for name, margin in missed.margins.items():
        move = current.margins.get(name, math.nan) - there.margins.get(name, math.nan)
        out[name] = margin + move if math.isfinite(margin) and math.isfinite(move) else margin
    return out


def _softened(current: Verification, failures: dict[str, tuple[Verification, Verification]],
              transfers: Transfers | None,
              price: Callable[[dict[str, Any]], float]) -> list[tuple[Decision, dict[str, Any]]]:
    """Softened steps from the `current` plan: for each roster pattern whose step down missed on the first
    set (from a plan with the pattern where `current` has it), its head moved to a cheaper pattern of its
    pool instead of taken off (a transfer of one head: StructuredSearch.transfers), when that saves money.
    It takes off less cover than the step that missed, only the hours the other pattern does not share.
    Those whose step missed with every mean inside its target (undecided: `needed`) first, then the
    largest saving."""
    if transfers is None:
        return []
    out, standing = [], price(current.params)
    for _, d, heads, moved in transfers(current.params):
        if heads != 1 or d.path not in failures or failures[d.path][0].params[d.path] != current.params[d.path]:
            continue
        if (cost := price(moved)) < standing:
            out.append(((failures[d.path][1].needed is None, cost), d, moved))
    return [(d, moved) for _, d, moved in sorted(out, key=lambda r: r[0])]


def _exchanges(current: Verification, failures: dict[str, tuple[Verification, Verification]],
               judged: list[tuple[Decision, Verification, Verification]], decisions: list[Decision],
               price: Callable[[dict[str, Any]], float],
               effects: dict[str, dict[str, float]]) -> list[tuple[Decision, dict[str, Any]]]:
    """Exchanges from the `current` plan once no single step down is left to try: each variable's step
    down that missed on the first fresh set (`failures`: from the plan standing then, if that plan had
    the variable where `current` has it), with the cheapest raise of the other variables that covers
    what it is expected to miss from `current` (_shifted; raising.raise_moves), kept when the pair still
    saves money; cheapest first. A raise's effects are those its own step down showed on these
    replications (raising.fresh_effects over `judged`, the latest for each variable), else the study's
    (`effects`). Two local optima of the same quarter (two heads more at one site, three vendor hires
    fewer) differ by such a swap, which no single step reaches."""
    measured = {**effects, **fresh_effects(judged)}
    by_path = {d.path: d for d in decisions}
    out = []
    for p, (there, missed) in failures.items():
        others = {q: e for q, e in measured.items() if q != p}
        if there.params[p] != current.params[p] or not others:
            continue
        shortfall = {n: -m for n, m in _shifted(current, there, missed).items()}
        if max(shortfall.values(), default=0.0) <= 0:
            continue
        lower = dict(current.params, **{p: missed.params[p]})
        moved = raise_moves(lower, decisions, shortfall, others, price)
        if moved is not None and (cost := price(moved)) < price(current.params):
            out.append((cost, by_path[p], moved))
    return [(d, moved) for _, d, moved in sorted(out, key=lambda r: r[0])]


def undecided(tried: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps down (trace entries) that failed the first set on the edge, every mean inside its target:
    a planner's choice of time against money (verify.settle), reported, never made silently."""
    return [t for t in tried if not t["met"] and t.get("replications_needed") and not t.get("exchange")]
