"""The devices: the MQTT link and what it accepts, the registry, rollouts and releases, recent events,
Home Assistant."""
