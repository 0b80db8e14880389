"""Scripts on top of jopt: the main job (compare_optimizers.py), benchmarks (bench/)."""
