import CloakroomLogin
import Testing

@Suite struct LoginFormTests {
    func parse(_ body: String, _ contentType: String?) -> LoginForm? {
        LoginForm.parse(body: Array(body.utf8), contentType: contentType)
    }

    @Test func readsAFormBody() {
        #expect(parse("username=alice&password=p%40ss+word%21&next=%2Fapp%3Fx%3D1", "application/x-www-form-urlencoded")
            == LoginForm(username: "alice", password: "p@ss word!", next: "/app?x=1"))
        #expect(parse("next=&password=pw&username=al%C3%AFce&extra=1", "Application/X-WWW-Form-Urlencoded; charset=UTF-8")
            == LoginForm(username: "alïce", password: "pw", next: nil))
        #expect(parse("username=alice&password=a%3Db%26c", "application/x-www-form-urlencoded")?.password == "a=b&c")
    }

    @Test func readsAJSONBody() {
        #expect(parse(#"{"username":"alice","password":"pw","next":"/app"}"#, "application/json")
            == LoginForm(username: "alice", password: "pw", next: "/app"))
        #expect(parse(#"{"password":"p\"w","username":"alice","next":null,"remember":true}"#, "application/json; charset=utf-8")
            == LoginForm(username: "alice", password: "p\"w", next: nil))
        #expect(parse(#"{"username":"alice","password":"pw"}"#, "application/vnd.login+json")?.username == "alice")
    }

    @Test(arguments: [
        ("username=alice&password=pw", nil),
        ("username=alice&password=pw", "text/plain"),
        ("username=alice&password=pw", "multipart/form-data; boundary=x"),
        ("username=alice&password=pw", "application/x-www-form-urlencoded; charset=latin1"),
        ("username=alice", "application/x-www-form-urlencoded"),
        ("username=&password=pw", "application/x-www-form-urlencoded"),
        ("username=alice&password=", "application/x-www-form-urlencoded"),
        ("username=alice&password=%zz", "application/x-www-form-urlencoded"),
        ("username=alice&password=%4", "application/x-www-form-urlencoded"),
        ("username=alice&password=%FF", "application/x-www-form-urlencoded"),
        ("username=alice&username=root&password=pw", "application/x-www-form-urlencoded"),
        (#"{"username":"alice"}"#, "application/json"),
        (#"{"username":"alice","password":7}"#, "application/json"),
        (#"{"username":"alice","password":"pw","next":["/"]}"#, "application/json"),
        (#"["alice","pw"]"#, "application/json"),
        (#"{"username":"alice","password":"pw""#, "application/json"),
        ("garbage", "application/json"),
        ("", "application/json"),
    ] as [(String, String?)])
    func rejectsAnythingElse(_ body: String, _ contentType: String?) {
        #expect(parse(body, contentType) == nil)
    }

    @Test func rejectsOversizedBodies() {
        let padding = String(repeating: "x", count: LoginForm.maximumBodySize)
        #expect(parse("username=alice&password=pw&pad=\(padding)", "application/x-www-form-urlencoded") == nil)
        #expect(LoginForm.parse(body: [0xFF, 0xFE], contentType: "application/json") == nil)
    }
}
