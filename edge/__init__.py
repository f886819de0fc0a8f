"""FaceFleet edge agent: cameras -> detect -> track -> embed -> vote -> MQTT events, with signed updates."""

__version__ = "0.1.0"
