"""What a run writes: files in --out (`files.py`, `excel.py`), terminal tables and the HTML report.

Submodules are imported where used, so that printing a table never loads matplotlib.
"""

__all__ = ["excel", "files", "report", "terminal"]
