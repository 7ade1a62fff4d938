"""The ``keys.rotate`` job: re-seal every field value and blob still sealed with an old key.

Periodic (``keys_rotate_interval_seconds``) and enqueued by ``vigil keys rotate --job``. Each
batch is committed on its own (``JobContext.end_transaction``), so a rotation of millions of
values holds no lock for long; a run killed midway resumes when the job runs again (what is
left is exactly what is still sealed with an old key). Safe with several workers at once:
every re-seal is a compare-and-swap (``keys.service``). A run with nothing to do writes
nothing, not even an audit record.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from vigil.auth.principal import Principal
from vigil.jobs.registry import JobContext, handler, periodic
from vigil.keys import service

ROTATE = "keys.rotate"
SYSTEM = Principal.system("keys")


@handler(ROTATE)
def rotate(ctx: JobContext, payload: dict[str, Any]) -> None:
    batch = payload.get("batch")
    service.rotate(
        ctx.session,
        ctx.settings,
        SYSTEM,
        end_batch=ctx.end_transaction,
        batch=int(batch) if isinstance(batch, int) and batch > 0 else None,
    )


periodic(ROTATE, timedelta(days=1), ROTATE, setting="keys_rotate_interval_seconds")
