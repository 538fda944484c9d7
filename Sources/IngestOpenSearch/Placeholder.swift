// Placeholder until the IngestOpenSearch client lands.
