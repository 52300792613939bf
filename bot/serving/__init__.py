"""Serving layer: the HTTP server, the app's wiring, the gateway for adapters, the CLI."""
