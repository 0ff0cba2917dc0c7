"""Durable storage: the database, the bulk journal, the ledger, group commit."""
