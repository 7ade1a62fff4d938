from datetime import timedelta

from vigil.config import Settings
from vigil.jobs.registry import periodic_tasks


def test_sla_sweep_interval_follows_the_setting() -> None:
    import vigil.cases.tasks  # noqa: F401  (registers the task)

    task = next(t for t in periodic_tasks() if t.name == "cases.sla_sweep")
    assert task.interval(Settings(sla_sweep_seconds=15)) == timedelta(seconds=15)
    assert task.interval(None) == timedelta(seconds=60)
