"""Optuna search over a scenario's decision variables (arrives with the optimisation issue)."""
