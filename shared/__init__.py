"""The SER library: everything real lives here; services are thin adapters over it."""
