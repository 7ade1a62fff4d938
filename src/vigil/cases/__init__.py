"""Cases, queues, routing, assignment, escalation, SLAs and the case timeline."""
