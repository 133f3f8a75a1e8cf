import Testing

@testable import CloakroomConfig

@Suite("Duration(configString:)")
struct DurationConfigTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)),
        ("30s", .seconds(30)),
        ("15m", .seconds(15 * 60)),
        ("12h", .seconds(12 * 3600)),
        ("7d", .seconds(7 * 86_400)),
        ("1h30m", .seconds(5400)),
        ("1m30s500ms", .milliseconds(90_500)),
        ("0s", .zero),
        ("90s", .seconds(90)),
    ])
    func parsesValidDurations(text: String, expected: Duration) {
        #expect(Duration(configString: text) == expected)
    }

    @Test(arguments: [
        "", "30", "-5s", "+5s", "1.5s", "5 s", " 5s", "5s ", "s", "5x", "5sec", "5S",
        "30m1h", "1s1s", "1h1d", "ms", "99999999999999999999s", "106751991167301d",
    ])
    func rejectsInvalidDurations(text: String) {
        #expect(Duration(configString: text) == nil)
    }

    @Test(arguments: [
        (Duration.seconds(90), "1m30s"), (.seconds(1800), "30m"), (.milliseconds(250), "250ms"),
        (.seconds(7 * 86_400), "7d"), (.zero, "0s"),
    ])
    func describesDurationsInConfigSyntax(duration: Duration, expected: String) {
        #expect(duration.configDescription == expected)
        #expect(Duration(configString: expected) == duration)
    }
}
