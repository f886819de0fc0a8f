"""`facefleet bench hub`: enrollment, hostile uploads, the 1:N index."""
