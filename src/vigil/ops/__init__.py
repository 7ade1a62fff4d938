"""Running Vigil as a service: health and readiness, Prometheus metrics, structured logs."""
