import Foundation
import IngestKit

/// ``Embedder`` over an OpenAI-compatible `POST /embeddings` (OpenAI, vLLM, Ollama, TEI, the
/// local test server): batches by count and tokens, runs batches concurrently under one limiter,
/// retries 429/5xx with back-off, and narrows a "too long" rejection down to the one input.
package struct OpenAIEmbedder: Embedder {
    /// Endpoint, model, limits, timeouts and retries this embedder was made with.
    package let configuration: EmbeddingsConfiguration
    private let transport: any HTTPTransport
    /// Requests in flight across every caller of this embedder.
    private let limiter: AsyncLimiter
    private let tokenCounter: @Sendable (String) -> Int
    private let sleep: @Sendable (Duration) async throws -> Void

    /// The configured model name (EMBEDDING_MODEL).
    package var model: String { configuration.model }

    /// - Parameters:
    ///   - configuration: endpoint, model, limits, timeouts, retries.
    ///   - transport: the HTTP seam (AsyncHTTPClient in production, a fake in tests).
    ///   - tokenCounter: counts a text's tokens for batching; without one, UTF-8 bytes / 3.
    ///   - sleep: how retries wait (`Task.sleep` by default; tests record instead).
    package init(
        configuration: EmbeddingsConfiguration,
        transport: any HTTPTransport,
        tokenCounter: (@Sendable (String) -> Int)? = nil,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.configuration = configuration
        self.transport = transport
        self.limiter = AsyncLimiter(limit: configuration.concurrency)
        self.tokenCounter = tokenCounter ?? EmbeddingBatcher.estimatedTokens
        self.sleep = sleep
    }

    /// Batches `texts`, embeds the batches concurrently (bounded), and returns the vectors in order.
    package func embed(_ texts: [String]) async throws -> [[Float]] {
        do {
            return try await embedAll(texts)
        } catch is CancellationError {
            throw IngestError(.cancelled, "embedding \(texts.count) texts was cancelled")
        }
    }

    private func embedAll(_ texts: [String]) async throws -> [[Float]] {
        guard !texts.isEmpty else { return [] }
        let ranges = EmbeddingBatcher.batches(
            tokenCounts: texts.map(tokenCounter),
            maxInputs: configuration.maxBatchInputs,
            maxTokens: configuration.maxBatchTokens
        )
        var vectors = [[Float]](repeating: [], count: texts.count)
        try await withThrowingTaskGroup(of: (Range<Int>, [[Float]]).self) { group in
            for range in ranges {
                group.addTask { (range, try await self.embedBatch(texts, range)) }
            }
            var done = 0
            for try await (range, batch) in group {
                for (offset, vector) in batch.enumerated() { vectors[range.lowerBound + offset] = vector }
                done += batch.count
                StageProgress.report(.embedding(done: done, total: texts.count))
            }
        }
        // Each response was checked on its own; batches must also agree with each other.
        let dimension = vectors[0].count
        if let index = vectors.firstIndex(where: { $0.count != dimension }) {
            throw IngestError(.embedFailed, "the embeddings service at \(redactingCredentials(configuration.baseURL)) returned vectors of different lengths (\(dimension) and \(vectors[index].count)) for model \(configuration.model); check EMBEDDING_MODEL and the server")
        }
        return vectors
    }

    /// Embeds "dimension probe" and returns the vector's length.
    package func probeDimension() async throws -> Int {
        let vectors = try await embed(["dimension probe"])
        guard let dimension = vectors.first?.count, dimension > 0 else {
            throw IngestError(.embedFailed, "the embeddings service at \(redactingCredentials(configuration.baseURL)) returned an empty vector for model \(configuration.model)")
        }
        return dimension
    }

    /// Embeds `texts[range]`; on a "too long" rejection splits the range in halves until the
    /// one refused input is found and reported by its position in `texts`.
    private func embedBatch(_ texts: [String], _ range: Range<Int>) async throws -> [[Float]] {
        do {
            return try await request(Array(texts[range]))
        } catch let rejection as InputRejected {
            guard range.count > 1 else {
                throw IngestError(
                    .embedRejected,
                    "the embeddings service refused input \(range.lowerBound) (about \(tokenCounter(texts[range.lowerBound])) tokens by our estimate) for model \(configuration.model): \(rejection.message); the text must be split into smaller pieces",
                    itemIndex: range.lowerBound
                )
            }
            let middle = range.lowerBound + range.count / 2
            let first = try await embedBatch(texts, range.lowerBound..<middle)
            let second = try await embedBatch(texts, middle..<range.upperBound)
            return first + second
        }
    }

    /// One request, no retries: the pre-flight check before work starts.
    package func preflightDimension() async throws -> Int {
        do {
            let vectors = try await request(["dimension probe"], retry: .singleAttempt)
            return vectors.first?.count ?? 0
        } catch is CancellationError {
            throw IngestError(.cancelled, "the embeddings pre-flight check was cancelled")
        }
    }

    /// One request for `inputs` (retried by `retry`, by default the configured policy), checked
    /// and ordered by `index`.
    private func request(_ inputs: [String], retry: RetryPolicy? = nil) async throws -> [[Float]] {
        let body: Data
        do {
            body = try JSONEncoder().encode(RequestBody(model: configuration.model, input: inputs, encodingFormat: "float", dimensions: configuration.dimensions))
        } catch {
            throw IngestError(.internalError, "cannot encode an embeddings request: \(error)")
        }
        var headers: [(name: String, value: String)] = [(name: "Content-Type", value: "application/json")]
        if let key = configuration.apiKey, !key.isEmpty { headers.append((name: "Authorization", value: "Bearer \(key)")) }
        let http = HTTPRequest(method: "POST", url: configuration.embeddingsURL, headers: headers, body: body)
        let response = try await withRetries(retry ?? configuration.retry, sleep: sleep) {
            try await limiter.withPermit {
                let response = try await transport.send(http, timeout: configuration.requestTimeout)
                guard response.status == 200 else { throw error(for: response) }
                return response
            }
        }
        return try decode(response.body, count: inputs.count)
    }

    private func decode(_ body: Data, count: Int) throws -> [[Float]] {
        let server = redactingCredentials(configuration.baseURL)
        let decoded: ResponseBody
        do {
            decoded = try JSONDecoder().decode(ResponseBody.self, from: body)
        } catch {
            let text = String(decoding: body.prefix(1 << 20), as: UTF8.self)
            if text.contains("NaN") || text.contains("Infinity") {
                throw IngestError(.embedFailed, "the embeddings service at \(server) returned NaN or infinite values for model \(configuration.model); the model or server is broken")
            }
            throw IngestError(.embedFailed, "the embeddings service at \(server) answered something that is not an embeddings response (\(error)); check OPENAI_BASE_URL")
        }
        guard decoded.data.count == count else {
            throw IngestError(.embedFailed, "the embeddings service at \(server) returned \(decoded.data.count) vectors for \(count) inputs")
        }
        var vectors = [[Float]?](repeating: nil, count: count)
        for (position, item) in decoded.data.enumerated() {
            let index = item.index ?? position
            guard vectors.indices.contains(index), vectors[index] == nil else {
                throw IngestError(.embedFailed, "the embeddings service at \(server) returned a bad or repeated index \(index) for \(count) inputs")
            }
            let vector = item.embedding.map { Float($0) }
            guard vector.allSatisfy(\.isFinite) else {
                throw IngestError(.embedFailed, "the embeddings service at \(server) returned NaN or infinite values for model \(configuration.model); the model or server is broken")
            }
            vectors[index] = vector
        }
        let result = vectors.compactMap { $0 }
        let dimension = result.first?.count ?? 0
        guard dimension > 0, result.allSatisfy({ $0.count == dimension }) else {
            let lengths = Set(result.map(\.count)).sorted().map(String.init).joined(separator: ", ")
            throw IngestError(.embedFailed, "the embeddings service at \(server) returned vectors of lengths \(lengths) in one response for model \(configuration.model); the server is broken")
        }
        if let expected = configuration.dimensions, expected != dimension {
            throw IngestError(.embedFailed, "the embeddings service at \(server) returned \(dimension)-dimensional vectors although \(expected) were asked for; model \(configuration.model) may not support shortened vectors")
        }
        return result
    }

    /// The error for a non-200 answer: transient ones are retried by `withRetries`,
    /// ``InputRejected`` starts the bisection, the rest are final.
    private func error(for response: HTTPResponse) -> any Error {
        let server = redactingCredentials(configuration.baseURL)
        let message = serverMessage(response)
        switch response.meaning {
        case .credentialsRefused:
            let fix = configuration.apiKey?.isEmpty == false
                ? "check OPENAI_API_KEY (the key was refused)"
                : "set OPENAI_API_KEY"
            return IngestError(.authFailed, "the embeddings service at \(server) refused our credentials (HTTP \(response.status)); \(fix)")
        case .notFound:
            return IngestError(.configuration, "the embeddings service at \(server) answered 404 for model \(configuration.model): \(message); check EMBEDDING_MODEL and OPENAI_BASE_URL (it should end in /v1)")
        case .refused where response.status == 405:
            return IngestError(.configuration, "OPENAI_BASE_URL=\(server) is not an OpenAI-compatible embeddings API (POST /embeddings answered HTTP 405 Method Not Allowed); set OPENAI_BASE_URL to the API's base URL, which usually ends in /v1")
        case .unavailable where response.status == 429:
            return IngestError(.embedFailed, "the embeddings service at \(server) kept rate-limiting us (HTTP 429: \(message)); lower EMBEDDING_CONCURRENCY or try later", transient: true, retryAfter: response.retryAfter)
        case .unavailable, .serverFailed:
            return IngestError(.embedFailed, "the embeddings service at \(server) failed (HTTP \(response.status): \(message)); try again later", transient: true, retryAfter: response.retryAfter)
        case .tooLarge:
            return InputRejected(message: "HTTP 413 (request too large): \(message)")
        case .refused where response.status == 400 && Self.saysTooLong(message):
            return InputRejected(message: message)
        case .refused:
            return IngestError(.embedFailed, "the embeddings service at \(server) refused the request for model \(configuration.model) (HTTP \(response.status)): \(message)")
        }
    }

    /// The server's own error text (OpenAI `error.message`, FastAPI `detail`, or the body), with
    /// the API key masked in case a server echoes it.
    private func serverMessage(_ response: HTTPResponse) -> String {
        var message = response.bodySnippet()
        if let value = try? JSONDecoder().decode(JSONValue.self, from: response.body) {
            if let text = value["error"]?["message"]?.stringValue ?? value["error"]?.stringValue ?? value["detail"]?.stringValue ?? value["message"]?.stringValue {
                message = text
            }
        }
        if let key = configuration.apiKey, key.count >= 4 {
            message = message.replacingOccurrences(of: key, with: "***")
        }
        return message
    }

    /// Whether a 400's message says an input is longer than the model accepts (OpenAI:
    /// "maximum context length"; vLLM/TEI: "too long", "exceeds"…).
    package static func saysTooLong(_ message: String) -> Bool {
        let text = message.lowercased()
        return ["maximum context length", "context length", "too long", "too many tokens", "maximum input length", "input length", "exceeds the max"]
            .contains { text.contains($0) }
    }

    private struct InputRejected: Error {
        var message: String
    }

    private struct RequestBody: Encodable {
        var model: String
        var input: [String]
        var encodingFormat: String
        var dimensions: Int?

        enum CodingKeys: String, CodingKey { case model, input, encodingFormat = "encoding_format", dimensions }
    }

    private struct ResponseBody: Decodable {
        struct Item: Decodable {
            var index: Int?
            var embedding: [Double]
        }
        var data: [Item]
    }
}
