"""The cnncourse benchmark: loop throughput, time to accuracy, chapter execution times.

It lives beside the package, not in it: ``python benchmarks/run_benchmark.py`` (or
``make bench``) runs it from a checkout. Each section returns one dict per row; the
``report`` module writes them as wide CSVs (one row per loop, recipe or chapter, units
in the column names), Markdown tables for the book's appendix, and ``machine.json``.
"""
