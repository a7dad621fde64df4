"""The inference gRPC service (ser.v1.Emotion, default port 50054): registry models behind dynamic batching."""
