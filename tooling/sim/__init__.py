"""The system as real processes on one machine: the demo, the fleet load harness and simulated devices,
and what they share with the system tests (process control, a rendered Mosquitto config, a local CA)."""
