import Foundation
import IngestCore
import IngestKit
import IngestTokenizer
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Local paths are opened once and everything (type, real path, bytes) comes from that
/// descriptor (security issue 19): a FIFO inside a root is refused without blocking, and a
/// symlink swapped in after the roots were checked is never followed out of them.
@Suite struct DocumentReaderTests {
    /// The allowed root, and a directory outside it holding a "secret".
    let root: String
    let outside: String
    let secret: String

    init() throws {
        let base = PathRules.canonical(NSTemporaryDirectory()) + "/ingest-reader-tests-" + UUID().uuidString
        root = base + "/root"
        outside = base + "/outside"
        try FileManager.default.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        secret = outside + "/doc.md"
        try "# Secret\n\nOutside the roots.".write(toFile: secret, atomically: true, encoding: .utf8)
    }

    func write(_ relative: String, _ text: String) throws -> String {
        let path = root + "/" + relative
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func invalidInput(_ error: any Error, saying words: String...) -> Bool {
        guard let error = error as? IngestError, error.reason == .invalidInput else { return false }
        return words.allSatisfy { error.message.contains($0) }
    }

    /// Opens the write end of a FIFO five seconds from now and records whether a reader was
    /// waiting on it (the non-blocking open succeeds only then). A read that blocked on the FIFO
    /// (the old open by name) is let go by it, so such a failure ends rather than hangs; a read
    /// that never blocked leaves it unset, however slowly a loaded machine runs the test. No
    /// timing is asserted.
    final class LateWriter: Sendable {
        private let found = Mutex(false)

        init(_ fifo: String) {
            DispatchQueue.global().asyncAfter(deadline: .now() + 5) { [self] in
                let fd = open(fifo, O_WRONLY | O_NONBLOCK)
                guard fd >= 0 else { return }  // ENXIO: nobody reading
                self.found.withLock { $0 = true }
                close(fd)
            }
        }

        var foundABlockedReader: Bool { found.withLock { $0 } }
    }

    @Test func readsARegularFileFromItsDescriptor() throws {
        let path = try write("a.md", "# A\n\nAlpha.")
        let (source, bytes) = try DocumentReader.read(path, roots: [root], maxBytes: 1 << 20)
        #expect(source == path)
        #expect(String(decoding: bytes, as: UTF8.self) == "# A\n\nAlpha.")
        let empty = try write("empty.md", "")
        #expect(try DocumentReader.read(empty, roots: [root], maxBytes: 1 << 20).bytes.isEmpty)
        #expect { try DocumentReader.read(path, roots: [root], maxBytes: 5) } throws: {
            ($0 as? IngestError)?.reason == .tooLarge && ($0 as? IngestError)?.message.contains("INGEST_MAX_FILE_BYTES") == true
        }
        #expect { try DocumentReader.read(root + "/nope.md", roots: [root], maxBytes: 5) } throws: {
            ($0 as? IngestError)?.reason == .unreadable && ($0 as? IngestError)?.message.contains("no such file") == true
        }
        #expect { try DocumentReader.read(root + "/sub", roots: [root], maxBytes: 5) } throws: {
            ($0 as? IngestError)?.reason == .unreadable && ($0 as? IngestError)?.message.contains("is a directory") == true
        }
    }

    @Test func aFIFOInsideARootIsRefusedAtOnce() throws {
        let fifo = root + "/pipe.md"
        try #require(mkfifo(fifo, 0o600) == 0)
        let writer = LateWriter(fifo)
        #expect { try DocumentReader.read(fifo, roots: [root], maxBytes: 1 << 20) } throws: {
            Self.invalidInput($0, saying: "pipe.md", "FIFO", "not a regular file")
        }
        #expect(!writer.foundABlockedReader)
    }

    @Test func aDeviceIsRefusedEvenWithoutRoots() throws {
        // The CLI has no roots; a device still is not a document (/dev/zero would never end).
        #expect { try DocumentReader.read("/dev/null", roots: nil, maxBytes: 1 << 20) } throws: {
            Self.invalidInput($0, saying: "/dev/null", "character device")
        }
    }

    @Test func aSymlinkInsideARootIsFollowedOnlyWithinTheRoots() throws {
        let target = try write("sub/target.md", "# T\n\nInside.")
        let inside = root + "/link.md"
        try FileManager.default.createSymbolicLink(atPath: inside, withDestinationPath: target)
        let (source, bytes) = try DocumentReader.read(inside, roots: [root], maxBytes: 1 << 20)
        #expect(source == target)  // identity is the real path, as before
        #expect(String(decoding: bytes, as: UTF8.self) == "# T\n\nInside.")

        let escaping = root + "/escape.md"
        try FileManager.default.createSymbolicLink(atPath: escaping, withDestinationPath: secret)
        #expect { try DocumentReader.read(escaping, roots: [root], maxBytes: 1 << 20) } throws: {
            Self.invalidInput($0, saying: "escape.md", "outside INGEST_ALLOWED_ROOTS")
        }
    }

    /// The race, made deterministic: the name is checked while it is a regular file inside the
    /// root, then replaced by a symlink to a file outside before the open.
    @Test func aSymlinkSwappedInAfterTheCheckIsRefused() throws {
        let path = try write("swap.md", "# Swap\n\nInside.")
        let checked = try PathRules.checkAllowed(path, roots: [root])
        #expect(checked == path)
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: secret)
        #expect { _ = try OpenedFile(resolvedPath: checked, displayPath: path, roots: [root]) } throws: {
            Self.invalidInput($0, saying: "swap.md", "changed to a symbolic link while being opened")
        }
        // The same without roots (the CLI): the file read is never other than the one named.
        #expect { _ = try OpenedFile(resolvedPath: checked, displayPath: path, roots: nil) } throws: {
            Self.invalidInput($0, saying: "symbolic link")
        }
    }

    /// A directory on the path swapped for a symlink after the check: the final component is a
    /// regular file, so `O_NOFOLLOW` alone would not see it; the descriptor's real path does.
    @Test func aDirectorySwappedForASymlinkAfterTheCheckIsRefused() throws {
        let path = try write("sub/doc.md", "# Doc\n\nInside.")
        let checked = try PathRules.checkAllowed(path, roots: [root])
        try FileManager.default.moveItem(atPath: root + "/sub", toPath: root + "/sub-old")
        try FileManager.default.createSymbolicLink(atPath: root + "/sub", withDestinationPath: outside)
        #expect { _ = try OpenedFile(resolvedPath: checked, displayPath: path, roots: [root]) } throws: {
            Self.invalidInput($0, saying: "sub/doc.md", secret, "outside INGEST_ALLOWED_ROOTS")
        }
        let opened = try OpenedFile(resolvedPath: checked, displayPath: path, roots: nil)
        let real = opened.realPath
        #expect(real == secret)  // what was opened, not the name it was opened by
    }

    /// Through the pipeline as the worker runs it: the FIFO fails at once with `invalid_input`
    /// (before, Foundation's read failed it as `unreadable`, "You don't have permission"), and
    /// the worker's next document is read.
    @Test func theWorkerPipelineRefusesAFIFOAtOnceAndGoesOn() async throws {
        var settings = PipelineSettings()
        settings.index = "test"
        settings.allowedRoots = [root]
        let pipeline = IngestPipeline(converter: FakeConverter(), embedder: FakeEmbedder(), index: InMemoryIndex(), tokenizer: WordPieceTokenizer.miniLM,
                                      settings: settings, endpoints: .init(docling: "d", embeddings: "e", opensearch: "o"), logger: Logger(label: "test"))
        let fifo = root + "/pipe.pdf"
        try #require(mkfifo(fifo, 0o600) == 0)
        let writer = LateWriter(fifo)
        await #expect { try await pipeline.load(IngestRequest(input: .path(fifo))) } throws: {
            Self.invalidInput($0, saying: "pipe.pdf", "FIFO")
        }
        #expect(!writer.foundABlockedReader)
        let next = try write("next.md", "# Next\n\nText.")
        #expect(try await pipeline.ingest(IngestRequest(input: .path(next))).status == .indexed)
    }
}
