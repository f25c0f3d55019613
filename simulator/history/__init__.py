"""From production history to a scenario: fit one from a task log (calibrate), forecast each queue's
volume (forecast), and replay the log's arrivals through a scenario to see how well it reproduces the
past (backtest). The log format and its checks are in simulator/scenario/task_log.py."""
