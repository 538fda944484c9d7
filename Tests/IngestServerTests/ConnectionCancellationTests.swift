import Foundation
import HTTPTypes
import HummingbirdTesting
import IngestCore
import IngestServer
import NIOCore
import NIOPosix
import Testing

/// A live server (real socket): when the orchestrator's connection goes away mid-execute, the
/// document's work is cancelled instead of running on for nobody.
@Suite struct ConnectionCancellationTests {
    @Test func closingTheConnectionCancelsTheExecution() async throws {
        let ingester = FakeIngester { _ in
            try await Task.sleep(for: .seconds(60))
            return DocumentOutcome(source: "x", status: .indexed)
        }
        try await TestApp.make(ingester: ingester).test(.live) { client in
            let port = try #require(client.port)
            let body = ExecuteTests.execute(#"{"source":"/data/slow.pdf"}"#)
            let raw = "POST / HTTP/1.1\r\nhost: 127.0.0.1:\(port)\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            try await channel.writeAndFlush(ByteBuffer(string: raw)).get()
            _ = try await eventually { ingester.requests.isEmpty ? nil : true }
            try await channel.close().get()
            _ = try await eventually { ingester.cancellations == 1 ? true : nil }
            // The worker keeps serving.
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok)
        }
        #expect(ingester.cancellations == 1)
    }
}
