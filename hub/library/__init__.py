"""The sample library: people, samples and their embeddings per model, enrollment from photos and video,
names, deletion, the active model and re-embedding, and the 1:N search index."""
