import Foundation
import IngestCore
import IngestKit
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// URL downloads: each hop is resolved once and fetched from the checked address (no DNS
/// rebinding window), and the body stops at INGEST_MAX_FILE_BYTES.
@Suite struct URLFetcherTests {
    /// A resolver that answers `first` once, then `later` (a rebinding DNS server), and counts.
    final class RebindingResolver: Sendable {
        let first: [String]
        let later: [String]
        let calls = Mutex(0)
        init(first: [String], later: [String]) { self.first = first; self.later = later }
        func resolve(_ host: String) -> [String] {
            calls.withLock { count in
                count += 1
                return count == 1 ? first : later
            }
        }
    }

    /// Records where each GET connected, and answers from a script.
    final class ScriptedConnector: URLConnector, Sendable {
        struct Call: Sendable, Equatable { var url: String; var address: String }
        let calls = Mutex<[Call]>([])
        /// Pieces of body delivered so far.
        let delivered = Mutex(0)
        let status: Int
        let headers: [(name: String, value: String)]
        /// The body, in pieces; `endless` repeats the last piece for ever.
        let pieces: [Int]
        let endless: Bool

        init(status: Int = 200, headers: [(name: String, value: String)] = [], pieces: [Int] = [4], endless: Bool = false) {
            self.status = status
            self.headers = headers
            self.pieces = pieces
            self.endless = endless
        }

        func get(_ url: HTTPURL, connectingTo address: String, timeout: Duration, receive: (DownloadPart) throws -> Bool) async throws {
            calls.withLock { $0.append(Call(url: url.text, address: address)) }
            guard try receive(.head(DownloadHead(status: status, headers: headers))) else { return }
            var index = 0
            while index < pieces.count || endless {
                let size = pieces[min(index, pieces.count - 1)]
                delivered.withLock { $0 += 1 }
                guard try receive(.body(ByteBuffer(repeating: 0x41, count: size))) else { return }
                index += 1
            }
        }
    }

    @Test func connectsToTheAddressThatWasCheckedNotAReResolvedOne() async throws {
        // Public when checked, loopback a moment later: the connection must go to the public one.
        let resolver = RebindingResolver(first: ["93.184.216.34"], later: ["127.0.0.1"])
        let connector = ScriptedConnector()
        let fetcher = URLFetcher(connector: connector, resolve: { resolver.resolve($0) })
        let fetched = try await fetcher.fetch("https://files.example/report.pdf", maxBytes: 1 << 20, allowHosts: [], timeout: .seconds(5))
        #expect(fetched.bytes.count == 4)
        #expect(connector.calls.withLock { $0 } == [.init(url: "https://files.example/report.pdf", address: "93.184.216.34")])
        #expect(resolver.calls.withLock { $0 } == 1)
    }

    @Test func aRedirectIsResolvedAndCheckedAgain() async throws {
        let resolver = RebindingResolver(first: ["93.184.216.34"], later: ["127.0.0.1"])
        let connector = ScriptedConnector(status: 302, headers: [("Location", "http://next.example/doc.pdf")])
        let fetcher = URLFetcher(connector: connector, resolve: { resolver.resolve($0) })
        await #expect {
            try await fetcher.fetch("https://files.example/report.pdf", maxBytes: 1 << 20, allowHosts: [], timeout: .seconds(5))
        } throws: { error in
            let error = error as? IngestError
            return error?.reason == .invalidInput && error?.message.contains("127.0.0.1") == true
        }
        // The redirect's target was never connected to.
        #expect(connector.calls.withLock { $0.map(\.address) } == ["93.184.216.34"])
    }

    @Test func aDownloadStopsReadingAtTheLimit() async throws {
        // An endless body in 64 KiB pieces, a 1 MiB limit: at most 16 pieces fit, the 17th stops it.
        let connector = ScriptedConnector(pieces: [64 << 10], endless: true)
        let fetcher = URLFetcher(connector: connector, resolve: { _ in ["93.184.216.34"] })
        await #expect {
            try await fetcher.fetch("https://files.example/huge.pdf", maxBytes: 1 << 20, allowHosts: [], timeout: .seconds(5))
        } throws: { error in
            let error = error as? IngestError
            return error?.reason == .tooLarge && error?.message.contains("INGEST_MAX_FILE_BYTES") == true
        }
        #expect(connector.delivered.withLock { $0 } == 17)
    }

    @Test func aDeclaredLengthOverTheLimitIsRefusedBeforeTheBody() async throws {
        let connector = ScriptedConnector(headers: [("Content-Length", "5000000")], pieces: [1 << 10], endless: true)
        let fetcher = URLFetcher(connector: connector, resolve: { _ in ["93.184.216.34"] })
        await #expect {
            try await fetcher.fetch("https://files.example/huge.pdf", maxBytes: 1 << 20, allowHosts: [], timeout: .seconds(5))
        } throws: { ($0 as? IngestError)?.reason == .tooLarge }
        #expect(connector.delivered.withLock { $0 } == 0)
    }

    // MARK: - Real connections, on loopback

    @Test func theRealConnectorUsesTheCheckedAddressAndKeepsTheHostName() async throws {
        let server = try LoopbackHTTPServer(body: Data("%PDF-1.4 hello".utf8))
        defer { server.stop() }
        // "files.test" does not resolve in DNS: the download works only because it connects to
        // the address the guard checked (loopback, allowed here by name).
        let fetcher = URLFetcher(connector: PinnedHTTPConnector(), resolve: { _ in ["127.0.0.1"] })
        let fetched = try await fetcher.fetch("http://files.test:\(server.port)/a.pdf", maxBytes: 1 << 20, allowHosts: ["files.test"], timeout: .seconds(10))
        #expect(fetched.bytes == Data("%PDF-1.4 hello".utf8))
        #expect(server.requests.first?.lowercased().contains("host: files.test:\(server.port)") == true)
    }

    @Test func aHostThatRebindsToLoopbackAfterTheCheckNeverReachesLoopback() async throws {
        let server = try LoopbackHTTPServer(body: Data("secret".utf8))
        defer { server.stop() }
        // Allowed (TEST-NET-3) when checked, loopback for anyone who resolves again.
        let resolver = RebindingResolver(first: ["203.0.113.7"], later: ["127.0.0.1"])
        let fetcher = URLFetcher(connector: PinnedHTTPConnector(connectTimeout: .seconds(1)), resolve: { resolver.resolve($0) })
        await #expect(throws: IngestError.self) {
            try await fetcher.fetch("http://rebind.test:\(server.port)/secret", maxBytes: 1 << 20, allowHosts: [], timeout: .seconds(3))
        }
        #expect(server.requests.isEmpty)
        #expect(resolver.calls.withLock { $0 } == 1)
    }
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 answering every request with `body`, recording
/// each request head. Plain sockets on its own thread, so the test needs no server framework.
final class LoopbackHTTPServer: Sendable {
    let port: Int
    private let listener: Int32
    private let received = Mutex<[String]>([])
    private let stopped = Mutex(false)

