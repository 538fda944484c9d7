import Testing
@Test func placeholderIngestServerTests() {}
