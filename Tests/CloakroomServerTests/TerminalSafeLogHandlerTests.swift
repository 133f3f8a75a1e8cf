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
        #expect(line.contains(#"access_denied\r\n2026-12-07 notice forged"#))
        // swift-log writes arrays and dictionaries with their elements' debug descriptions.
        #expect(line.contains(#"["x\\ny", "plain"]"#) && line.contains(#"["k": "\\u202edrow"]"#))
        #expect(line.contains(#"described=line\nbreak"#))
        #expect(line.contains(#"own=a\rb"#))
        #expect(line.contains(#"path=C:\Users"#), "backslashes are left as they are in the text log")
    }

    @Test func plainTextIsTheSameString() {
        #expect(TerminalText.safe("alice@example.com") == "alice@example.com")
        #expect(TerminalText.safe("tab\there") == #"tab\there"#)
        #expect(TerminalText.safe(#"a\b"#, backslashes: true) == #"a\\b"#)
        #expect(TerminalText.safe("\u{9b}2J") == #"\u009b2J"#)
    }
}
