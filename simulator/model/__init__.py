"""One replication of a scenario on a SimPy environment.

Where things happen: arrivals are made in `arrivals.py`; handling times are drawn in `handling.py`;
shifts, breaks and head-count in `shifts.py` and `staffing.py`; work meets a worker in `dispatch.py`;
a worker chooses its next item in `routing.py`; quality is decided in `quality.py`; an item's path
through stages is `workflow.py`; `engine.py` wires them together and `metrics.py` counts.
"""

from .engine import Replication, ReplicationResult, run_replication

__all__ = ["Replication", "ReplicationResult", "run_replication"]
