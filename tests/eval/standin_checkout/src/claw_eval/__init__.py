"""Stand-in for the Claw-Eval harness package (ise-trace test fixture, not the real harness)."""
