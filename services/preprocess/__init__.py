"""The preprocess gRPC service (ser.v1.Preprocess, default port 50051): decode, channels, resample, VAD."""
