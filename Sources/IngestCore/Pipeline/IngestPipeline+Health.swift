import IngestDocling
import IngestKit

/// Dependency checks: `/health` details and `ingest doctor`.
extension IngestPipeline {
    package func checkDependencies() async -> [DependencyStatus] {
        async let docling = status("docling", endpoints.docling) { try await converter.checkHealth() }
        async let search = status("opensearch", endpoints.opensearch) { try await index.checkHealth() }
        // The embedder is not probed here: a probe is an embedding call, and health checks run
        // every few seconds. Its failures show in the documents that need it.
        let embeddings = DependencyStatus(name: "embeddings", url: endpoints.embeddings, ok: true, message: "not probed (checked on first use; `ingest doctor` probes it)")
        return await [docling, search, embeddings]
    }

    /// Probes the embeddings endpoint too (one embedding call): for `ingest doctor`.
    package func checkEmbedder() async -> DependencyStatus {
        await status("embeddings", endpoints.embeddings) {
            let dimension = try await embedder.probeDimension()
            return "model \(embedder.model), \(dimension) dimensions"
        }
    }

    func status(_ name: String, _ url: String, _ check: () async throws -> Void) async -> DependencyStatus {
        await status(name, url) { try await check(); return "ok" }
    }

    func status(_ name: String, _ url: String, _ check: () async throws -> String) async -> DependencyStatus {
        do {
            return DependencyStatus(name: name, url: url, ok: true, message: try await check())
        } catch let error as IngestError {
            return DependencyStatus(name: name, url: url, ok: false, message: error.description)
        } catch {
            return DependencyStatus(name: name, url: url, ok: false, message: redactingCredentials("\(error)"))
        }
    }
}
