import Foundation
import IngestKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads local files with the checks a user needs explained: missing, not a file, too large,
/// outside the allowed roots.
package enum DocumentReader {
    /// Resolves `path`, checks it against `roots` (nil: any path, the CLI), opens it once and
    /// reads it from that descriptor (memory-mapped), at most `maxBytes`.
    /// - Returns: the real path of the file that was read (the document's `source`) and its bytes.
    /// - Throws: ``IngestError`` `invalid_input` for a path outside `roots`, a FIFO, device or
    ///   socket, or a path swapped for a symlink while it was opened; `unreadable` for a missing
    ///   file, a directory or a permission problem; `too_large` over `maxBytes`.
    package static func read(_ path: String, roots: [String]?, maxBytes: Int) throws -> (source: String, bytes: Data) {
        let resolved = try PathRules.checkAllowed(path, roots: roots)
        let file = try OpenedFile(resolvedPath: resolved, displayPath: path, roots: roots)
        return (file.realPath, try file.read(maxBytes: maxBytes))
    }
}

/// A local file opened once, by a path whose symlinks were already resolved: its type, its real
/// path and its bytes all come from the one descriptor, never from the name again. Checking a
/// name and then opening it again would let a symlink swapped in between escape the roots.
package struct OpenedFile: ~Copyable {
    /// The real path of the open file, read from the descriptor (not from the name it was opened by).
    package let realPath: String
    /// The size `fstat` gave when the file was opened.
    package let size: Int
    private let descriptor: Int32
    private let displayPath: String

    /// Opens `resolvedPath` with `O_NOFOLLOW` (its symlinks were resolved, so a symlink there now
    /// was swapped in) and `O_NONBLOCK` (so a FIFO cannot block the open), refuses anything but a
    /// regular file, and checks the descriptor's own path against `roots` (nil: any path): a
    /// directory on the way swapped for a symlink is caught there.
    package init(resolvedPath: String, displayPath: String, roots: [String]?) throws {
        let fd = resolvedPath.withCString { systemOpen($0, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw Self.openError(errno, displayPath: displayPath) }
        do {
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                throw IngestError(.unreadable, "\(displayPath) cannot be read: \(Self.describe(errno))")
            }
            try Self.checkRegular(mode: info.st_mode, displayPath: displayPath)
            let real = try Self.realPath(of: fd, info: info, resolvedPath: resolvedPath, displayPath: displayPath)
            if let roots, !PathRules.isUnder(real, roots: roots) {
                throw IngestError(.invalidInput, "local path \(displayPath) refused: the file opened is \(real), outside INGEST_ALLOWED_ROOTS (\(roots.joined(separator: ":"))); a directory on its path was replaced while it was opened")
            }
            // Reads of a regular file never block; the flag only served the open.
            let flags = fcntl(fd, F_GETFL)
            guard flags >= 0, fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
                throw IngestError(.unreadable, "\(displayPath) cannot be read: \(Self.describe(errno))")
            }
            self.realPath = real
            self.size = Int(info.st_size)
        } catch {
            close(fd)
            throw error
        }
        self.descriptor = fd
        self.displayPath = displayPath
    }

    deinit { close(descriptor) }

    /// The file's bytes, memory-mapped from the descriptor (read into memory where mapping is
    /// not supported); never more than the size it had when opened.
    /// - Throws: ``IngestError`` `too_large` over `maxBytes` (INGEST_MAX_FILE_BYTES), before reading.
    package func read(maxBytes: Int) throws -> Data {
        guard size <= maxBytes else {
            throw IngestError(.tooLarge, "\(displayPath) has \(size) bytes, over the limit of \(maxBytes) (INGEST_MAX_FILE_BYTES)")
        }
        guard size > 0 else { return Data() }
        if let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != UnsafeMutableRawPointer(bitPattern: -1) {
            return Data(bytesNoCopy: base, count: size, deallocator: .custom { pointer, count in munmap(pointer, count) })
        }
        var data = Data(count: size)
        var filled = 0
        while filled < size {
            let n = data.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + filled, size - filled, off_t(filled)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw IngestError(.unreadable, "\(displayPath) cannot be read: \(Self.describe(errno))")
            }
            if n == 0 { break }  // shrank since it was opened
            filled += n
        }
        return data.prefix(filled)
    }

    private static func checkRegular(mode: mode_t, displayPath: String) throws {
        switch mode & S_IFMT {
        case S_IFREG:
            return
        case S_IFDIR:
            throw IngestError(.unreadable, "\(displayPath) is a directory, not a file")
        case let type:
            let kind = switch type {
            case S_IFIFO: "a FIFO (named pipe)"
            case S_IFCHR: "a character device"
            case S_IFBLK: "a block device"
            case S_IFSOCK: "a socket"
            default: "not a regular file"
            }
            throw IngestError(.invalidInput, "local path \(displayPath) refused: it is \(kind), not a regular file; only regular files are read")
        }
    }

    /// The path the kernel has for the descriptor: `/proc/self/fd/N` on Linux, `F_GETPATH` on
    /// Darwin. Without either, the resolved path, provided it still names the very file opened.
    private static func realPath(of fd: Int32, info: stat, resolvedPath: String, displayPath: String) throws -> String {
        #if os(Linux)
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = buffer.withUnsafeMutableBufferPointer { pointer in
            pointer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: pointer.count) {
                readlink("/proc/self/fd/\(fd)", $0, pointer.count - 1)
            }
        }
        if count > 0 {
            let path = String(decoding: buffer[0..<count], as: UTF8.self)
            // Renamed over or removed since the open (a file replaced by an atomic save): the
            // kernel names the place it was opened at, and that is what is read and checked.
            let suffix = " (deleted)"
            if path.hasSuffix(suffix) && path != resolvedPath {
                return String(path.dropLast(suffix.count))
            }
            return path
        }
        #elseif canImport(Darwin)
        var buffer = [CChar](repeating: 0, count: Int(MAXPATHLEN))
        if fcntl(fd, F_GETPATH, &buffer) != -1 {
            return String(cString: buffer)
        }
        #endif
        var named = stat()
        guard stat(resolvedPath, &named) == 0, named.st_dev == info.st_dev, named.st_ino == info.st_ino else {
            throw IngestError(.invalidInput, "local path \(displayPath) refused: it changed while it was being opened")
        }
        return resolvedPath
    }

    private static func openError(_ code: Int32, displayPath: String) -> IngestError {
        switch code {
        case ENOENT, ENOTDIR:
            IngestError(.unreadable, "\(displayPath): no such file")
        case ELOOP:
            IngestError(.invalidInput, "local path \(displayPath) refused: it changed to a symbolic link while being opened (replace files by renaming regular files, not symlinks)")
        case EACCES, EPERM:
            IngestError(.unreadable, "\(displayPath) cannot be read: permission denied (check its permissions)")
        default:
            IngestError(.unreadable, "\(displayPath) cannot be opened: \(describe(code))")
        }
    }

    private static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

/// `open(2)`, named apart from the initializer's scope.
private func systemOpen(_ path: UnsafePointer<CChar>, _ flags: Int32) -> Int32 {
    open(path, flags)
}
