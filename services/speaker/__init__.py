"""The speaker gRPC service (ser.v1.Speaker, default port 50053): GE2E embeddings, optional PCA projection."""
