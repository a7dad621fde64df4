"""Thin gRPC plumbing shared by every service: server, client, errors, conversions, logs, deadlines."""
