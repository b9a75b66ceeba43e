"""Benchmarks: each module exposes ``main()`` and prints its figures with the command behind them."""
