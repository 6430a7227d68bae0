"""Entry points: the command line, the nightly scheduler and the run wiring (no logic of their own)."""
