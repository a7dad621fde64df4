"""Speaker embeddings: encoders, PCA projection to the model width, MDS plot."""
