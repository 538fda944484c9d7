import Foundation
import IngestCore
import IngestKit
import Logging
import Testing

/// The runtime reads every setting through the one reader: flags over environment, and a
/// malformed value stops start-up with a message naming it.
@Suite struct RuntimeConfigurationTests {
    @Test func aMalformedEmbeddingDimensionIsAnErrorNotUnset() {
        // Was `flatMap(Int.init)`: "big" silently meant "no dimensions".
        #expect {
            _ = try Runtime(configuration: Environment(["EMBEDDING_DIMENSIONS": "big"]), forWorker: false, logger: Logger(label: "t"))
        } throws: { error in
            let error = error as? IngestError
            return error?.reason == .configuration && error?.message.contains("EMBEDDING_DIMENSIONS=big") == true
        }
    }

    @Test func aBaseURLThatIsNotHTTPNamesItsVariable() {
        #expect {
            _ = try Runtime(configuration: Environment(["OPENAI_BASE_URL": "localhost:8000"]), forWorker: false, logger: Logger(label: "t"))
        } throws: { ($0 as? IngestError)?.message.contains("OPENAI_BASE_URL=localhost:8000") == true }
    }

    @Test func flagsOverrideThePipelineVariables() throws {
        let env = Environment(
            ["INGEST_MAX_TOKENS": "512", "INGEST_CONCURRENCY": "2", "OPENSEARCH_INDEX": "from-env"],
            flags: [
                .init("INGEST_MAX_TOKENS", spelling: "--max-tokens", value: "128"),
                .init("OPENSEARCH_INDEX", spelling: "--index", value: "from-flag"),
            ]
        )
        let settings = try PipelineSettings.fromEnvironment(env, forWorker: false)
        #expect(settings.maxTokens == 128)
        #expect(settings.index == "from-flag")
        #expect(settings.concurrency == 2)
    }

    @Test func aBadFlagIsReportedByItsFlagName() {
        let env = Environment([:], flags: [.init("INGEST_CONCURRENCY", spelling: "--concurrency", value: "0")])
        #expect {
            try PipelineSettings.fromEnvironment(env, forWorker: false)
        } throws: { ($0 as? IngestError)?.message.contains("--concurrency=0") == true }
    }
}
