import Foundation
import IngestKit
import NIOCore
import Testing

@Suite struct BodySlicesTests {
    /// The parts come out in order, in slices of at most 4 MiB that never span two parts.
    @Test func partsComeOutInOrderInBoundedSlices() async {
        let big = Data((0..<(BodySlices.sliceBytes + 10)).map { UInt8(truncatingIfNeeded: $0) })
        let parts = [Data("head".utf8), Data(), big, Data("tail".utf8)]
        var sizes: [Int] = []
        var joined = Data()
        for await buffer in BodySlices(parts: parts) {
            sizes.append(buffer.readableBytes)
            joined.append(contentsOf: buffer.readableBytesView)
        }
        #expect(sizes == [4, BodySlices.sliceBytes, 10, 4])
        #expect(joined == Data(parts.joined()))
    }

    @Test func requestBodyJoinsItsParts() {
        #expect(HTTPRequest(method: "GET", url: "http://x").body == nil)
        #expect(HTTPRequest(method: "POST", url: "http://x", body: Data("a".utf8)).bodyParts == [Data("a".utf8)])
        #expect(HTTPRequest(method: "POST", url: "http://x", bodyParts: [Data("a".utf8), Data("b".utf8)]).body == Data("ab".utf8))
    }
}
