"""Benchmarks run by ``matchscope bench NAME``: ``roma-speed`` (:mod:`core.bench.roma_speed`) and
``pairs`` (:mod:`core.bench.pairs`, on :mod:`core.bench.datasets` and :mod:`core.bench.metrics`).
"""
