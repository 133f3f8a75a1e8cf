import CloakroomServer
import Logging
import Testing

/// The text log escapes what a terminal or a log reader would act on, in the message and in
/// every kind of metadata value, the handler's own included; plain text passes unchanged.
struct TerminalSafeLogHandlerTests {
    struct Described: CustomStringConvertible, Sendable {
        var description: String { "line\nbreak" }
    }

    @Test func everyValueIsEscaped() {
        let lines = CapturingLogHandler.Lines()
        var logger = Logger(label: "test") { _ in TerminalSafeLogHandler(CapturingLogHandler(captured: lines)) }
        logger[metadataKey: "own"] = "a\rb"
        logger.warning(
            "refused \u{1b}[31m",
            metadata: [
                "reason": "access_denied\r\n2026-12-07 notice forged",
                "list": .array(["x\ny", "plain"]),
                "map": .dictionary(["k": "\u{202e}drow"]),
                "described": .stringConvertible(Described()),
                "path": #"C:\Users"#,
            ])
        let line = try! #require(lines.all.first)
        #expect(!line.contains("\n") && !line.contains("\r") && !line.contains("\u{1b}") && !line.contains("\u{202e}"))
        #expect(line.contains(#"refused \u001b[31m"#))
        // Quoted (it holds spaces), so the escapes' backslashes are escaped in turn.
        #expect(line.contains(#"reason="access_denied\\r\\n2026-12-07 notice forged""#))
        // swift-log writes arrays and dictionaries with their elements' debug descriptions.
        #expect(line.contains(#"["x\\ny", "plain"]"#) && line.contains(#"["k": "\\u202edrow"]"#))
        #expect(line.contains(#"described=line\nbreak"#), "nothing to quote")
        #expect(line.contains(#"own=a\rb"#))
        #expect(line.contains(#"path=C:\\Users"#), "a value's own backslash is escaped: no escape can be forged")
    }

    /// A value cannot pass for fields of its own (found by an audit: a username
    /// `bob client=9.9.9.9 request_id=forged` logged `user=bob client=9.9.9.9 ...`).
    @Test func valuesWithSpacesOrEqualsSignsAreQuoted() {
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "test") { _ in TerminalSafeLogHandler(CapturingLogHandler(captured: lines)) }
        logger.notice("login failed", metadata: ["client": "127.0.0.1", "user": "bob client=9.9.9.9 request_id=forged", "q": #"say "hi" \o/"#, "empty": ""])
        let line = try! #require(lines.all.first)
        #expect(line.contains(#"user="bob client=9.9.9.9 request_id=forged""#), "\(line)")
        #expect(line.contains("client=127.0.0.1 "), "\(line)")
        #expect(line.contains(#"q="say \"hi\" \\\\o/""#), "escaped as text, then for the quotes: \(line)")
        // Found by an audit: the six characters `\u2028` and the character U+2028 printed alike.
        logger.notice("session created", metadata: ["a": #"L\u2028"#, "b": "U\u{2028}"])
        let second = try! #require(lines.all.last)
        #expect(second.contains(#"a=L\\u2028"#) && second.contains(#"b=U\u2028"#), "\(second)")
        #expect(line.contains(#"empty="""#), "\(line)")
    }

    @Test func plainTextIsTheSameString() {
        #expect(TerminalText.safe("alice@example.com") == "alice@example.com")
        #expect(TerminalText.safe("tab\there") == #"tab\there"#)
        #expect(TerminalText.safe(#"a\b"#, backslashes: true) == #"a\\b"#)
        #expect(TerminalText.safe("\u{9b}2J") == #"\u009b2J"#)
    }
}
