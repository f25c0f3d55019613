"""Where quality is decided: the error probability of one label (docs/scenario.md)."""

from __future__ import annotations


def label_error(accuracy: float, difficulty: float) -> float:
    """Probability that one binary label is wrong: min(0.5, (1 - accuracy) x difficulty)."""
    return min(0.5, (1.0 - accuracy) * difficulty)
