import Foundation
import IngestCore

/// Progress for people: on a terminal a one-line bar (documents done/total, chunks, rate, ETA)
/// redrawn in place; otherwise (CI, pipes, logs) one line per finished document.
actor ProgressReporter: BatchObserver {
    private let interactive: Bool
    private let clock = ContinuousClock()
    private var start: ContinuousClock.Instant
    private var total = 0
    private var chunks = 0
    private var lastDraw: ContinuousClock.Instant?
    private var drawn = false

    init(interactive: Bool) {
        self.interactive = interactive
        self.start = clock.now
    }

    func started(total: Int) {
        self.total = total
        start = clock.now
        if !interactive { Terminal.line("ingesting \(total) document\(total == 1 ? "" : "s")") }
    }

    func finished(_ outcome: DocumentOutcome, done: Int, total: Int) {
        if outcome.status == .indexed || outcome.status == .unchanged { chunks += outcome.chunks }
        guard interactive else {
            var line = "[\(done)/\(total)] \(outcome.status.rawValue) \(outcome.source)"
            if outcome.status == .indexed || outcome.status == .unchanged { line += " (\(outcome.chunks) chunk\(outcome.chunks == 1 ? "" : "s"))" }
            if let error = outcome.error { line += ": \(error.reason): \(error.message)" }
            Terminal.line(line)
            return
        }
        let now = clock.now
        if let last = lastDraw, now - last < .milliseconds(100), done < total { return }
        lastDraw = now
        draw(done: done, now: now)
    }

    private func draw(done: Int, now: ContinuousClock.Instant) {
        let elapsed = max((now - start).components.seconds, 0)
        let seconds = Double(elapsed) + Double((now - start).components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(done) / seconds : 0
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let width = 24
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let eta = total > done ? " ETA \(Self.clock(remaining))" : ""
        let text = "\r\(bar) \(done)/\(total) docs · \(chunks) chunks · \(String(format: "%.1f", rate)) docs/s\(eta)\u{1B}[K"
        FileHandle.standardError.write(Data(text.utf8))
        drawn = true
    }

    /// Ends the bar's line so the summary starts on its own.
    func finish() {
        if interactive && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
