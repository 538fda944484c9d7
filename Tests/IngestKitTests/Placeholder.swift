import Testing
@Test func placeholderIngestKitTests() {}
