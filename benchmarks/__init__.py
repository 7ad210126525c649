"""``make bench``: each module exposes ``run(quick: bool, out_dir: Path) -> dict``; :mod:`benchmarks.run` joins them."""
