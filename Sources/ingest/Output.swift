import Foundation

/// Small helpers for the terminal: stderr lines and whether stderr is a terminal.
enum Terminal {
    static let isInteractive = isatty(STDERR_FILENO) == 1

    static func error(_ message: String) {
        FileHandle.standardError.write(Data(("ingest: " + message + "\n").utf8))
    }

    static func line(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
