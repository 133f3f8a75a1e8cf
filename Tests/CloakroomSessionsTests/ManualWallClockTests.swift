import CloakroomSessions
import Foundation
import Testing

@Suite struct ManualWallClockTests {
    @Test func movesOnlyWhenTold() {
        let clock = ManualWallClock()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(clock.now() == start)
        #expect(clock.now() == start)
        clock.advance(by: .seconds(90))
        #expect(clock.now() == start.addingTimeInterval(90))
        clock.advance(by: .milliseconds(250))
        #expect(clock.now() == start.addingTimeInterval(90.25))
        clock.set(start)
        #expect(clock.now() == start)
    }

    @Test func startsWhereAsked() {
        let start = Date(timeIntervalSince1970: 42)
        #expect(ManualWallClock(start).now() == start)
    }

    @Test func advancesFromManyTasksAddUp() async {
        let clock = ManualWallClock()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<100 { group.addTask { clock.advance(by: .seconds(1)) } }
        }
        #expect(clock.now() == Date(timeIntervalSince1970: 1_800_000_100))
    }
}
