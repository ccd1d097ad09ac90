"""A third-party provider, as its author would write it: ``toy`` imports nothing of
prism-async but :mod:`prism_async.providers`, and ``server`` is the toy API it talks to
(an ``aiohttp.web`` app that :class:`prism_async.testing.EmulatorServer` serves)."""
