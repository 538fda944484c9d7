/// Turns texts into vectors (an OpenAI-compatible server in production, fakes in tests).
package protocol Embedder: Sendable {
    /// The model name, recorded verbatim as `embedding_model` and used to name the vector field.
    var model: String { get }

    /// Embeds `texts`, returning one vector per text, in order. Implementations batch, bound
    /// their concurrency and retry transient failures themselves.
    /// - Throws: ``IngestError``: `embed_rejected` (an input refused permanently, e.g. too long;
    ///   the message names its position), `embed_failed`, `auth_failed`, `service_unavailable`.
    func embed(_ texts: [String]) async throws -> [[Float]]

    /// Checks the endpoint answers and returns the model's dimension (embeds one short text).
    func probeDimension() async throws -> Int

    /// ``probeDimension()`` made once, without retries, before work starts: a wrong address
    /// must be reported at once, not after a minute of back-off.
    func preflightDimension() async throws -> Int
}

extension Embedder {
    /// Embedders with no network between them and the model probe as usual.
    package func preflightDimension() async throws -> Int { try await probeDimension() }
}
