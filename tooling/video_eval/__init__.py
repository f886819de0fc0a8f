"""`facefleet eval video`: the agent's recognition on a real clip, judged against a shot-level truth file."""
