"""`facefleet-hub bench`: enrollment, hostile uploads, the 1:N index."""
