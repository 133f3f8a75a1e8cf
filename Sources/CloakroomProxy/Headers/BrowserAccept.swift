/// Whether a client is a browser, read from its `Accept` field: every answer the proxy chooses
/// between a page (or a redirect to one) and JSON asks this one question.
///
/// A browser is a client whose `Accept` gives `text/html` a quality above 0 and lists no other
/// media range with a higher quality than `text/html`'s:
/// - `text/html`'s quality is that of the first `text/html` range, or of the first `text/*` when
///   none is listed (RFC 9110 §12.5.1: the most specific range decides; a range listed again
///   keeps its first quality). `*/*` never counts for it: every API client (curl among them)
///   sends it, so `*/*` alone is not a browser.
/// - Every other range listed (`*/*` and, beside an explicit `text/html`, `text/*` included)
///   must not have a higher quality: `application/json, text/html;q=0.1` prefers JSON and gets
///   it (found by a black-box audit: it got the page). Browsers list `text/html` first at 1, the
///   rest at 1 or lower (`text/html,application/xhtml+xml,...,*/*;q=0.8`).
/// - A range whose `q` is not an RFC 9110 §12.4.2 qvalue (`0` to `1`, at most three decimals:
///   `q=2`, `q=0.5.5`, `q=abc`, `q=`) counts as not listed at all.
///
/// Byte-level: browsers send `Accept` with every request.
public enum BrowserAccept {
    public static func isBrowser(_ accept: String) -> Bool {
        var html: Int?, textAny: Int?
        var highestOther = -1
        for element in accept.utf8.split(separator: UInt8(ascii: ",")) {
            var parts = element.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false).makeIterator()
            guard let first = parts.next() else { continue }
            let range = ASCIIText.trimmed(first)
            guard !range.isEmpty, let quality = quality(parameters: &parts) else { continue }
            // A range listed again is the same range: its first quality stands.
            if ASCIIText.equalsIgnoringCase(range, "text/html") {
                if html == nil { html = quality }
            } else if ASCIIText.equalsIgnoringCase(range, "text/*") {
                if textAny == nil { textAny = quality }
            } else {
                highestOther = max(highestOther, quality)
            }
        }
        // An explicit `text/html` decides its quality; a `text/*` beside it is another range.
        let htmlQuality: Int
        if let html {
            htmlQuality = html
            highestOther = max(highestOther, textAny ?? -1)
        } else if let textAny {
            htmlQuality = textAny
        } else {
            return false
        }
        return htmlQuality > 0 && highestOther <= htmlQuality
    }

    /// The range's quality in thousandths (1000 without a `q`), or `nil` when its `q` is
    /// malformed.
    static func quality<Parts: IteratorProtocol<Substring.UTF8View>>(parameters: inout Parts) -> Int? {
        while let parameter = parameters.next() {
            let trimmed = ASCIIText.trimmed(parameter)
            let equals = trimmed.firstIndex(of: UInt8(ascii: "="))
            let name = ASCIIText.trimmed(trimmed[..<(equals ?? trimmed.endIndex)])
            guard ASCIIText.equalsIgnoringCase(name, "q") else { continue }
            guard let equals else { return nil }
            return qvalue(ASCIIText.trimmed(trimmed[trimmed.index(after: equals)...]))
        }
        return 1000
    }

    /// RFC 9110 §12.4.2 `qvalue`, `( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
    /// thousandths.
    static func qvalue(_ bytes: Substring.UTF8View) -> Int? {
        guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        let rest = bytes.dropFirst()
        guard let dot = rest.first else { return first == UInt8(ascii: "1") ? 1000 : 0 }
        guard dot == UInt8(ascii: "."), rest.count <= 4 else { return nil }
        var value = first == UInt8(ascii: "1") ? 1000 : 0, scale = 100
        for digit in rest.dropFirst() {
            guard digit >= UInt8(ascii: "0") && digit <= UInt8(ascii: "9") else { return nil }
            if first == UInt8(ascii: "1") && digit != UInt8(ascii: "0") { return nil }
            value += Int(digit - UInt8(ascii: "0")) * scale
            scale /= 10
        }
        return value
    }
}
