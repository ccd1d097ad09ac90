"""prism-async: an asyncio client for asynchronous video-generation APIs."""
