/// The table's intrusive doubly linked lists: the LRU list and one list per subject, threaded
/// through the slots by index so they cost no allocation per session.
extension MemorySessionTable {
    mutating func linkAtLRUHead(_ slot: Int32) {
        let i = Int(slot)
        records[i].lruPrev = Self.none
        records[i].lruNext = lruHead
        if lruHead != Self.none { records[Int(lruHead)].lruPrev = slot } else { lruTail = slot }
        lruHead = slot
    }

    mutating func unlinkFromLRU(_ slot: Int32) {
        let i = Int(slot)
        let prev = records[i].lruPrev
        let next = records[i].lruNext
        if prev != Self.none { records[Int(prev)].lruNext = next } else { lruHead = next }
        if next != Self.none { records[Int(next)].lruPrev = prev } else { lruTail = prev }
        records[i].lruPrev = Self.none
        records[i].lruNext = Self.none
    }

    mutating func unlinkFromSubject(_ slot: Int32) {
        let i = Int(slot)
        let prev = records[i].subjectPrev
        let next = records[i].subjectNext
        if prev != Self.none { records[Int(prev)].subjectNext = next }
        if next != Self.none { records[Int(next)].subjectPrev = prev }
        if prev == Self.none && next == Self.none {
            subjects.removeValue(forKey: records[i].subject)
        } else if prev == Self.none || next == Self.none {
            let subject = records[i].subject
            var list = subjects[subject]!
            if prev == Self.none { list.oldest = next }
            if next == Self.none { list.newest = prev }
            subjects[subject] = list
        }
        records[i].subjectPrev = Self.none
        records[i].subjectNext = Self.none
    }
}
