import Foundation
import HTTPTypes
import HummingbirdTesting
import IngestCore
import IngestServer
import IngestWorker
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

    /// The orchestrator pools connections and does not retry a step whose pooled connection was
    /// closed: an execute must leave its connection open for the next request.
    @Test func executeKeepsTheConnectionAlive() async throws {
        try await TestApp.make().test(.live) { client in
            let port = try #require(client.port)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            try await channel.executeThenClose { inbound, outbound in
                var responses = inbound.makeAsyncIterator()
                for id in ["k1", "k2", "k3"] {
                    let body = ExecuteTests.execute(#"{"source":"/data/a.pdf"}"#, id: id)
                    try await outbound.write(ByteBuffer(string: "POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"))
                    var received = ""
                    while !received.contains(#""id":"\#(id)""#) {
                        guard let buffer = try await responses.next() else {
                            Issue.record("connection closed after \(received.isEmpty ? "the previous response" : "a partial response")")
                            return
                        }
                        received += String(buffer: buffer)
                    }
                    #expect(received.hasPrefix("HTTP/1.1 200"))
                    #expect(!received.lowercased().contains("connection: close"))
                }
            }
        }
    }
}
