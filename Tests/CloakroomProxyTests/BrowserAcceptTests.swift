import Testing

@testable import CloakroomProxy

/// Who gets a page (or a redirect) rather than JSON: a client whose `Accept` gives `text/html` a
/// quality above 0 and no other listed range a higher one.
@Suite struct BrowserAcceptTests {
    static let chrome =
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
    static let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

    @Test(arguments: [
        // Browsers, and clients asking for HTML.
        (chrome, true), (firefox, true), ("text/html", true), ("TEXT/HTML", true), ("text/*", true),
        ("text/html, application/json", true), ("text/html;q=0.5, application/json;q=0.5", true),
        (" text/html ; q=0.8 , application/json ; q=0.7", true), ("text/html;level=1;q=0.8, */*;q=0.2", true),
        ("text/html;q=0.1, text/*;q=0", true), ("text/html;q=1.000", true), ("text/html;Q=0.5, application/json;q=0.4", true),
        ("text/html;q=0.5, text/html;q=0.1, image/png;q=0.3", true),
        // Preferring something else: the audit's case, and its relatives.
        ("application/json, text/html;q=0.1", false), ("application/json, text/html;q=0.5", false),
        ("application/json;q=0.9, text/html;q=0.8", false), ("text/html;q=0.9, */*", false), ("text/html;q=0.5, text/*", false),
        ("text/*;q=0.5, application/json", false),
        // No text/html at a quality above 0.
        ("*/*", false), ("application/json", false), ("text/plain", false), ("", false), (" , ,", false),
        ("text/html;q=0", false), ("text/html;q=0.000", false), ("text/*;q=0", false), ("text/*, text/html;q=0", false),
    ])
    func readsTheQualities(_ accept: String, _ expected: Bool) {
        #expect(BrowserAccept.isBrowser(accept) == expected, "\(accept)")
        #expect(ProxyPolicy.acceptsHTML(accept) == expected, "the phases' predicate is this one: \(accept)")
    }

    /// A `q` that is no RFC 9110 qvalue leaves its range out, as if it were not listed.
    @Test(arguments: [
        ("text/html;q=abc", false), ("text/html;q=", false), ("text/html;q", false), ("text/html;q=2", false),
        ("text/html;q=1.5", false), ("text/html;q=1.001", false), ("text/html;q=-1", false), ("text/html;q=0.0001", false),
        ("text/html;q=0.5.5", false), ("text/html;q=.5", false), ("text/html;q=1e0", false), ("text/html;q=nan", false),
        ("text/html;q=inf", false), ("text/html;q=0x1", false),
        ("application/json;q=2, text/html", true), ("application/json;q=nan, text/html;q=0.5", true),
        ("application/json;q=1.0001, text/html;q=0.9", true), ("application/json;q=, text/html;q=0.1", true),
        ("text/html;q=abc, text/*;q=0.5", true), ("text/html;q=0.", false), ("text/html;q=1.", true),
    ])
    func malformedQualities(_ accept: String, _ expected: Bool) {
        #expect(BrowserAccept.isBrowser(accept) == expected, "\(accept)")
    }

    @Test func qvalues() {
        let cases: [(String, Int?)] = [
            ("0", 0), ("1", 1000), ("0.5", 500), ("0.25", 250), ("0.125", 125), ("1.0", 1000), ("1.000", 1000), ("0.", 0),
            ("1.", 1000), ("0.1234", nil), ("1.1", nil), ("2", nil), ("", nil), (" 0.5", nil), ("0,5", nil),
        ]
        for (text, expected) in cases {
            #expect(BrowserAccept.qvalue(Substring(text).utf8) == expected, "\(text)")
        }
    }
}
