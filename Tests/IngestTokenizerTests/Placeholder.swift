import Testing
@Test func placeholderTok() {}
