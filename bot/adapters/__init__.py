"""Platform adapters: console, Slack, Telegram. They import the core, never the reverse."""
