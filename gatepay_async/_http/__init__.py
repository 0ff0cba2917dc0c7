"""The HTTP machinery: transports, signing, sending, retry, clock, response cap."""
