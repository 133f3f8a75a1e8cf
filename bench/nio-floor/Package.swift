// swift-tools-version:6.0
// The floor of a SwiftNIO proxy on this machine, for the performance note: the same loopback
// benchmark as scripts/bench against proxies that do no session work at all. Not part of the
// product or of CI; run it by hand (see bench/nio-floor/run).
import PackageDescription

let package = Package(
    name: "nio-floor",
    dependencies: [.package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0")],
    targets: [
        .executableTarget(
            name: "nio-floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        )
    ]
)
