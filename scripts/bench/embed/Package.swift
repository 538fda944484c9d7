// swift-tools-version:6.2
// The Swift side of scripts/bench-embed: the real IngestLocalEmbeddings sources (symlinked) and
// the three IngestKit files they use, so the release build takes a minute instead of building
// the whole `ingest` graph (AsyncHTTPClient, NIO, Hummingbird).
import PackageDescription

let settings: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "embed-bench",
    platforms: [.macOS(.v15)],
    targets: [
        .target(name: "CEmbedKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "IngestKit", swiftSettings: settings),
        .target(name: "IngestTokenizer", swiftSettings: settings),
        .target(name: "IngestLocalEmbeddings", dependencies: ["IngestKit", "IngestTokenizer", "CEmbedKernels"], swiftSettings: settings),
        // The core's clock and thread CPU time, for the GEMM efficiency figure.
        .target(name: "CBenchClock"),
        .executableTarget(name: "embed-bench", dependencies: ["IngestLocalEmbeddings", "CEmbedKernels", "CBenchClock"], swiftSettings: settings),
    ]
)
