package org.vtpmback.test.faults.guest;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** A case that did not run must never read as PASS, in its own line or in the suite's total. */
class CaseLineTest {
    @Test
    void skippedCaseIsReportedSkippedNotPass() {
        CaseLine line = new CaseLine("enospc").skip("no-tmpfs-for-state-dir(needs-root)");
        assertTrue(line.line().endsWith("result=SKIPPED"), line.line());
        assertTrue(line.skipped());
        assertTrue(line.passed(), "a skipped case does not fail the run");
    }

    @Test
    void violationInASkippedCaseStillFails() {
        CaseLine line = new CaseLine("enospc").skip("no-tmpfs");
        line.count("crashes", 1, 0);
        assertTrue(line.line().endsWith("result=FAIL"), line.line());
        assertFalse(line.skipped());
    }

    @Test
    void totalCountsSkippedApartAndFailsOnlyOnFailures() {
        CaseLine ran = new CaseLine("pages");
        CaseLine skipped = new CaseLine("enospc").skip("no-tmpfs");
        String total = GuestFaults.total(List.of(ran, skipped), 1, "short", 3);
        assertTrue(total.contains(" cases=2 failed=0 skipped=1 "), total);
        assertTrue(total.endsWith("result=PASS"), total);

        CaseLine failed = new CaseLine("swtpm");
        failed.violation("crash");
        String bad = GuestFaults.total(List.of(ran, skipped, failed), 1, "short", 3);
        assertTrue(bad.contains(" cases=3 failed=1 skipped=1 "), bad);
        assertTrue(bad.endsWith("result=FAIL"), bad);
    }
}
