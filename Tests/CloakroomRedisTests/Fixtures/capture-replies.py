#!/usr/bin/env python3
"""Captures real replies from a redis-server, byte for byte, as the Swift fixtures in
../CapturedReplies.swift. Not part of the build; run it again to refresh them:

    redis-server --port 6399 --save "" --appendonly no --enable-debug-command yes &
    python3 capture-replies.py 6399 > ../CapturedReplies.swift

Each command is sent on a raw socket and everything the server writes back until it falls
silent is recorded, so the fixtures are exactly what crosses the wire (no client decoded them).
"""
import socket
import sys
import time

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 6399


def encode(*args):
    out = b"*%d\r\n" % len(args)
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        out += b"$%d\r\n%s\r\n" % (len(arg), arg)
    return out


def exchange(sock, *args, quiet=0.15):
    sock.sendall(encode(*args))
    return drain(sock, quiet)


def drain(sock, quiet=0.15):
    data = b""
    sock.settimeout(quiet)
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data
        if not chunk:
            return data
        data += chunk


def connect():
    return socket.create_connection(("127.0.0.1", PORT))


def swift_literal(data):
    if any(byte >= 0x80 for byte in data):
        # A string literal would re-encode these as UTF-8; spell the bytes out instead.
        return "[" + ", ".join("0x%02X" % byte for byte in data) + "]"
    parts = []
    for byte in data:
        if byte == 0x0D:
            parts.append("\\r")
        elif byte == 0x0A:
            parts.append("\\n")
        elif byte == 0x22:
            parts.append('\\"')
        elif byte == 0x5C:
            parts.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            parts.append(chr(byte))
        else:
            parts.append("\\u{%02X}" % byte)
    return '"' + "".join(parts) + '"'


fixtures = []


def record(name, comment, data):
    assert data, name
    fixtures.append((name, comment, data))


def main():
    for protocol in (2, 3):
        s = connect()
        p = "resp%d" % protocol
        hello = exchange(s, "HELLO", protocol)
        if protocol == 3:
            record("resp3Hello", "HELLO 3: a map", hello)
        exchange(s, "FLUSHALL")
        record(p + "SimpleString", "PING", exchange(s, "PING"))
        record(p + "Error", "an unknown command", exchange(s, "NOSUCHCOMMAND", "x"))
        record(p + "Integer", "INCRBY counter -42 on a fresh key", exchange(s, "INCRBY", "counter", "-42"))
        record(p + "Bulk", "GET of a value holding CRLF and a NUL byte",
               (exchange(s, "SET", "k", b"a\r\nb\x00c"), exchange(s, "GET", "k"))[1])
        record(p + "UTF8Bulk", "GET of a value holding UTF-8 text",
               (exchange(s, "SET", "u", "\u00fc\U0001F600".encode()), exchange(s, "GET", "u"))[1])
        record(p + "EmptyBulk", "GET of an empty value", (exchange(s, "SET", "e", ""), exchange(s, "GET", "e"))[1])
        record(p + "NullBulk", "GET of a missing key", exchange(s, "GET", "missing"))
        exchange(s, "HSET", "h", "a", "1", "c", "3")
        record(p + "HMGet", "HMGET h a b c: an array with a null in it", exchange(s, "HMGET", "h", "a", "b", "c"))
        record(p + "EmptyArray", "LRANGE of a missing list", exchange(s, "LRANGE", "nolist", "0", "-1"))
        record(p + "NestedScriptReply", "EVAL returning nested tables, a number and false",
               exchange(s, "EVAL", "return {1, {'two', {3}}, false, 'end'}", "0"))
        record(p + "ScriptFalse", "EVAL returning false", exchange(s, "EVAL", "return false", "0"))
        record(p + "NoScript", "EVALSHA of an unknown script",
               exchange(s, "EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"))
        exchange(s, "ZADD", "z", "1.5", "m")
        record(p + "ZScore", "ZSCORE: a bulk string in RESP2, a double in RESP3", exchange(s, "ZSCORE", "z", "m"))
        exchange(s, "SADD", "set", "x")
        record(p + "SMembers", "SMEMBERS: an array in RESP2, a set in RESP3", exchange(s, "SMEMBERS", "set"))
        record(p + "HGetAll", "HGETALL: an array in RESP2, a map in RESP3", exchange(s, "HGETALL", "h"))
        record(p + "Scan", "SCAN 0 MATCH k* COUNT 100", exchange(s, "SCAN", "0", "MATCH", "k*", "COUNT", "100"))
        if protocol == 3:
            for kind in ("double", "bignum", "null", "true", "false", "verbatim", "attrib", "push", "map", "set"):
                record("resp3Debug" + kind.capitalize(), "DEBUG PROTOCOL " + kind, exchange(s, "DEBUG", "PROTOCOL", kind))
        # Several commands written at once: the replies come back in one read, in order.
        s.sendall(encode("PING") + encode("GET", "missing") + encode("INCR", "counter"))
        record(p + "Pipelined", "PING, GET missing, INCR counter written at once", drain(s))
        s.close()

        # Pub/sub on a connection of its own.
        sub = connect()
        exchange(sub, "HELLO", protocol)
        record(p + "Subscribe", "SUBSCRIBE cloakroom:endings", exchange(sub, "SUBSCRIBE", "cloakroom:endings"))
        pub = connect()
        exchange(pub, "PUBLISH", "cloakroom:endings", "u:alice")
        record(p + "Message", "a message published on the channel", drain(sub))
        pub.close()
        sub.close()

    # Authentication failures, with an ACL user.
    s = connect()
    exchange(s, "ACL", "SETUSER", "capture", "on", ">right", "~*", "+@all")
    record("wrongPassword", "AUTH capture wrong", exchange(s, "AUTH", "capture", "wrong"))
    record("helloWrongPassword", "HELLO 3 AUTH capture wrong", exchange(s, "HELLO", "3", "AUTH", "capture", "wrong"))
    exchange(s, "ACL", "DELUSER", "capture")
    s.close()

    print("// Generated by Fixtures/capture-replies.py from redis-server " + server_version() + ".")
    print("// Real bytes as they crossed the wire; do not edit by hand.")
    print()
    print("/// Replies captured from a real redis-server, one reply (or a few, where noted) each.")
    print("enum CapturedReplies {")
    for name, comment, data in fixtures:
        print("    /// %s" % comment)
        literal = swift_literal(data)
        if literal.startswith("["):
            print("    static let %s: [UInt8] = %s" % (name, literal))
        else:
            print("    static let %s = Array(%s.utf8)" % (name, literal))
    print("}")


def server_version():
    s = connect()
    info = exchange(s, "INFO", "server").decode()
    s.close()
    for line in info.splitlines():
        if line.startswith("redis_version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
