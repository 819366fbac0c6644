import Foundation
import HostCore
import Testing

@Suite struct ProgressBarTests {
    @Test func timeLeftComesFromThisRunsRateNotFromZero() {
        // A run resumed at step 20,000 of 30,000 that then takes 100 s for 100 steps has 9,900 s to go; a rate
        // measured from step 0 would say 49 s.
        let start = Date(timeIntervalSinceReferenceDate: 0)
        let bar = ProgressBar("pretrain", total: 30_000, start: start)
        #expect(bar.line(20_000, at: start).hasSuffix("20000/30000 0:00 eta --:-- "))
        #expect(
            bar.line(20_100, status: "loss 0.03", at: start + 100).hasSuffix("20100/30000 1:40 eta 2:45:00 loss 0.03"))
        #expect(bar.line(30_000, at: start + 200).contains("[########################] 30000/30000 3:20 eta 0:00"))
    }

    @Test func aFreshRunIsMeasuredFromItsFirstUpdate() {
        let start = Date(timeIntervalSinceReferenceDate: 0)
        let bar = ProgressBar("samples", total: 50, start: start)
        #expect(bar.line(0, at: start).contains("[........................] 0/50 0:00 eta --:--"))
        #expect(bar.line(25, at: start + 10).contains("[############............] 25/50 0:10 eta 0:10"))
    }
}
