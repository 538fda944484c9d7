// swift-tools-version:6.2
import PackageDescription

/// Settings shared by every target. `InternalImportsByDefault` is left off on purpose: our
/// targets talk to each other through `package` declarations, and the `package import`
/// annotations it would demand on every file bought nothing for an application.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "ingest",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ingest", targets: ["ingest"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Already in the graph through AsyncHTTPClient; named so targets may import NIOCore/NIOSSL directly.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The configuration reader (flags over environment); already built for Hummingbird, with
        // the same traits (none), so it adds no new code to the graph.
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: []),
        // The Stepflow 0.12+ worker transport (gRPC pull). The Swift code generated from the .proto
        // files is committed (scripts/gen-grpc), so no build runs protoc or its plugins.
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // zlib from the system (zlib1g-dev): gunzip for `ingest chunk file.json.gz`.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Matrix products of the in-process embedder: packed AVX-512 / AVX2+FMA / portable kernels
        // chosen by cpuid at run time (no BLAS library: Debian's OpenBLAS misdetects cloud CPUs).
        // Always optimised: at -O0 (debug, tests) the intrinsics would run ~10× slower.
        .target(name: "CEmbedKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // Names of the embedder's threads (pthread_setname_np, which Swift's Glibc module hides):
        // apart from CEmbedKernels, which is arithmetic only.
        .target(name: "CThreadName"),

        // Pure, no I/O: the WordPiece tokenizer of all-MiniLM-L6-v2 with its vocabulary compiled in.
        .target(name: "IngestTokenizer", swiftSettings: swiftSettings),
        // Pure, no I/O: the DoclingDocument model and the structure- and token-aware chunker.
        .target(name: "IngestChunking", dependencies: ["IngestTokenizer", "CZlib"], swiftSettings: swiftSettings),

        // Shared foundations of the pipeline: errors, JSON values, retry policy, the seams
        // (Embedder, ChunkIndex) and the HTTP plumbing the clients share. It imports no target of
        // ours: every layer above may use it, it uses none of them.
        .target(
            name: "IngestKit",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // One target per remote system, so each client builds and tests on its own. IngestDocling
        // also holds the converter seam (DocumentConverter, SourceDocument, ConvertedDocument) and
        // Docling Serve's response envelope: the seam carries a DoclingDocument, so it sits above
        // the chunker's model, not in IngestKit.
        .target(name: "IngestDocling", dependencies: ["IngestKit", "IngestChunking"], swiftSettings: swiftSettings),
        .target(name: "IngestEmbeddings", dependencies: ["IngestKit"], swiftSettings: swiftSettings),
        .target(name: "IngestOpenSearch", dependencies: ["IngestKit"], swiftSettings: swiftSettings),

        // all-MiniLM-L6-v2 in process: safetensors, the BERT encoder on its own threads, mean pooling.
        .target(name: "IngestLocalEmbeddings", dependencies: ["IngestKit", "IngestTokenizer", "CEmbedKernels", "CThreadName"], swiftSettings: swiftSettings),

        // The pipeline: configuration, document sources, generations and ids, the run and its report.
        .target(
            name: "IngestCore",
            dependencies: [
                "IngestKit", "IngestChunking", "IngestTokenizer", "IngestDocling", "IngestEmbeddings", "IngestOpenSearch", "IngestLocalEmbeddings",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The life of any HTTP service we run, with no pipeline in it: the drain gate, the health
        // and metrics routes, signals, JSON logs. `ingest serve` and `ingest serve-embeddings` use it.
        .target(
            name: "IngestService",
            dependencies: [
                "IngestKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // What both Stepflow transports share: the worker's configuration, state, dependency
        // monitor, `/health`, and metrics around the component. IngestServer (HTTP) and
        // IngestStepflowGRPC (gRPC) are shells over it and never import each other.
        .target(
            name: "IngestWorker",
            dependencies: [
                "IngestKit", "IngestCore", "IngestService",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Stepflow component server over HTTP: JSON-RPC, SSE callbacks or the 0.10/0.11 REST
        // blob API.
        .target(
            name: "IngestServer",
            dependencies: [
                "IngestKit", "IngestCore", "IngestService", "IngestWorker",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Stepflow 0.12+/0.13 worker: TasksService.PullTasks, claim and heartbeats, CompleteTask,
        // BlobService, over gRPC. The pull loop is decision logic over two small seams
        // (TaskSource, OrchestratorClient) so it is tested against in-memory fakes.
        .target(
            name: "IngestStepflowGRPC",
            dependencies: [
                "IngestKit",
                "IngestCore",
                "IngestService",
                "IngestWorker",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Protos"],
            swiftSettings: swiftSettings
        ),
        // `ingest serve-embeddings`: an OpenAI-compatible embeddings API over the in-process model.
        // Its own target so the worker gains nothing from it and it needs none of the pipeline:
        // the in-process embedder, IngestService and Hummingbird only (never IngestCore).
        .target(
            name: "IngestEmbeddingsServer",
            dependencies: [
                "IngestKit",
                "IngestService",
                "IngestLocalEmbeddings",
                "IngestTokenizer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The one binary: argument parsing and wiring only.
        .executableTarget(
            name: "ingest",
            dependencies: [
                "IngestCore",
                "IngestService",
                "IngestWorker",
                "IngestServer",
                "IngestStepflowGRPC",
                "IngestEmbeddingsServer",
                "IngestLocalEmbeddings",
                "IngestKit",
                "IngestOpenSearch",
                "IngestChunking",
                "IngestTokenizer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        .testTarget(name: "IngestTokenizerTests", dependencies: ["IngestTokenizer"], resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(name: "IngestChunkingTests", dependencies: ["IngestChunking"], resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(name: "IngestKitTests", dependencies: ["IngestKit", .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .testTarget(
            name: "IngestClientsTests",
            dependencies: ["IngestDocling", "IngestEmbeddings", "IngestOpenSearch"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "IngestLocalEmbeddingsTests", dependencies: ["IngestLocalEmbeddings", "CEmbedKernels"], resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(
            name: "IngestCoreTests",
            dependencies: ["IngestCore", "IngestDocling", .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IngestServerTests",
            dependencies: ["IngestServer", "IngestWorker", "IngestService", .product(name: "HummingbirdTesting", package: "hummingbird")],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "IngestWorkerTests", dependencies: ["IngestWorker", "IngestKit"], swiftSettings: swiftSettings),
        .testTarget(
            name: "IngestServiceTests",
            dependencies: [
                "IngestService", "IngestKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IngestEmbeddingsServerTests",
            dependencies: [
                "IngestEmbeddingsServer", "IngestLocalEmbeddings", "IngestKit",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IngestStepflowGRPCTests",
            dependencies: [
                "IngestStepflowGRPC", "IngestKit",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
