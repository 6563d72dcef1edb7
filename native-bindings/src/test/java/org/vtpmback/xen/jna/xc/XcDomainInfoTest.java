package org.vtpmback.xen.jna.xc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The layout JNA computes must equal the x86-64 offsets of xc_domaininfo_t in Xen 4.17. */
class XcDomainInfoTest {
    @Test
    void sizeIs112() {
        assertEquals(112, new XcDomainInfo().size());
        assertEquals(XcDomainInfo.SIZE, 112);
    }

    @Test
    void offsetsMatchTheCompiledHeaders() {
        var s = new XcDomainInfo();
        String[] fields = {"domain", "flags", "tot_pages", "max_pages", "outstanding_pages", "shr_pages",
            "paged_pages", "shared_info_frame", "cpu_time", "nr_online_vcpus", "max_vcpu_id", "ssidref",
            "handle", "cpupool", "gpaddr_bits", "pad2", "emulation_flags", "misc_flags"};
        int[] offsets = {0, 4, 8, 16, 24, 32, 40, 48, 56, 64, 68, 72, 76, 92, 96, 97, 104, 108};
        for (int i = 0; i < fields.length; i++) {
            assertEquals(offsets[i], s.offsetOf(fields[i]), fields[i]);
        }
    }
}
