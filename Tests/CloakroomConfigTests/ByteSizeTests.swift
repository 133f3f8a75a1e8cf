import Testing

@testable import CloakroomConfig

@Suite("ByteSize.parse")
struct ByteSizeTests {
    @Test(arguments: [
        ("512", 512), ("0", 0), ("16KiB", 16 * 1024), ("10MiB", 10 * 1024 * 1024), ("1GiB", 1 << 30),
        ("2TiB", 2 << 40), ("1KB", 1000), ("5MB", 5_000_000), ("1GB", 1_000_000_000), ("64B", 64),
        ("10 MiB", 10 << 20), ("16kib", 16 * 1024),
    ])
    func parsesValidSizes(text: String, expected: Int) {
        #expect(ByteSize.parse(text) == expected)
    }

    @Test(arguments: [
        "", "lots", "-1", "+1", "1.5MiB", "MiB", "10XB", "10  MiB", "10 ", " 10", "10MiB ",
        "99999999999999999999", "9999999999999TiB",
    ])
    func rejectsInvalidSizes(text: String) {
        #expect(ByteSize.parse(text) == nil)
    }

    @Test func describesWithTheLargestExactBinaryUnit() {
        #expect(ByteSize.describe(32 * 1024) == "32KiB")
        #expect(ByteSize.describe(10 << 20) == "10MiB")
        #expect(ByteSize.describe(1000) == "1000")
    }

    @Test func acceptsYAMLIntegersForSizes() throws {
        let configuration = try #require(load(minimal(adding: "client:\n  max_body_bytes: 2048\n")))
        #expect(configuration.client.maxBodyBytes == 2048)
    }
}
