import Testing

@testable import CloakroomConfig

@Suite("Address parsing")
struct AddressParsingTests {
    @Test(arguments: [
        ("127.0.0.1:8080", "127.0.0.1", 8080), ("[::1]:8080", "::1", 8080), ("0.0.0.0:0", "0.0.0.0", 0),
        ("localhost:65535", "localhost", 65535), ("[2001:db8::1]:443", "2001:db8::1", 443),
    ])
    func parsesListenAddresses(text: String, host: String, port: Int) throws {
        let address = try SocketAddressSpec.parse(text).get()
        #expect(address == SocketAddressSpec(host: host, port: port))
    }

    @Test(arguments: [
        "localhost", ":8080", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "::1:8080", "[::1]",
        "[::1]8080", "[]:80", "[zz::1]:80", "host name:80", "127.0.0.1:80a", "http://127.0.0.1:80",
    ])
    func rejectsBadListenAddresses(text: String) {
        #expect(throws: ValueProblem.self) { try SocketAddressSpec.parse(text).get() }
    }

    @Test func explainsIPv6Brackets() {
        #expect(throws: ValueProblem("write IPv6 addresses in brackets, like [::1]:8080")) {
            try SocketAddressSpec.parse("::1:8080").get()
        }
    }

    @Test func descriptionRoundTrips() throws {
        for text in ["127.0.0.1:8080", "[::1]:9000"] {
            #expect(try SocketAddressSpec.parse(text).get().description == text)
        }
    }

    @Test(arguments: [
        ("http://127.0.0.1:9000", "127.0.0.1", 9000), ("http://backend.internal", "backend.internal", 80),
        ("HTTP://api:81/", "api", 81), ("http://[::1]:9001", "::1", 9001),
    ])
    func parsesUpstreamTargets(text: String, host: String, port: Int) throws {
        #expect(try UpstreamTarget.parse(text).get() == UpstreamTarget(host: host, port: port))
    }

    @Test(arguments: [
        ("ftp://api:21", "expected a URL like http://127.0.0.1:9000 or https://"),
        ("https://api:443/v1", "is not allowed"),
        ("api:9000", "expected a URL like http://127.0.0.1:9000"),
        ("http://api:9000/v1", "is not allowed"),
        ("http://api:9000?x=1", "is not allowed"),
        ("http://user:pw@api:9000", "user info"),
        ("http://api:0", "port must be 1–65535"),
        ("http://", "expected host:port"),
    ])
    func rejectsBadUpstreamTargets(text: String, message: String) {
        do {
            _ = try UpstreamTarget.parse(text).get()
            Issue.record("\(text) parsed")
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
        }
    }
}
