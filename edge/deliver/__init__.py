"""Events out: the SQLite outbox that loses nothing while the broker is away, and the MQTT link."""
