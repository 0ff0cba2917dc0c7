"""Secret handling: the Secret type, redaction of text and of log records."""
