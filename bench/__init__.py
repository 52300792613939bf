"""Benchmarks for Taskforce: every figure is a ratio against a baseline run beside it.

`python -m bench` (or `make bench`) runs them all and prints one table; see
`bench/RESULTS.md` for a recorded run. Each module runs one benchmark and returns rows:

- `command_path`: signed Slack `/tf sighting` requests over HTTP to the served app;
- `fanout`: one sighting into 200 linked Slack and Telegram channels;
- `briefing`: building a briefing over 10,000 and 1,000,000 sightings;
- `startup`: start-up time and resident memory of `taskforce serve`.
"""
