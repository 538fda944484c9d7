import Testing
@Test func placeholderIngestCoreTests() {}
