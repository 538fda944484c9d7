import Foundation
import IngestCore
import IngestKit
import Synchronization

/// Progress for people: on a terminal a one-line bar (documents done/total, chunks, rate, ETA,
/// and the stage of the document in flight, so a long document is seen to move) redrawn in
/// place; otherwise (CI, pipes, logs) one line per finished document.
///
/// A class with a lock rather than an actor: stages are reported synchronously from the
/// pipeline's tasks, and a redraw must not wait for a hop.
final class ProgressReporter: BatchObserver, Sendable {
    private struct State {
        var start: ContinuousClock.Instant
        var total = 0
        var done = 0
        var chunks = 0
        var lastDraw: ContinuousClock.Instant?
        var drawn = false
        /// The stage of each document in flight, by source; the bar shows the latest one.
        var stages: [String: IngestStage] = [:]
        var latest: String?
    }

    private let interactive: Bool
    /// Whether this is a `--preview` run (nothing is indexed: the lines say "previewed").
    private let previewing: Bool
    private let clock = ContinuousClock()
    private let state: Mutex<State>

    init(interactive: Bool, previewing: Bool = false) {
        self.interactive = interactive
        self.previewing = previewing
        self.state = Mutex(State(start: ContinuousClock.now))
    }

    func started(total: Int) {
        state.withLock { $0.total = total; $0.start = clock.now }
        if !interactive { Terminal.line("\(previewing ? "previewing" : "ingesting") \(total) document\(total == 1 ? "" : "s")") }
    }

    func stage(_ stage: IngestStage, of source: String) {
        guard interactive else { return }
        let now = clock.now
        let text: String? = state.withLock { state in
            state.stages[source] = stage
            state.latest = source
            // Throttled like the bar; a stage change always shows, embedding counts at 5 per second.
            if case .embedding = stage, let last = state.lastDraw, now - last < .milliseconds(200) { return nil }
            return Self.bar(&state, now: now)
        }
        if let text { FileHandle.standardError.write(Data(text.utf8)) }
    }

    func finished(_ outcome: DocumentOutcome, done: Int, total: Int) {
        let counted = outcome.status == .indexed || outcome.status == .unchanged
        guard interactive else {
            if counted { state.withLock { $0.chunks += outcome.chunks } }
            let status = previewing && outcome.status == .indexed ? "previewed" : outcome.status.rawValue
            var line = "[\(done)/\(total)] \(status) \(outcome.source)"
            if counted { line += " (\(outcome.chunks) chunk\(outcome.chunks == 1 ? "" : "s"))" }
            if let error = outcome.error { line += ": \(error.reason): \(error.message)" }
            Terminal.line(line)
            return
        }
        let now = clock.now
        let text: String? = state.withLock { state in
            if counted { state.chunks += outcome.chunks }
            state.done = done
            state.stages[outcome.source] = nil
            if state.latest == outcome.source { state.latest = state.stages.keys.first }
            if let last = state.lastDraw, now - last < .milliseconds(100), done < total { return nil }
            return Self.bar(&state, now: now)
        }
        if let text { FileHandle.standardError.write(Data(text.utf8)) }
    }

    /// The bar's text (with a carriage return to redraw in place), marking it drawn.
    private static func bar(_ state: inout State, now: ContinuousClock.Instant) -> String {
        state.lastDraw = now
        state.drawn = true
        let seconds = (now - state.start).seconds
        let rate = seconds > 0 ? Double(state.done) / seconds : 0
        let remaining = rate > 0 ? Double(state.total - state.done) / rate : 0
        let width = 24
        let filled = state.total > 0 ? width * state.done / state.total : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let eta = state.total > state.done && state.done > 0 ? " ETA \(clock(remaining))" : ""
        var current = ""
        if let source = state.latest, let stage = state.stages[source] {
            current = " · \(stage) \((source as NSString).lastPathComponent)"
        }
        return "\r\(bar) \(state.done)/\(state.total) docs · \(state.chunks) chunks · \(String(format: "%.1f", rate)) docs/s\(eta)\(current)\u{1B}[K"
    }

    /// Ends the bar's line so the summary starts on its own.
    func finish() {
        if interactive && state.withLock({ $0.drawn }) { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
