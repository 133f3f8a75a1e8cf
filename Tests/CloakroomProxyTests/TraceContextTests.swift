import Testing

@testable import CloakroomProxy

@Suite struct TraceContextTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func aValidTraceparentGivesItsTraceID() {
        #expect(TraceContext.traceID(of: Self.valid) == "4bf92f3577b34da6a3ce929d0e0e4736")
        // A later version may carry more fields after a dash.
        #expect(TraceContext.traceID(of: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra") != nil)
    }

    @Test(arguments: [
        "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
    ])
    func malformedOnesAreRefused(_ value: String) {
        #expect(TraceContext.traceID(of: value) == nil)
    }

    @Test func startedTracesAreValidAndDistinct() {
        let generator = TraceIDGenerator()
        var seen: Set<String> = []
        for _ in 0..<1000 {
            let (traceparent, traceID) = generator.start()
            #expect(TraceContext.traceID(of: traceparent) == traceID)
            #expect(traceparent.hasSuffix("-01"))
            seen.insert(traceID)
        }
        #expect(seen.count == 1000)
        #expect(TraceIDGenerator().start().traceID != generator.start().traceID, "each connection seeds its own")
    }
}
