// Fuzz target: the session cookie codec (`SessionCookieCodec`, `Base64URL`) and the `Cookie`
// header parsing that finds it (`SessionCookies.take`, `takeSole`, `soleValue`).
//
// Input: byte 0 chooses where a valid cookie goes and which character of it is changed; the
// rest is cookie text a client could send. Checked:
// - no trap, no memory error;
// - base64url: anything that decodes encodes back to the same text (one spelling per ID);
// - a value that is not exactly what `encode` made for some ID never decodes (no forgery, no
//   second spelling), and a valid value changed in any one character is refused;
// - `take` finds a valid cookie wherever it sits among other cookies, and leaves no cookie
//   of ours in the header it forwards;
// - the byte path (`takeSole`) and the fields path (`take`) agree on every `Cookie` value.
import CloakroomConfig
@testable import CloakroomProxy
@testable import CloakroomSessions
import FuzzSupport
import HTTPTypes

let codec = SessionCookieCodec(secrets: [Array("fuzzing-secret-0123456789abcdef0123".utf8)])
let cookies = SessionCookies(settings: CookieSettings(), codec: codec, maxAge: .seconds(3600))
/// The memo's owner, as the policy is in the server.
final class Owner {}
let owner = ObjectIdentifier(Owner.self)

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzDriver.bytes(data, size)
    guard input.count >= 2 else { return 0 }
    let control = input[0], position = Int(input[1])
    let rest = Array(input[2...])
    checkBase64(rest)
    checkForgery(rest, position: position)
    checkHeader(rest, control: control, position: position)
    return 0
}

func checkBase64(_ text: [UInt8]) {
    for byteCount in 0...64 where Base64URL.encodedCount(byteCount: byteCount) == text.count {
        var out = [UInt8](repeating: 0, count: byteCount)
        let decoded = text.withUnsafeBufferPointer { chars in out.withUnsafeMutableBytes { Base64URL.decode(chars, into: $0) } }
        if decoded { require(Array(Base64URL.encode(out).utf8) == text, "two spellings of the same bytes decode") }
    }
}

func checkForgery(_ text: [UInt8], position: Int) {
    let value = String(decoding: text, as: UTF8.self)
    if let id = codec.decode(value) {
        require(codec.encode(id) == value, "a value decoded that encode did not make")
    }
    // A valid cookie for an ID taken from the input, changed in one character.
    var idBytes = Array(text.prefix(SessionID.byteCount))
    idBytes += [UInt8](repeating: 0x5A, count: SessionID.byteCount - idBytes.count)
    let id = SessionID(bytes: idBytes)!
    let valid = codec.encode(id)
    require(codec.decode(valid) == id, "a valid cookie does not decode")
    var changed = Array(valid.utf8)
    let replacement = text.last ?? UInt8(ascii: "A")
    changed[position % changed.count] = replacement
    let tampered = String(decoding: changed, as: UTF8.self)
    if tampered != valid { require(codec.decode(tampered) == nil, "a changed cookie still decodes") }
}

func checkHeader(_ text: [UInt8], control: UInt8, position: Int) {
    // A `Cookie` value can hold no CR, LF or NUL.
    let clean = String(decoding: text.filter { $0 != 0 && $0 != 10 && $0 != 13 && $0 < 0x80 }, as: UTF8.self)
    let id = SessionID(bytes: Array(repeating: control, count: SessionID.byteCount))!
    let pair = "cloakroom_session=" + codec.encode(id)
    let header: String
    switch control % 3 {
    case 0: header = clean
    case 1: header = pair
    default:
        let cut = clean.index(clean.startIndex, offsetBy: min(position, clean.count))
        header = clean[..<cut] + "; " + pair + "; " + clean[cut...]
    }
    guard HTTPField.isValidValue(header) else { return }
    var fields = HTTPFields([HTTPField(name: .cookie, value: header)])
    let taken = cookies.take(from: &fields, memo: VerifiedCookieMemo(), owner: owner)
    if control % 3 != 0 { require(taken == id, "the valid cookie was not found") }
    for value in fields[values: .cookie] {
        for part in value.split(separator: ";") {
            let name = part.drop { $0 == " " || $0 == "\t" }.prefix { $0 != "=" }
            require(!(part.contains("=") && name == "cloakroom_session"), "a cookie of ours is forwarded")
        }
    }
    // The byte path, where the value is ours alone, agrees with the fields path.
    var bytes = Array(header.utf8)
    let sole = bytes.withUnsafeMutableBytes { cookies.takeSole(UnsafeRawBufferPointer($0), memo: VerifiedCookieMemo(), owner: owner) }
    if case .taken(let soleID)? = sole {
        require(soleID == taken, "takeSole and take disagree")
        require(fields[values: .cookie].isEmpty, "a sole cookie of ours left a Cookie field behind")
    }
    let viaString = SessionCookies.soleValue(of: header, named: "cloakroom_session").map(String.init)
    let viaBytes = header.utf8.withContiguousStorageIfAvailable { SessionCookies.soleValue(in: UnsafeRawBufferPointer($0), named: "cloakroom_session") } ?? nil
    require(viaString == viaBytes.map { String(decoding: Array(header.utf8)[$0], as: UTF8.self) }, "soleValue disagrees with itself")
}

FuzzDriver.main(testOneInput)
