import Foundation
import IngestKit
import IngestService
import Logging
import Testing

@Suite struct JSONLogHandlerTests {
    @Test func writesOneJSONObjectPerLine() throws {
        let collector = LogCollector()
        var logger = Logger(label: "ingest.worker") { label in JSONLogHandler(label: label, level: .debug, sink: collector.sink) }
        logger[metadataKey: "run_id"] = "r1"
        logger.info("ingest finished", metadata: ["chunks": "3", "step_id": "ingest", "nested": ["a": "b"]])
        logger.trace("not shown")
        #expect(collector.lines.count == 1)
        let line = try #require(collector.lines.first)
        #expect(!line.contains("\n"))
        let object = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
        #expect(object["level"] == "info")
        #expect(object["message"] == "ingest finished")
        #expect(object["label"] == "ingest.worker")
        #expect(object["run_id"] == "r1" && object["step_id"] == "ingest" && object["chunks"] == "3")
        #expect(object["nested"] == ["a": "b"])
        #expect(object["time"]?.stringValue?.hasSuffix("Z") == true)
    }
}
