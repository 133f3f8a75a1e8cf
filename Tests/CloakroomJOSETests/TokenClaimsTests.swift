import CloakroomJOSE
import Foundation
import Testing

/// The lenient decoding of the claims Cloakroom checks.
@Suite struct TokenClaimsTests {
    func decode(_ json: String) throws -> TokenClaims {
        try JSONDecoder().decode(TokenClaims.self, from: Data(json.utf8))
    }

    @Test func audienceIsAStringOrAList() throws {
        #expect(try decode(#"{"aud":"api"}"#).aud == ["api"])
        #expect(try decode(#"{"aud":["api","other"]}"#).aud == ["api", "other"])
        #expect(try decode(#"{}"#).aud == nil)
    }

    /// Back-Channel Logout 1.0 §2.4: the event's value is a JSON object. Found by a black-box
    /// audit: a logout token whose event member held a string ended sessions.
    @Test func onlyEventsWhoseValueIsAnObjectCount() throws {
        let event = "http://schemas.openid.net/event/backchannel-logout"
        #expect(try decode(#"{"events":{"\#(event)":{}}}"#).events == [event])
        #expect(try decode(#"{"events":{"\#(event)":{"reason":"x"}}}"#).events == [event])
        for value in [#""x""#, "1", "[]", "null", "true"] {
            #expect(try decode(#"{"events":{"\#(event)":\#(value)}}"#).events == [], "\(value)")
        }
        #expect(try decode(#"{}"#).events == nil)
    }
}
