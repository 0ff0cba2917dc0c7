"""The bulk machinery: the plan of a run, the rate limiter, the worker pool."""
