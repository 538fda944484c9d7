import Testing
@Test func placeholderLocalEmbeddings() {}
