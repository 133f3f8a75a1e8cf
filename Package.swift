// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "cloakroom",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cloakroom", targets: ["cloakroom"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.0"),
        // Single sign-on: HTTP calls to the identity provider, and JOSE (JWKS, signatures).
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        // Already in the graph through jwt-kit; named for ServerIdentityPolicy (RFC 6125 name
        // checks of HTTPS upstreams' certificates, see UpstreamServerIdentity).
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.0"),
    ],
    targets: [
        // Typed configuration: YAML decoding, validation with key paths. No NIO.
        .target(
            name: "CloakroomConfig",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),
        // Sessions, the store protocol, the memory store, cookie signing. No sockets, no HTTP types.
        .target(
            name: "CloakroomSessions",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Built-in form login: password hashes, the users file, throttling, the login page.
        // Plain Swift the server calls; no NIO, no sockets, no HTTP types.
        .target(
            name: "CloakroomLogin",
            dependencies: [
                "CloakroomSessions",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // The durable file store: SQLite (WAL) behind an in-memory index. Its own target so the
        // core never links SQLite.
        .target(
            name: "CloakroomFileStore",
            dependencies: [
                "CloakroomSessions",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The Redis store and its own RESP client over SwiftNIO. Its own target so the core
        // never depends on it.
        .target(
            name: "CloakroomRedis",
            dependencies: [
                "CloakroomSessions",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The behaviour every session store must have, as one suite each store's tests run.
        .target(
            name: "CloakroomStoreConformance",
            dependencies: ["CloakroomSessions", .product(name: "Logging", package: "swift-log")]
        ),
        // Verification of OpenID Connect tokens with jwt-kit: JWKS key sets, the accepted
        // algorithms, the claim checks. No network, no NIO; reusable for other JWTs.
        .target(
            name: "CloakroomJOSE",
            dependencies: [
                .product(name: "JWTKit", package: "jwt-kit"),
                // Identity assertions: the RFC 7638 thumbprint (SHA-256) of each signing key.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The OpenID Connect relying party: discovery, the code flow with PKCE, token and
        // userinfo calls, refresh, back-channel logout tokens. Uses async-http-client; the core
        // (sessions, proxy phases) never links it.
        .target(
            name: "CloakroomOIDC",
            dependencies: [
                "CloakroomJOSE",
                "CloakroomConfig",
                "CloakroomSessions",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Request phases as plain Swift over swift-http-types: routing, identity, control headers.
        .target(
            name: "CloakroomProxy",
            dependencies: [
                "CloakroomConfig",
                "CloakroomSessions",
                "CloakroomLogin",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                // The self-service page's Content-Security-Policy names its style by hash.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Listeners, HTTP/1.1 codec wiring, upstream pool, lifecycle.
        .target(
            name: "CloakroomServer",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                "CloakroomProxy",
                "CloakroomOIDC",
                "CloakroomJOSE",
                "CloakroomFileStore",
                "CloakroomRedis",
                "CloakroomLogin",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP2", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "cloakroom",
            dependencies: [
                "CloakroomServer",
                "CloakroomLogin",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // bench/assertion/run: the identity assertion signer's rate alone (tokens per second).
        .executableTarget(name: "AssertionSignRate", dependencies: ["CloakroomJOSE"], path: "bench/assertion/SignRate"),
        .testTarget(name: "CloakroomConfigTests", dependencies: ["CloakroomConfig"]),
        .testTarget(name: "CloakroomSessionsTests", dependencies: ["CloakroomSessions", "CloakroomStoreConformance"]),
        .testTarget(
            name: "CloakroomFileStoreTests",
            dependencies: ["CloakroomFileStore", "CloakroomSessions", "CloakroomStoreConformance"]
        ),
        .testTarget(name: "CloakroomProxyTests", dependencies: ["CloakroomProxy"]),
        // Test tokens are signed with swift-crypto directly, never with the code that checks them.
        .testTarget(
            name: "CloakroomOIDCTests",
            dependencies: [
                "CloakroomOIDC", "CloakroomJOSE", "CloakroomConfig", "CloakroomSessions",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // Identity assertions checked with swift-crypto's P256 directly, not with the signing code.
        .testTarget(
            name: "CloakroomJOSETests",
            dependencies: [
                "CloakroomJOSE", .product(name: "Crypto", package: "swift-crypto"), .product(name: "JWTKit", package: "jwt-kit"),
            ]
        ),
        .testTarget(
            name: "CloakroomRedisTests",
            dependencies: [
                "CloakroomRedis",
                "CloakroomSessions",
                "CloakroomStoreConformance",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures/capture-replies.py"]
        ),
        .testTarget(name: "CloakroomLoginTests", dependencies: ["CloakroomLogin", "CloakroomSessions"]),
        .testTarget(
            name: "CloakroomServerTests",
            dependencies: [
                "CloakroomServer",
                "CloakroomLogin",
                "CloakroomStoreConformance",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ]
        ),
    ] + fuzzTargets,
    swiftLanguageModes: [.v6]
)

// Fuzz targets (see Fuzz/FuzzSupport/FuzzDriver.swift and scripts/fuzz). In the normal build each
// replays the files it is given (scripts/test runs them over Fuzz/Corpus); built by scripts/fuzz
// into .build-fuzz with -D FUZZING -sanitize=fuzzer,address, each is a libFuzzer binary. They
// reach internal types through @testable imports, so they build in debug or with -enable-testing.
var fuzzTargets: [Target] {
    func fuzz(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
        .executableTarget(name: "Fuzz" + name, dependencies: ["FuzzSupport"] + dependencies, path: "Fuzz/" + name)
    }
    let nio: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
    let httpTypes: Target.Dependency = .product(name: "HTTPTypes", package: "swift-http-types")
    return [
        .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport"),
        fuzz("HTTP1Request", ["CloakroomServer", "CloakroomProxy", nio]),
        fuzz("HTTP1Response", ["CloakroomServer", "CloakroomProxy", nio, httpTypes]),
        fuzz("ChunkedBody", ["CloakroomServer", nio]),
        fuzz("RESP", ["CloakroomRedis", nio]),
        fuzz("ConfigLoader", ["CloakroomConfig"]),
        fuzz("CookieCodec", ["CloakroomConfig", "CloakroomProxy", "CloakroomSessions", httpTypes]),
        fuzz("MergePatch", ["CloakroomSessions"]),
    ]
}
