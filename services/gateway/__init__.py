"""The gateway (default port 50050): ser.v1.CallAnalysis over the preprocess and inference services, and ser.v1.Jobs."""
