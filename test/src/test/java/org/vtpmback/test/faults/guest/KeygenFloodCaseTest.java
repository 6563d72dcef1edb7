package org.vtpmback.test.faults.guest;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The flood's heap check: bounded growth passes, growth fails, and a heap it could not read fails with why. */
class KeygenFloodCaseTest {
    @Test
    void heapNotReadFailsWithTheReason() {
        CaseLine line = new CaseLine("keygen-flood");
        KeygenFloodCase.heapCheck(line, -1, -1, 0, "no JMX connection to daemon pid 7 (attach API: x)");
        assertFalse(line.passed(), line.line());
        assertTrue(line.line().contains("live_heap_bounded=not-measured"), line.line());
        assertTrue(line.violations().get(0).contains("no JMX connection to daemon pid 7"), line.violations().toString());
    }

    @Test
    void noSampleDuringTheFloodFails() {
        CaseLine line = new CaseLine("keygen-flood");
        KeygenFloodCase.heapCheck(line, 40, -1, 0, "no sample during the flood: daemon pid 7 exited");
        assertFalse(line.passed(), line.line());
    }

    @Test
    void boundedGrowthPassesAndGrowthFails() {
        CaseLine ok = new CaseLine("keygen-flood");
        KeygenFloodCase.heapCheck(ok, 40, 40 + KeygenFloodCase.MAX_LIVE_HEAP_GROWTH_MB, 3, null);
        assertTrue(ok.passed(), ok.line());
        CaseLine grown = new CaseLine("keygen-flood");
        KeygenFloodCase.heapCheck(grown, 40, 41 + KeygenFloodCase.MAX_LIVE_HEAP_GROWTH_MB, 3, null);
        assertFalse(grown.passed(), grown.line());
    }
}
