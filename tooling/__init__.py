"""Tooling around the programs: evaluations, benchmarks, the demo and the load simulation. It imports the
programs (edge/, hub/, models/) and the contract (facefleet/); none of them imports it."""
