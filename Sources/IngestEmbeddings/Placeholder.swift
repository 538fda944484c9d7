// Placeholder until the IngestEmbeddings client lands.
