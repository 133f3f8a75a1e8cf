import Foundation
import Testing

/// W3C trace context through the proxy: the client's trace is kept, a missing or malformed one
/// is started, and the access log carries the trace ID the backend got.
@Suite(.serialized)
struct TracePropagationTests {
    @Test func tracesAreKeptOrStartedAndLogged() async throws {
        let (accessLog, lines) = CapturingLogHandler.logger()
        let proxy = try await ProxyHarness.start(accessLog: accessLog)
        defer { Task { await proxy.stop() } }
        let client = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        _ = try await Curl.get("\(proxy.base)/public/a", ["-H", "traceparent: \(client)", "-H", "tracestate: vendor=1"])
        _ = try await Curl.get("\(proxy.base)/public/b", ["-H", "tracestate: orphan=1"])
        _ = try await Curl.get("\(proxy.base)/public/c", ["-H", "traceparent: not-a-trace", "-H", "tracestate: vendor=2"])
        let requests = proxy.backend.requests
        #expect(requests.count == 3)
        #expect(requests[0].values("traceparent") == [client], "kept as the client sent it")
        #expect(requests[0].value("tracestate") == "vendor=1")
        for request in requests.dropFirst() {
            let started = try #require(request.values("traceparent").first)
            #expect(request.values("traceparent").count == 1)
            #expect(request.values("tracestate").isEmpty, "a started trace carries no client tracestate")
            #expect(started.range(of: #"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$"#, options: .regularExpression) != nil, "\(started)")
        }
        let logged = try await ExchangeRecordTests.awaitLines(lines, count: 3)
        let traceIDs = requests.map { String($0.value("traceparent")!.split(separator: "-")[1]) }
        #expect(logged.map { $0["trace_id"] ?? "" } == traceIDs)
    }
}
