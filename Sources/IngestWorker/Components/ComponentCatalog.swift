import IngestCore
import IngestKit

/// What `components/list` and `components/info` describe. The orchestrator strips the route prefix,
/// so a step `component: /langflow/ingest` arrives here as `/ingest`. The entry's
/// content (description, schemas) is the component's own, shared with every transport: the HTTP
/// transport serves these JSON entries, the gRPC one the same path in its `ComponentInfo`.
package enum ComponentCatalog {
    typealias Ingest = IngestComponent

    /// The one component this worker serves, as this transport names it.
    package static let ingest = "/" + Ingest.name

    /// Every component, in the shape of `components/list` (snake_case keys).
    package static var all: [JSONValue] { [ingestInfo] }

    /// The `ComponentInfo` of `name`, or nil when this worker has no such component.
    package static func info(_ name: String) -> JSONValue? {
        // Not `cond ? info : nil`: JSONValue is nil-literal convertible, that would be `.null`.
        guard name == ingest else { return .none }
        return ingestInfo
    }

    static var ingestInfo: JSONValue {
        [
            "component": .string(ingest),
            "description": .string(Ingest.description),
            "input_schema": Ingest.inputSchema,
            "output_schema": Ingest.outputSchema,
        ]
    }
}
