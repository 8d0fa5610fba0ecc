"""Benchmarks run by ``matchscope bench NAME`` (:mod:`core.bench.roma_speed`: ``roma-speed``)."""
