// Placeholder until the IngestServer client lands.
