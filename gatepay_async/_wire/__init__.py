"""The wire formats: GatePay's envelope, answer decoding, request validation, paths."""
