import Foundation

/// A `POST /v1/embeddings` body as the OpenAI API defines it, decoded and checked against the
/// served model: pure, no I/O, so every refusal is tested without a socket.
package struct EmbeddingsRequest: Sendable, Equatable {
    /// What to embed: OpenAI takes a string, an array of strings, an array of token ids (one
    /// input) or an array of such arrays.
    package enum Input: Sendable, Equatable {
        case texts([String])
        case tokens([[Int]])
    }

    /// How vectors are sent back: JSON numbers, or base64 of little-endian float32 bytes.
    package enum EncodingFormat: String, Sendable, Equatable {
        case float, base64
    }

    package var input: Input
    /// The model asked for; nil when the request names none (accepted: there is only one).
    package var model: String?
    package var encodingFormat: EncodingFormat
    /// OpenAI's `dimensions`: accepted only when it equals the model's dimension.
    package var dimensions: Int?

    package init(input: Input, model: String? = nil, encodingFormat: EncodingFormat = .float, dimensions: Int? = nil) {
        self.input = input
        self.model = model
        self.encodingFormat = encodingFormat
        self.dimensions = dimensions
    }

    /// How many inputs the request carries.
    package var count: Int {
        switch input {
        case .texts(let texts): texts.count
        case .tokens(let lists): lists.count
        }
    }

    /// Decodes a body. Unknown fields (`user`) are ignored, as OpenAI does.
    /// - Throws: ``OpenAIError`` 400 naming the field that is not what the API allows.
    package static func decode(_ data: Data) throws(OpenAIError) -> EmbeddingsRequest {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: data)
        } catch let DecodingError.typeMismatch(_, context) where !context.codingPath.isEmpty {
            throw invalidField(context.codingPath)
        } catch let DecodingError.valueNotFound(_, context) where !context.codingPath.isEmpty {
            throw invalidField(context.codingPath)
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            throw invalidField(context.codingPath)
        } catch {
            throw OpenAIError.invalid("We could not parse the JSON body of your request. The API expects a JSON object such as {\"model\": \"all-MiniLM-L6-v2\", \"input\": \"text\"}.", param: nil)
        }
        guard let input = wire.input else {
            throw OpenAIError.invalid("You must provide an 'input' parameter: a string, an array of strings, an array of token ids or an array of token-id arrays.", param: "input")
        }
        var format = EncodingFormat.float
        if let raw = wire.encoding_format {
            guard let parsed = EncodingFormat(rawValue: raw) else {
                throw OpenAIError.invalid("Invalid value for 'encoding_format': '\(raw.prefix(100))'. Supported values are: 'float' and 'base64'.", param: "encoding_format")
            }
            format = parsed
        }
        return EmbeddingsRequest(input: input, model: wire.model, encodingFormat: format, dimensions: wire.dimensions)
    }

    private static func invalidField(_ path: [any CodingKey]) -> OpenAIError {
        let field = path.first?.stringValue ?? "body"
        let hint = field == "input"
            ? ": expected a non-empty string, an array of strings, an array of token ids or an array of token-id arrays"
            : field == "dimensions" ? ": expected an integer" : ": expected a string"
        return OpenAIError.invalid("'$.\(field)' is invalid\(hint). Please check the API reference: https://platform.openai.com/docs/api-reference/embeddings/create", param: field)
    }

    /// The body's fields, typed as OpenAI's API reference has them.
    private struct Wire: Decodable {
        var input: Input?
        var model: String?
        var encoding_format: String?
        var dimensions: Int?
    }
}

extension EmbeddingsRequest.Input: Decodable {
    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let text = try? c.decode(String.self) {
            self = .texts([text])
        } else if let texts = try? c.decode([String].self) {
            self = .texts(texts)
        } else if let ids = try? c.decode([Int].self) {
            // An empty array decodes here: refused later as "empty", like an empty list of strings.
            self = .tokens(ids.isEmpty ? [] : [ids])
        } else if let lists = try? c.decode([[Int]].self) {
            self = .tokens(lists)
        } else {
            throw DecodingError.typeMismatch(EmbeddingsRequest.Input.self, .init(codingPath: decoder.codingPath, debugDescription: "not a string, strings, token ids or token-id arrays"))
        }
    }
}

