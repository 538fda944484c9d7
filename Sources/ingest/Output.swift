import Foundation

/// Small helpers for the terminal: progress and diagnostics on stderr, results on stdout, and
/// whether stderr is a terminal.
enum Terminal {
    static let isInteractive = isatty(STDERR_FILENO) == 1

    static func error(_ message: String) {
        FileHandle.standardError.write(Data(("ingest: " + message + "\n").utf8))
    }

    static func line(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// A line of a command's result (e.g. `doctor`'s report) on stdout, so it can be piped.
    static func out(_ message: String) {
        FileHandle.standardOutput.write(Data((message + "\n").utf8))
    }
}
