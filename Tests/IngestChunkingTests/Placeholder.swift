import Testing
@Test func placeholderChunk() {}
