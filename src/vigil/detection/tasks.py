"""Jobs of the detection domain.

Ingestion runs in the request (the marketplace waits for the decision), so it needs no job of
its own. This module is the one detection module the app imports at start-up
(``vigil.app.TASK_MODULES``): it imports the sub-packages' job modules so their handlers are
registered in every worker.
"""

from __future__ import annotations

from vigil.detection.rules import tasks as rules_tasks

__all__ = ["rules_tasks"]
