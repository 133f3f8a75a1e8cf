import Testing

@testable import CloakroomServer

/// RFC 6125 name matching for HTTPS upstreams' certificates.
@Suite struct UpstreamServerIdentityTests {
    func matches(_ pattern: String, _ host: String) -> Bool {
        UpstreamServerIdentity.matches(pattern: Array(pattern.utf8), host: Array(host.utf8))
    }

    @Test func dnsNamesAndWildcards() {
        #expect(matches("api.example.com", "api.example.com"))
        #expect(matches("api.example.com.", "api.example.com"), "a trailing dot is the same name")
        #expect(!matches("api.example.com", "www.example.com"))
        #expect(matches("*.example.com", "api.example.com"))
        #expect(!matches("*.example.com", "a.b.example.com"), "a wildcard is one label")
        #expect(!matches("*.example.com", "example.com"), "and not none")
        #expect(!matches("*.example.com", ".example.com"))
        #expect(!matches("*.com", "example.com"), "not over a single-label suffix")
        #expect(!matches("f*.example.com", "foo.example.com"), "only a whole left-most label")
        #expect(!matches("", "example.com"))
    }

    @Test func addressLiterals() {
        #expect(UpstreamServerIdentity.addressBytes("127.0.0.1") == [127, 0, 0, 1])
        #expect(UpstreamServerIdentity.addressBytes("::1") == Array(repeating: 0, count: 15) + [1])
        #expect(UpstreamServerIdentity.addressBytes("[::1]") == Array(repeating: 0, count: 15) + [1])
        #expect(UpstreamServerIdentity.addressBytes("localhost") == nil)
        #expect(UpstreamServerIdentity.addressBytes("1.2.3") == nil)
    }
}