    var requests: [String] { received.withLock { $0 } }

    init(body: Data) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard fd >= 0, bound == 0, listen(fd, 8) == 0 else { throw IngestError(.internalError, "test server: cannot listen") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let response = Data(head.utf8) + body
        let thread = Thread { [self] in serve(response) }
        thread.start()
    }

    private func serve(_ response: Data) {
        while !stopped.withLock({ $0 }) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            var request = Data()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !request.contains(Data("\r\n\r\n".utf8)) {
                let n = read(client, &buffer, buffer.count)
                guard n > 0 else { break }
                request.append(contentsOf: buffer[0..<n])
            }
            received.withLock { $0.append(String(decoding: request, as: UTF8.self)) }
            _ = response.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            close(client)
        }
    }

    func stop() {
        stopped.withLock { $0 = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}

/// IPv6 addresses that carry an IPv4 address (security issue 19): the embedded IPv4 is checked
/// by the IPv4 rules, as IPv4-mapped addresses were; ranges whose path cannot be known
/// (local-use NAT64, Teredo) and deprecated site-local are refused outright.
@Suite struct URLGuardIPv6Tests {
    @Test(arguments: [
        "64:ff9b:1::808:808",                       // local-use NAT64 /48, even with a public IPv4
        "64:ff9b:1:abcd::1",
        "2001::1",                                   // Teredo 2001::/32
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "fec0::1",                                   // site-local fec0::/10
        "feff:ffff::1",
        "64:ff9b::7f00:1",                           // NAT64 of 127.0.0.1
        "64:ff9b::10.1.2.3",
        "64:ff9b::a9fe:a9fe",                        // 169.254.169.254 (cloud metadata)
        "2002:7f00:1::1",                            // 6to4 of 127.0.0.1
        "2002:c0a8:101::",                           // 6to4 of 192.168.1.1
        "2002:a00:1:1::5",                           // 6to4 of 10.0.0.1
        "::127.0.0.1",                               // IPv4-compatible
        "::10.0.0.1",
        "::a9fe:a9fe",
        "::", "::1",                                 // unspecified and loopback, as before
        "::ffff:192.168.1.1", "::ffff:127.0.0.1",    // IPv4-mapped, as before
    ])
    func refused(_ address: String) throws {
        #expect(URLGuard.isInternal(address))
        #expect(throws: IngestError.self) { try URLGuard.check("http://[\(address)]/doc.pdf", allowHosts: [], resolve: { _ in [] }) }
        #expect(throws: IngestError.self) { try URLGuard.check("http://files.example/doc.pdf", allowHosts: [], resolve: { _ in [address] }) }
    }

    @Test(arguments: [
        "64:ff9b::808:808",                          // NAT64 of 8.8.8.8
        "64:ff9b::93.184.216.34",
        "2002:808:808::1",                           // 6to4 of 8.8.8.8
        "::8.8.8.8",                                 // IPv4-compatible public
        "::ffff:8.8.8.8",
        "2001:4860:4860::8888",                      // 2001:4860::/32 is not Teredo
        "2606:4700:4700::1111",
    ])
    func allowed(_ address: String) throws {
        #expect(!URLGuard.isInternal(address))
        try URLGuard.check("https://files.example/doc.pdf", allowHosts: [], resolve: { _ in [address] })
    }
}