/// A request checked against the served model: the sequences the model runs, [CLS] … [SEP]
/// each, and what the response must say.
package struct PreparedEmbeddings: Sendable, Equatable {
    package var sequences: [[Int32]]
    package var encodingFormat: EmbeddingsRequest.EncodingFormat
    /// Tokens the model ran, [CLS] and [SEP] included (`usage.prompt_tokens`).
    package var promptTokens: Int { sequences.reduce(0) { $0 + $1.count } }
}

extension EmbeddingsRequest {
    /// Checks the request against `model` in OpenAI's order (model, dimensions, input) and
    /// tokenises it.
    ///
    /// Texts are tokenised as `ingest` tokenises chunks. Token lists are fed to the model as
    /// given and must be whole WordPiece sequences, [CLS] first and [SEP] last (what the model's
    /// Hugging Face tokenizer returns), so another tokenizer's ids are refused rather than
    /// embedded as nonsense. Nothing is truncated: an input over the window is refused, as
    /// OpenAI refuses it.
    /// - Throws: ``OpenAIError``: 404 `model_not_found`; 400 for `dimensions` other than the
    ///   model's, no inputs, more than `maxInputs`, an empty string or token list, an id outside
    ///   the vocabulary, a token list without [CLS]/[SEP] at its ends, or an input over the window.
    package func prepare(for model: some ServedModel, maxInputs: Int) throws(OpenAIError) -> PreparedEmbeddings {
        if let requested = self.model {
            let lowered = requested.lowercased()
            guard lowered == model.name.lowercased() || model.aliases.contains(lowered) else {
                throw OpenAIError.modelNotFound(requested, served: model.name)
            }
        }
        if let dimensions, dimensions != model.dimension {
            throw OpenAIError.invalid("This model does not support specifying dimensions other than \(model.dimension): got \(dimensions). Leave 'dimensions' out or set it to \(model.dimension).", param: "dimensions")
        }
        guard count > 0 else {
            throw OpenAIError.invalid("'input' must not be empty: send a string, or an array of 1 to \(maxInputs) inputs.", param: "input")
        }
        guard count <= maxInputs else {
            throw OpenAIError.invalid("Too many inputs: \(count); this server takes at most \(maxInputs) per request (EMBEDDINGS_SERVER_MAX_INPUTS). Split them over several requests.", param: "input")
        }
        var sequences: [[Int32]] = []
        sequences.reserveCapacity(count)
        switch input {
        case .texts(let texts):
            for (index, text) in texts.enumerated() {
                guard !text.isEmpty else {
                    throw OpenAIError.invalid("'input[\(index)]' is an empty string; the API does not embed empty strings.", param: "input")
                }
                sequences.append(model.tokenIDs(text))
            }
        case .tokens(let lists):
            let vocabulary = 0..<model.vocabularySize
            for (index, ids) in lists.enumerated() {
                guard !ids.isEmpty else {
                    throw OpenAIError.invalid("'input[\(index)]' is an empty token list.", param: "input")
                }
                if let bad = ids.first(where: { !vocabulary.contains($0) }) {
                    throw OpenAIError.invalid("'input[\(index)]' holds the token id \(bad), outside this model's vocabulary (0 to \(model.vocabularySize - 1)). Token lists must be \(model.name)'s WordPiece ids, not another tokenizer's (tiktoken): send text instead.", param: "input")
                }
                // Whole sequences only: tiktoken's ids (what LangChain sends by default) are also
                // mostly below 30,522, and would be embedded as nonsense without a word.
                guard ids.count >= 2, ids.first == Int(model.classifierID), ids.last == Int(model.separatorID) else {
                    throw OpenAIError.invalid("'input[\(index)]' is a token list that does not start with [CLS] (\(model.classifierID)) and end with [SEP] (\(model.separatorID)). Token lists must be whole \(model.name) WordPiece sequences, as its Hugging Face tokenizer returns them; another tokenizer's ids (tiktoken's, which LangChain sends unless check_embedding_ctx_length is off) would give wrong vectors: send text instead.", param: "input")
                }
                sequences.append(ids.map { Int32($0) })
            }
        }
        for (index, sequence) in sequences.enumerated() where sequence.count > model.maxTokens {
            throw OpenAIError.tooLong(maxTokens: model.maxTokens, requested: sequence.count, index: index)
        }
        return PreparedEmbeddings(sequences: sequences, encodingFormat: encodingFormat)
    }
}
