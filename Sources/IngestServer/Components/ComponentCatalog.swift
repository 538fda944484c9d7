import IngestKit

/// What `components/list` and `components/info` describe. The orchestrator strips the route prefix,
/// so a step `component: /langflow/ingest` arrives here as `/ingest` (protocol §4.1).
package enum ComponentCatalog {
    /// The one component this worker serves.
    package static let ingest = "/ingest"

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
            "description": "Ingest one document (a path, an http(s) URL, base64 content or a Stepflow blob) into an OpenSearch k-NN index: Docling parses it, it is chunked by structure and tokens, embedded and indexed. Returns the document outcome; a document that cannot be ingested fails the step with the reason.",
            "input_schema": inputSchema,
            "output_schema": outputSchema,
        ]
    }

    static let string: JSONValue = ["type": "string"]

    /// JSON Schema of the step input.
    package static let inputSchema: JSONValue = [
        "title": "IngestInput",
        "type": "object",
        "additionalProperties": false,
        "required": ["source"],
        "properties": [
            "source": [
                "description": "The document: a local path or an http(s) URL, or an object with exactly one of url, path, base64 (with filename) or blob_id (a blob holding any of these, e.g. stored by /builtin/put_blob).",
                "oneOf": [
                    ["type": "string", "minLength": 1],
                    [
                        "type": "object",
                        "additionalProperties": false,
                        "minProperties": 1,
                        "properties": [
                            "url": ["type": "string", "format": "uri"],
                            "path": ["type": "string"],
                            "base64": ["type": "string", "contentEncoding": "base64"],
                            "blob_id": ["type": "string"],
                            "filename": ["type": "string"],
                            "mimetype": ["type": "string"],
                        ],
                    ],
                ],
            ],
            "filename": ["type": "string", "description": "File name to record (and to name base64 content)."],
            "index": ["type": "string", "description": "Target index; defaults to the configured one."],
            "owner": string,
            "owner_name": string,
            "owner_email": string,
            "connector_type": string,
            "mimetype": string,
            "options": [
                "type": "object",
                "additionalProperties": false,
                "properties": [
                    "max_tokens": ["type": "integer", "minimum": 1, "description": "Chunk size limit in tokens."],
                    "docling": ["type": "object", "description": "Docling convert options merged over DOCLING_CONVERT_OPTIONS (these win)."],
                ],
            ],
        ],
    ]

    /// JSON Schema of the step output (a `DocumentOutcome` that succeeded).
    package static let outputSchema: JSONValue = [
        "title": "IngestOutput",
        "type": "object",
        "required": ["source", "status", "chunks", "warnings"],
        "properties": [
            "source": string,
            "document_id": string,
            "filename": string,
            "status": ["type": "string", "enum": ["indexed", "unchanged"]],
            "chunks": ["type": "integer", "minimum": 0],
            "index": string,
            "pages": ["type": "integer", "minimum": 0, "description": "Absent when the format has no pages."],
            "warnings": ["type": "array", "items": ["type": "string"]],
            "timings": [
                "type": "object",
                "description": "Seconds per stage.",
                "properties": [
                    "convert": ["type": "number"], "chunk": ["type": "number"],
                    "embed": ["type": "number"], "index": ["type": "number"],
                ],
            ],
        ],
    ]
}
