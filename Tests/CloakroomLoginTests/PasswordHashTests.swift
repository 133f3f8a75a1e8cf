import CloakroomLogin
import Foundation
import Testing

@Suite struct PasswordHashTests {
    @Test func roundTripsWithDefaultParameters() throws {
        let hash = try PasswordHash.make(password: "correct horse")
        #expect(hash.parameters == .default)
        #expect(hash.verify("correct horse"))
        let reparsed = try #require(PasswordHash(encoded: hash.encoded))
        #expect(reparsed == hash)
        #expect(reparsed.verify("correct horse"))
    }

    @Test func rejectsWrongPasswords() {
        let hash = cheapHash("correct horse")
        #expect(hash.verify("correct horse"))
        #expect(!hash.verify("correct horsE"))
        #expect(!hash.verify("correct horse "))
        #expect(!hash.verify(""))
    }

    @Test func saltsEveryHash() {
        let first = cheapHash("same"), second = cheapHash("same")
        #expect(first != second)
        #expect(first.encoded != second.encoded)
    }

    @Test func encodedFormatIsDocumentedShape() throws {
        let hash = cheapHash("pw")
        let fields = hash.encoded.split(separator: "$", omittingEmptySubsequences: false)
        #expect(fields.count == 4)
        #expect(fields[0] == "scrypt")
        #expect(fields[1] == "N=1024,r=8,p=1")
        #expect(Data(base64Encoded: String(fields[2]))?.count == 16)
        #expect(Data(base64Encoded: String(fields[3]))?.count == 32)
    }

    @Test func keepsItsParametersThroughEncoding() throws {
        let parameters = try #require(PasswordHash.Parameters(n: 2048, r: 4, p: 2))
        let hash = try PasswordHash.make(password: "pw", parameters: parameters)
        let reparsed = try #require(PasswordHash(encoded: hash.encoded))
        #expect(reparsed.parameters == parameters)
        #expect(reparsed.encoded.hasPrefix("scrypt$N=2048,r=4,p=2$"))
        #expect(reparsed.verify("pw"))
    }

    /// A hash made before the default work factor was raised keeps verifying with the
    /// parameters stored in it.
    @Test func olderLowerParametersStillVerify() throws {
        let old = try PasswordHash.make(password: "legacy", parameters: #require(.init(n: 16, r: 1, p: 1)))
        let stored = old.encoded
        let reparsed = try #require(PasswordHash(encoded: stored))
        #expect(reparsed.parameters != .default)
        #expect(reparsed.verify("legacy"))
        #expect(!reparsed.verify("legacy!"))
    }

    @Test(arguments: [
        "",
        "scrypt",
        "bcrypt$N=1024,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$N=1000,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  // not 2^k
        "scrypt$N=01024,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$r=8,N=1024,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$N=1024,r=8,p=1,x=2$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$N=2097152,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  // 2^21
        "scrypt$N=1024,r=0,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$N=1024,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  // unpadded salt
        "scrypt$N=1024,r=8,p=1$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  // 3-byte salt
        "scrypt$N=1024,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",  // 3-byte hash
        "scrypt$N=1024,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$",
        "scrypt$N=1024,r=8,p=1$AAAAAAAAAA AAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ])
    func rejectsMalformedEncodings(_ encoded: String) {
        #expect(PasswordHash(encoded: encoded) == nil)
    }

    @Test func acceptsAWellFormedEncoding() throws {
        let encoded = "scrypt$N=1024,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        let hash = try #require(PasswordHash(encoded: encoded))
        #expect(hash.encoded == encoded)
        #expect(hash.parameters == PasswordHash.Parameters(n: 1024, r: 8, p: 1))
    }

    @Test func descriptionNeverShowsHashBytes() throws {
        let hash = cheapHash("pw")
        let salt = String(hash.encoded.split(separator: "$")[2])
        let bytes = String(hash.encoded.split(separator: "$")[3])
        #expect(hash.description == "scrypt(N=1024,r=8,p=1)")
        for text in [hash.description, String(reflecting: hash), "\(hash)"] {
            #expect(!text.contains(salt))
            #expect(!text.contains(bytes))
        }
    }

    @Test func refusesEmptyPasswords() {
        #expect(throws: PasswordHashError.emptyPassword) { try PasswordHash.make(password: "") }
    }

    @Test func rejectsOutOfRangeParameters() {
        #expect(PasswordHash.Parameters(n: 1, r: 8, p: 1) == nil)
        #expect(PasswordHash.Parameters(n: 3000, r: 8, p: 1) == nil)
        #expect(PasswordHash.Parameters(n: 1 << 20, r: 32, p: 16) == nil)  // far over 1 GiB
        #expect(PasswordHash.Parameters(n: 1 << 20, r: 8, p: 1) != nil)
        #expect(PasswordHash.Parameters(n: 1 << 16, r: 1, p: 1) == nil)  // n must be below 2^(16r)
        #expect(PasswordHash.Parameters(n: 1024, r: 17, p: 1) == nil)
    }

    /// The corners of the accepted ranges all derive (a combination scrypt refused would make
    /// the hash unusable).
    @Test(arguments: [(2, 1, 1), (1 << 15, 1, 1), (2, 16, 1), (2, 1, 16), (64, 16, 16)])
    func everyAcceptedCornerDerives(_ n: Int, _ r: Int, _ p: Int) throws {
        let parameters = try #require(PasswordHash.Parameters(n: n, r: r, p: p))
        let hash = try PasswordHash.make(password: "pw", parameters: parameters)
        #expect(hash.verify("pw"))
    }

    /// An unknown user must cost what a wrong password costs. The minimum of a few runs of
    /// each is compared, which discounts interference from other tests running in parallel.
    @Test func dummyVerifyCostsAboutAsMuchAsARealOne() throws {
        let real = try PasswordHash.make(password: "real password")
        let clock = ContinuousClock()
        var realTimes: [Duration] = [], dummyTimes: [Duration] = []
        for _ in 0..<3 {
            realTimes.append(clock.measure { _ = real.verify("wrong password") })
            dummyTimes.append(clock.measure { PasswordHash.verifyDummy("wrong password") })
        }
        let ratio = dummyTimes.min()! / realTimes.min()!
        // Skipping the work would make the ratio a few thousandths; the band allows for load.
        #expect(ratio > 0.25 && ratio < 4, "dummy/real = \(ratio)")
    }
}
