"""The one decision of a create's outcome: issued, refused, not sent or unknown."""
