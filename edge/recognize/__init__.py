"""Frames to track events: shot cuts, tracking, face quality, pooled templates, the open-set decision,
liveness, the (model, gallery) pair in use, and the event records."""
