import Foundation
import Testing

/// Pending-login cookies take one of 16 slots: found by an audit, logins started and never
/// finished (another site can send a browser through `/login` again and again) piled up one
/// cookie each until the callback's `Cookie` field passed `max_header_bytes` and every sign-in
/// got 431 for ten minutes.
@Suite(.serialized)
struct SingleSignOnPendingTests {
    @Test func unfinishedLoginsReplaceEachOtherInsteadOfPilingUp() async throws {
        let idp = try await IdentityProviderProcess.stub(mode: "good")
        defer { idp.stop() }
        let proxy = try await SingleSignOnRefusalTests.start(signingInAt: idp)
        defer { Task { await proxy.stop() } }
        let browser = CookieJarBrowser()
        var names = Set<String>()
        var last: ClientResponse?
        for index in 0..<40 {
            let started = try await browser.get("\(proxy.base)/login?next=/n\(index)")
            #expect(started.status == 303)
            if let name = started.header("set-cookie")?.split(separator: "=").first { names.insert(String(name)) }
            last = started
        }
        #expect(names.count == 16, "\(names.sorted())")
        let held = try String(contentsOfFile: browser.jar, encoding: .utf8).split(separator: "\n").filter { $0.contains("_oidc_") }
        #expect(held.count == 16, "the browser holds one cookie per slot")

        // The last login completes.
        let (final, url) = try await browser.follow(try #require(last), from: "\(proxy.base)/login?next=/n39")
        #expect(final.status == 200 && url == "\(proxy.base)/n39", "\(url) \(final.status)")
    }

    /// Found by an audit: the slot came from a counter shared by every browser, so with 16
    /// other people's logins between a browser's two tabs, both tabs got the same slot and the
    /// first tab's login failed. A login's start now sees the slots its browser holds.
    @Test func twoTabsGetSlotsOfTheirOwnHoweverManyOthersLogIn() async throws {
        let idp = try await IdentityProviderProcess.stub(mode: "good")
        defer { idp.stop() }
        let proxy = try await SingleSignOnRefusalTests.start(signingInAt: idp)
        defer { Task { await proxy.stop() } }
        let browser = CookieJarBrowser()
        let tabA = try await browser.get("\(proxy.base)/login?next=/a")
        for other in 0..<16 { _ = try await CookieJarBrowser().get("\(proxy.base)/login?next=/other\(other)") }
        let tabB = try await browser.get("\(proxy.base)/login?next=/b")
        let names = [tabA, tabB].compactMap { $0.header("set-cookie")?.split(separator: "=").first.map(String.init) }
        #expect(names.count == 2 && names[0] != names[1], "\(names)")
        let (first, firstURL) = try await browser.follow(tabA, from: "\(proxy.base)/login?next=/a")
        #expect(firstURL == "\(proxy.base)/a" && first.status == 200, "\(firstURL) \(first.status)")
        let (second, secondURL) = try await browser.follow(tabB, from: "\(proxy.base)/login?next=/b")
        #expect(secondURL == "\(proxy.base)/b" && second.status == 200, "\(secondURL) \(second.status)")
    }
}
