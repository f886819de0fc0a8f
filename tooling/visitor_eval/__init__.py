"""`facefleet eval visitors`: how well unknown tracks cluster into visitors, on LFW and on real clips."""
