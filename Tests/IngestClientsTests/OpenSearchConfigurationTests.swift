import Foundation
import IngestKit
import Testing

@testable import IngestOpenSearch

@Suite struct OpenSearchConfigurationTests {
    @Test(arguments: [
        ("localhost", 9200, false, "http://localhost:9200"),
        ("opensearch", 9200, true, "https://opensearch:9200"),
        ("OpenSearch.Example.com", 443, true, "https://opensearch.example.com:443"),
        ("opensearch:9300", 9200, false, "http://opensearch:9300"),
        ("https://search.example.com", 9200, false, "https://search.example.com:9200"),
        ("https://search.example.com:443", 9200, false, "https://search.example.com:443"),
        ("http://opensearch:9200/", 1234, true, "http://opensearch:9200"),
        ("https://proxy.example.com:8443/opensearch/", 9200, false, "https://proxy.example.com:8443/opensearch"),
        ("10.0.0.5", 9201, false, "http://10.0.0.5:9201"),
        ("::1", 9200, false, "http://[::1]:9200"),
        ("[::1]:9300", 9200, false, "http://[::1]:9300"),
        ("HTTPS://[fd00::2]", 9200, false, "https://[fd00::2]:9200"),
        ("  localhost  ", 9200, false, "http://localhost:9200"),
    ])
    func resolvesBaseURL(host: String, port: Int, useSSL: Bool, expected: String) throws {
        #expect(try OpenSearchConfiguration.resolveBaseURL(host: host, port: port, useSSL: useSSL) == expected)
    }

    @Test(arguments: ["", "ftp://opensearch", "https://admin:secret@opensearch:9200", "opensearch:99999", "opensearch:abc", "https://", "http://opensearch:9200/?pretty", "open search"])
    func rejectsBadHosts(host: String) {
        let error = #expect(throws: IngestError.self) {
            try OpenSearchConfiguration.resolveBaseURL(host: host, port: 9200, useSSL: false)
        }
        #expect(error?.reason == .configuration)
        #expect(error?.message.contains("OPENSEARCH_HOST") == true)
        #expect(error?.message.contains("secret") == false)
    }

    @Test func rejectsBadPort() {
        #expect(throws: IngestError.self) { try OpenSearchConfiguration.resolveBaseURL(host: "localhost", port: 0, useSSL: false) }
    }

    @Test func defaultsFromEmptyEnvironment() throws {
        let config = try OpenSearchConfiguration(environment: [:])
        #expect(try config.baseURL() == "http://localhost:9200")
        #expect(config.username == nil && config.password == nil && config.caCertPath == nil)
        #expect(config.verifyCerts)
        #expect(config.requestTimeout == .seconds(60))
        #expect(config.bulkMaxBytes == 5 * 1024 * 1024)
        #expect(config.bulkMaxItems == 500)
        #expect(config.retry.maxAttempts == 8)
        #expect(config.retry.baseDelay == .milliseconds(500))
        #expect(config.retry.maxDelay == .seconds(30))
        #expect(config.authorizationHeader == nil)
    }

    @Test func readsEnvironment() throws {
        let config = try OpenSearchConfiguration(environment: [
            "OPENSEARCH_HOST": "os.internal", "OPENSEARCH_PORT": "9443", "OPENSEARCH_USE_SSL": "true",
            "OPENSEARCH_USERNAME": "admin", "OPENSEARCH_PASSWORD": "s3cret!", "OPENSEARCH_CA_CERT": "/etc/ca.pem",
            "OPENSEARCH_VERIFY_CERTS": "false", "OPENSEARCH_TIMEOUT_SECONDS": "120", "OPENSEARCH_BULK_MAX_BYTES": "1048576",
            "OPENSEARCH_BULK_MAX_DOCS": "100", "OPENSEARCH_RETRY_ATTEMPTS": "6",
        ])
        #expect(try config.baseURL() == "https://os.internal:9443")
        #expect(config.authorizationHeader == "Basic " + Data("admin:s3cret!".utf8).base64EncodedString())
        #expect(config.caCertPath == "/etc/ca.pem")
        #expect(!config.verifyCerts)
        #expect(config.requestTimeout == .seconds(120))
        #expect(config.bulkMaxBytes == 1_048_576 && config.bulkMaxItems == 100)
        #expect(config.retry.maxAttempts == 6)
    }

    @Test(arguments: [("OPENSEARCH_PORT", "http"), ("OPENSEARCH_USE_SSL", "maybe"), ("OPENSEARCH_TIMEOUT_SECONDS", "-1"), ("OPENSEARCH_BULK_MAX_DOCS", "0")])
    func invalidValuesNameTheVariable(name: String, value: String) {
        let error = #expect(throws: IngestError.self) { try OpenSearchConfiguration(environment: [name: value]) }
        #expect(error?.reason == .configuration)
        #expect(error?.message.contains(name) == true)
    }

    @Test func missingCAFileIsAConfigurationError() {
        let config = OpenSearchConfiguration(caCertPath: "/nonexistent/ca.pem")
        let error = #expect(throws: IngestError.self) { try OpenSearchIndex.makeHTTPClient(configuration: config) }
        #expect(error?.reason == .configuration)
        #expect(error?.message.contains("OPENSEARCH_CA_CERT") == true)
    }

    @Test func caFileWithoutCertificateIsAConfigurationError() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-cert-\(UUID().uuidString).pem").path
        try Data("hello".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: IngestError.self) { try OpenSearchIndex.loadCACertificates(path: path) }
        #expect(error?.message.contains("OPENSEARCH_CA_CERT") == true)
    }
}
