"""The features gRPC service (ser.v1.Features, default port 50052): log-mel, images, BOVW, eGeMAPS."""
