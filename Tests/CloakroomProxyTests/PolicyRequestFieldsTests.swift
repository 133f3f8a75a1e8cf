import HTTPTypes
import Testing

@testable import CloakroomProxy

/// The request fields the phases read are declared once; the byte-level check the HTTP/1.1
/// parser uses is derived from that declaration, and hop-by-hop names are one list for requests
/// and responses.
@Suite struct PolicyRequestFieldsTests {
    static func contains(_ name: String) -> Bool {
        Array(name.utf8).withUnsafeBytes { PolicyRequestFields.contains(name: $0) }
    }

    @Test func theByteLevelCheckIsTheDeclaration() {
        for name in PolicyRequestFields.names {
            #expect(Self.contains(name.canonicalName))
            #expect(Self.contains(name.rawName.uppercased()))
        }
        for other in ["cookie", "accepts", "x-origin", "authorisation", "proxy-authorization", "", String(repeating: "a", count: 40)] {
            #expect(!Self.contains(other), "\(other)")
        }
    }

    @Test func responsesDropEveryHopByHopName() {
        for name in ["Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Connection",
            "Proxy-Authenticate", "Proxy-Authorization"]
        {
            #expect(HopByHop.isHopByHop(name: Array(name.utf8)))
            #expect(ResponseFieldRule.of(name: Array(name.utf8)) == .remove, "\(name)")
        }
        #expect(ResponseFieldRule.of(name: Array("X-Request-Id".utf8)) == .remove)
        #expect(ResponseFieldRule.of(name: Array("Session-Logout".utf8)) == .control)
        #expect(ResponseFieldRule.of(name: Array("Content-Type".utf8)) == .forward)
    }
}
