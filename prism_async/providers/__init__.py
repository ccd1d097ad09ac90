"""The built-in provider adapters (registered through the prism_async.providers entry points)."""
