// The identity assertion signer alone: how many tokens per second one core signs (ES256 with
// jwt-kit, a payload like the proxy's), for bench/assertion/run. Not part of the proxy.
// Usage: AssertionSignRate [seconds]
import CloakroomJOSE
import Foundation

let seconds = CommandLine.arguments.dropFirst().first.flatMap(Double.init) ?? 3
let signer = AssertionSigner(keys: [AssertionKey.generate()])
try await signer.prepare()
let payload = Array(
    #"{"aud":"api","email":"alice@example.com","exp":1800000120,"iat":1800000000,"iss":"cloakroom","roles":["reader","writer"],"sid":"tYG0w0AAomhRTvVi","sub":"alice"}"#
        .utf8)
var count = 0
var length = 0
let start = Date()
while Date().timeIntervalSince(start) < seconds {
    for _ in 0..<100 { length &+= try signer.sign(payload: payload).utf8.count }
    count += 100
}
let elapsed = Date().timeIntervalSince(start)
print(String(format: "signer alone: %d tokens in %.2f s = %.0f tokens/s (%.1f µs each, one thread; %d bytes per token)",
    count, elapsed, Double(count) / elapsed, elapsed * 1e6 / Double(count), length / count))
