// Placeholder until the local embedder lands.
