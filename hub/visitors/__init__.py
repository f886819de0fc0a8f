"""Unknown people: ended tracks clustered into visitors (virtual ids), suggested samples, ignore entries and
the retention clock. Library code (no FastAPI, no paho): `hub.api.visitors`, `hub.api.tracks` and
`hub.api.suggestions` are the HTTP shell, `hub.service` feeds `VisitorIntake` from the MQTT link."""
