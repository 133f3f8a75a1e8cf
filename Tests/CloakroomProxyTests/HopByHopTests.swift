import CloakroomProxy
import HTTPTypes
import Testing

@Suite struct HopByHopTests {
    @Test(arguments: [
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
        "connection", "KEEP-ALIVE", "te",
    ])
    func removesStandardHopByHopFields(header: String) {
        var fields = makeFields([("Accept", "*/*"), (header, "x"), ("Content-Type", "text/plain")])
        HopByHop.remove(from: &fields)
        #expect(fields.map(\.name.canonicalName) == ["accept", "content-type"], "\(header)")
    }

    @Test func removesEveryStandardOneAtOnce() {
        var fields = makeFields([
            ("Connection", "keep-alive, Upgrade"), ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"), ("Trailer", "Expires"), ("Transfer-Encoding", "chunked"), ("Upgrade", "websocket"),
            ("Content-Length", "0"),
        ])
        HopByHop.remove(from: &fields)
        #expect(fields.map(\.name.canonicalName) == ["content-length"])
    }

    @Test func removesFieldsNamedInConnection() {
        var fields = makeFields([
            ("Connection", "foo, Bar"), ("Foo", "1"), ("bar", "2"), ("X-Foo", "kept"), ("Baz", "kept"),
            ("Accept", "*/*"),
        ])
        HopByHop.remove(from: &fields)
        #expect(fields.map(\.name.canonicalName) == ["x-foo", "baz", "accept"])
    }

    @Test func connectionTokensFromSeveralFieldsAndOddSpacing() {
        var fields = makeFields([
            ("Connection", "close"), ("Connection", "  X-Secret-Hop ,,\tAlpha  "), ("x-secret-hop", "1"),
            ("ALPHA", "2"), ("Beta", "3"),
        ])
        HopByHop.remove(from: &fields)
        #expect(fields.map(\.name.canonicalName) == ["beta"])
    }

    @Test func keepsEndToEndFields() {
        let original = makeFields([
            ("Accept", "*/*"), ("Authorization", "Bearer t"), ("Cookie", "a=1"), ("Content-Type", "text/plain"),
            ("Content-Length", "3"), ("Cache-Control", "no-cache"), ("X-Custom", "v"), ("Set-Cookie", "b=2"),
        ])
        var fields = original
        HopByHop.remove(from: &fields)
        #expect(fields == original)
    }

    @Test func emptyFieldsStayEmpty() {
        var fields = HTTPFields()
        HopByHop.remove(from: &fields)
        #expect(fields.isEmpty)
    }
}

@Suite struct RequestIDTests {
    @Test(arguments: [
        "a", "0", "req-1", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "A.B_C:D/E+F=G-H", String(repeating: "x", count: 128),
        "Zz09._:/+=-",
    ])
    func accepts(id: String) {
        #expect(RequestID.isValid(id), "\(id)")
        #expect(RequestID.isValid(id[...]), "\(id) as Substring")
    }

    @Test(arguments: [
        "", String(repeating: "x", count: 129), "a b", " a", "a\r\nX-Admin: 1", "a\n", "a\r", "a\tb", "café",
        "日本", "a\u{0}", "a;b", "a,b", "<script>", "a\"b", "a%20b", "a?b", "a#b", "a@b", "a\u{7F}",
    ])
    func rejects(id: String) {
        #expect(!RequestID.isValid(id), "\(id.debugDescription)")
    }

    @Test func lengthLimitCountsBytesNotCharacters() {
        // 64 two-byte characters: 128 bytes but non-ASCII, so rejected anyway; 128 ASCII accepted.
        #expect(!RequestID.isValid(String(repeating: "é", count: 64)))
        #expect(RequestID.isValid(String(repeating: "-", count: 128)))
        #expect(!RequestID.isValid(String(repeating: "-", count: 129)))
    }
}
