import Foundation
import FuzzSupport
import HostCore
import HostGraft
import HostModel
import HostPlugins

/// Graft plan reader: every input parses or throws a `GraftError` naming the file; a plan that parsed places
/// its grafts on models of every depth from 1 to 12 or says why not, again naming the file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGraftPlan(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = "fuzz-plan.json"
    let plan: GraftPlan
    do {
        plan = try GraftPlan.parse(fuzzData(start, count), source: path)
    } catch {
        fuzzRequireNames(error, path)
        return 0
    }
    for depth in 1...12 {
        do {
            let assignments = try plan.assignments(depth: depth, source: path)
            fuzzRequire(
                assignments.keys.allSatisfy { $0.block >= 0 && $0.block < depth }, "a slot outside depth \(depth)")
        } catch {
            fuzzRequireNames(error, path)
        }
    }
    return 0
}

runFuzzer(fuzzGraftPlan)
