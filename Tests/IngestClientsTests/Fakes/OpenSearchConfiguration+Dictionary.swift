import IngestKit
import IngestOpenSearch

extension OpenSearchConfiguration {
    /// The configuration read from `values` alone, as the tests write environments.
    init(environment values: [String: String]) throws {
        try self.init(environment: Environment(values))
    }
}
