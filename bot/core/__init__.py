"""The application layer (docs/architecture.md, "Layers"): what every surface calls.

Commands, the situation room, jobs, briefings and the export read through these modules;
the first of them is the disclosure rule (`bot.core.disclosure`).
"""
