"""prism-async's benchmark suite (``python -m benchmarks``; see ``benchmarks/README.md``).

Nothing is imported here: server and client processes import only the modules they use.
"""
