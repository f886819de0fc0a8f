"""Face embedding: 5-point alignment to the embedder's crop and the embedder itself."""
