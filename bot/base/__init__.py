"""Base layer: settings, clock, logging, languages, sentences, metrics — no store, no core."""
