// swift-tools-version:6.2
// The Swift side of scripts/bench-embed: the real IngestLocalEmbeddings sources (symlinked) and
// the IngestKit files they use (only those: not HTTPTransport, which needs AsyncHTTPClient), so
// the release build takes a minute instead of building the whole `ingest` graph (AsyncHTTPClient,
// NIO, Hummingbird). Environment.swift, which LocalEmbeddingConfiguration reads through, needs
// swift-configuration and swift-log: named here as in the parent package (same URLs, versions and
// no traits), so they resolve from the packages the parent already fetched.
import PackageDescription

let settings: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "embed-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: []),
    ],
    targets: [
        .target(name: "CEmbedKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "CThreadName"),
        .target(
            name: "IngestKit",
            dependencies: [
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        .target(name: "IngestTokenizer", swiftSettings: settings),
        .target(name: "IngestLocalEmbeddings", dependencies: ["IngestKit", "IngestTokenizer", "CEmbedKernels", "CThreadName"], swiftSettings: settings),
        // The core's clock and thread CPU time, for the GEMM efficiency figure.
        .target(name: "CBenchClock"),
        .executableTarget(name: "embed-bench", dependencies: ["IngestLocalEmbeddings", "CEmbedKernels", "CBenchClock"], swiftSettings: settings),
    ]
)
