"""Speed and quality benchmarks, run by hand; their figures go in the README."""
