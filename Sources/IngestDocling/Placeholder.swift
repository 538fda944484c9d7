// Placeholder until the IngestDocling client lands.
