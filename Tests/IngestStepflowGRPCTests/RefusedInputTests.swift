import IngestCore
import IngestKit
import IngestStepflowGRPC
import SwiftProtobuf
import Testing

/// The component refuses input that breaks its rules; the gRPC transport only renders the
/// refusal, with the bytes it sent when it checked input itself.
@Suite struct RefusedInputTests {
    @Test func aRefusalIsInvalidInputNamingTheComponent() {
        let refusal = ComponentFailure(reason: .invalidInput, source: "input", message: #""source" is required"#, refusedInput: true)
        let error = TaskErrorMapping.taskError(refusal)
        #expect(error.code == .invalidInput)
        #expect(error.message == #"Invalid input for /ingest: "source" is required"#)
        #expect(error.data.fields.mapValues(ProtobufJSON.json) == ["reason": "invalid_input", "source": "input"])
    }
}
