"""Generated protobuf contracts (package ser.v1)."""
