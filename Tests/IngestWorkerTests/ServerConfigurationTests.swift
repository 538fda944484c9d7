import IngestKit
import IngestWorker
import Testing

@Suite struct ConfigurationTests {
    @Test func defaults() throws {
        let config = try ServerConfiguration.fromEnvironment(Environment(["POD_NAME": "w1"]))
        #expect(config.host == "0.0.0.0" && config.port == 8080 && config.podName == "w1")
        #expect(config.maxBodyBytes == 64 * 1024 * 1024)
        #expect(config.shutdownGrace == .seconds(15))
        #expect(config.executeTimeout == .seconds(900))
        #expect(config.idleTimeout > .seconds(90))
    }

    @Test func overrides() throws {
        let config = try ServerConfiguration.fromEnvironment(Environment([
            "SERVER_HOST": "127.0.0.1", "SERVER_PORT": "18081", "POD_NAME": "w2", "INGEST_MAX_BODY_BYTES": "1048576",
            "INGEST_SHUTDOWN_GRACE_SECONDS": "0", "INGEST_EXECUTE_TIMEOUT_SECONDS": "1.5", "INGEST_CALLBACK_TIMEOUT_SECONDS": "30",
        ]))
        #expect(config.host == "127.0.0.1" && config.port == 18081 && config.podName == "w2")
        #expect(config.maxBodyBytes == 1_048_576)
        #expect(config.shutdownGrace == .zero)
        #expect(config.executeTimeout == .milliseconds(1500))
        #expect(config.callbackTimeout == .seconds(30))
    }

    @Test func podNameFallsBackToTheHostName() throws {
        #expect(try ServerConfiguration.fromEnvironment(Environment([:])).podName.isEmpty == false)
        #expect(try ServerConfiguration.fromEnvironment(Environment(["HOSTNAME": "pod-abc"])).podName == "pod-abc")
    }

    @Test(arguments: [
        ("SERVER_PORT", "http"), ("SERVER_PORT", "70000"), ("INGEST_MAX_BODY_BYTES", "0"),
        ("INGEST_EXECUTE_TIMEOUT_SECONDS", "0"), ("INGEST_SHUTDOWN_GRACE_SECONDS", "-1"), ("INGEST_EXECUTE_TIMEOUT_SECONDS", "nan"),
    ])
    func invalidValuesNameTheVariable(name: String, value: String) {
        #expect {
            try ServerConfiguration.fromEnvironment(Environment([name: value]))
        } throws: { error in
            guard let error = error as? IngestError else { return false }
            return error.reason == .configuration && error.message.contains(name) && error.message.contains(value)
        }
    }
}

/// Where blob reads go: decided by configuration, never by an unauthenticated message alone.
@Suite struct BlobAPIChoiceTests {
    /// `initialize` is unauthenticated: the blob API it names is used only when the operator
    /// listed its origin (STEPFLOW_BLOB_API_ALLOW); STEPFLOW_BLOB_API_URL wins over it.
    @Test func theBlobAPIOfInitializeIsUsedOnlyOnAnAllowedOrigin() throws {
        let named = "http://127.0.0.1:19999/x"
        #expect(ServerConfiguration().blobAPI(fromInitialize: named) == .refused(named))
        #expect(ServerConfiguration().blobAPI(fromInitialize: nil) == .callback)
        let allowed = try ServerConfiguration.fromEnvironment(Environment(["STEPFLOW_BLOB_API_ALLOW": " http://stepflow:7840/ , https://[::1]:8443"]))
        #expect(allowed.blobAPIAllow == [HTTPOrigin(origin: "http://stepflow:7840")!, HTTPOrigin(origin: "https://[::1]:8443")!])
        #expect(allowed.blobAPI(fromInitialize: "http://STEPFLOW:7840/api/v1/blobs") == .rest("http://STEPFLOW:7840/api/v1/blobs"))
        #expect(allowed.blobAPI(fromInitialize: "http://stepflow:7841/api/v1/blobs") == .refused("http://stepflow:7841/api/v1/blobs"))
        #expect(allowed.blobAPI(fromInitialize: "https://stepflow:7840/api/v1/blobs") == .refused("https://stepflow:7840/api/v1/blobs"))
        #expect(allowed.blobAPI(fromInitialize: "http://stepflow/api/v1/blobs") == .refused("http://stepflow/api/v1/blobs"))
        var configured = allowed
        configured.blobAPIURL = "http://stepflow:7840/api/v1/blobs"
        #expect(configured.blobAPI(fromInitialize: named) == .rest("http://stepflow:7840/api/v1/blobs"))
        for bad in ["stepflow:7840", "http://stepflow:7840/api/v1/blobs", "http://u:p@stepflow:7840", "http://h:1?x=1"] {
            #expect(throws: IngestError.self, "\(bad)") { try ServerConfiguration.fromEnvironment(Environment(["STEPFLOW_BLOB_API_ALLOW": bad])) }
        }
    }
}

@Suite struct WorkerStateTests {
    @Test func instanceIDsAreUniqueTokens() {
        let ids = (0..<50).map { _ in WorkerState.makeInstanceID(podName: "ingest-7f9c/pod 1") }
        #expect(Set(ids).count == 50)
        #expect(ids.allSatisfy { $0.wholeMatch(of: /ingest-7f9c-pod-1-[0-9a-f]{8}/) != nil })
    }
}
