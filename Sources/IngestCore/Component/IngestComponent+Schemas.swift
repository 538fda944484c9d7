import IngestKit

/// What the catalog says of the component: its JSON Schemas (both transports list them).
extension IngestComponent {
    static var string: JSONValue { ["type": "string"] }

    /// JSON Schema of the step input.
    package static var inputSchema: JSONValue {
        [
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
                "source_key": ["type": "string", "minLength": 1, "description": "The key of uploaded content (base64 or a blob) inside its owner's upload namespace, e.g. a connector's stable document id: the chunks' source is upload:<owner or anonymous>/<key>, and re-ingesting the same owner and key replaces them. Default key: the filename. Not for paths or URLs, which are their own identity."],
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
                        "max_tokens": [
                            "type": "integer", "minimum": .int(TokenBudget.range.lowerBound), "maximum": .int(TokenBudget.range.upperBound),
                            "description": "Chunk size limit in tokens.",
                        ],
                        "docling": ["type": "object", "description": "Docling convert options merged over DOCLING_CONVERT_OPTIONS (these win)."],
                    ],
                ],
            ],
        ]
    }

    /// JSON Schema of the step output (a `DocumentOutcome` that succeeded).
    package static var outputSchema: JSONValue {
        [
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
}

