"""Running it: /healthz and /metrics, the Prometheus metrics, systemd notifications and watchdog."""
