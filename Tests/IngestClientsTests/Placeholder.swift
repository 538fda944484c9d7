import Testing
@Test func placeholderIngestClientsTests() {}
