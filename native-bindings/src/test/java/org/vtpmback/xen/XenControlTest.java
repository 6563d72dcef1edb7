package org.vtpmback.xen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyInt;
import static org.mockito.ArgumentMatchers.eq;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.times;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;
import static org.vtpmback.xen.NativeMocks.EACCES;
import static org.vtpmback.xen.NativeMocks.failWith;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mockito.stubbing.Answer;
import org.vtpmback.xen.jna.xc.XcInterface;
import org.vtpmback.xen.jna.xc.XenCtrlLib;

class XenControlTest {
    private static final UUID UUID_7 = UUID.fromString("0b5f5a3e-1c2d-4e6f-8a9b-0c1d2e3f4a5b");

    private final XenCtrlLib lib = mock(XenCtrlLib.class);
    private final XcInterface handle = new XcInterface(new Memory(8));
    private XenControl xc;

    @BeforeEach
    void open() {
        when(lib.xc_interface_open(null, null, 0)).thenReturn(handle);
        xc = XenControl.open(lib);
    }

    /**
     * Fills the caller's buffer by hand at the x86-64 offsets of the reference (section 4.4), not
     * through the Structure, so a wrong field layout shows up as wrong values.
     */
    private static Answer<Integer> fills(int domain, int flags, UUID uuid, long totPages, long cpuTime, int vcpus) {
        return i -> {
            Pointer p = i.getArgument(3);
            p.setMemory(0, 112, (byte) 0x5a); // garbage in the fields we do not read
            p.setShort(0, (short) domain);
            p.setInt(4, flags);
            p.setLong(8, totPages);
            p.setLong(56, cpuTime);
            p.setInt(64, vcpus);
            java.nio.ByteBuffer u = java.nio.ByteBuffer.allocate(16);
            u.putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits());
            p.write(76, u.array(), 0, 16);
            return 1;
        };
    }

    @Test
    void decodesHandFilledRecordWithSuspendShutdown() {
        int flags = (2 << 16) | DomainInfo.SHUTDOWN | DomainInfo.HVM_GUEST | DomainInfo.PAUSED;
        when(lib.xc_domain_getinfolist(eq(handle), eq(7), eq(1), any()))
                .thenAnswer(fills(7, flags, UUID_7, 262_144L, 123_456_789_012L, 2));
        DomainInfo d = xc.domainInfo(7).orElseThrow();
        assertEquals(new DomainInfo(7, flags, UUID_7, 262_144L, 123_456_789_012L, 2), d);
        assertTrue(d.shutdown());
        assertTrue(d.hvm());
        assertTrue(d.paused());
        assertFalse(d.dying());
        assertFalse(d.running());
        assertEquals(OptionalInt.of(2), d.shutdownCode());
        assertEquals(ShutdownReason.SUSPEND, d.shutdownReason());
    }

    @Test
    void domainIdAbove32767IsReadUnsigned() {
        when(lib.xc_domain_getinfolist(eq(handle), eq(0x7FEF), eq(1), any()))
                .thenAnswer(fills(0x7FEF, DomainInfo.RUNNING, UUID_7, 1, 1, 1));
        assertEquals(0x7FEF, xc.domainInfo(0x7FEF).orElseThrow().domid());
    }

    @Test
    void nextDomainIsNotTheOneAskedFor() {
        when(lib.xc_domain_getinfolist(eq(handle), eq(7), eq(1), any()))
                .thenAnswer(fills(9, DomainInfo.RUNNING, UUID_7, 1, 1, 1));
        assertEquals(Optional.empty(), xc.domainInfo(7));
    }

    @Test
    void noDomainAtOrAboveIsEmpty() {
        when(lib.xc_domain_getinfolist(eq(handle), eq(7), eq(1), any())).thenReturn(0);
        assertEquals(Optional.empty(), xc.domainInfo(7));
    }

    @Test
    void getinfolistFailureNamesDomid() {
        when(lib.xc_domain_getinfolist(eq(handle), eq(7), eq(1), any())).thenAnswer(failWith(EACCES, -1));
        var e = assertThrows(XenErrnoException.class, () -> xc.domainInfo(7));
        assertEquals("xc_domain_getinfolist(domid 7) failed: EACCES (Permission denied)", e.getMessage());
    }

    @Test
    void openFailureNamesCallAndErrno() {
        XenCtrlLib failing = mock(XenCtrlLib.class);
        when(failing.xc_interface_open(null, null, 0)).thenAnswer(failWith(EACCES, null));
        var e = assertThrows(XenErrnoException.class, () -> XenControl.open(failing));
        assertEquals("xc_interface_open(/dev/xen/privcmd) failed: EACCES (Permission denied)", e.getMessage());
    }

    @Test
    @Timeout(10)
    void closeFromTwoThreadsClosesOnce() throws InterruptedException {
        NativeMocks.onTwoThreads(xc::close);
        xc.close();
        verify(lib, times(1)).xc_interface_close(handle);
    }

    @Test
    void useAfterCloseThrowsWithoutCallingC() {
        xc.close();
        assertThrows(IllegalStateException.class, () -> xc.domainInfo(7));
        verify(lib, never()).xc_domain_getinfolist(any(), anyInt(), anyInt(), any());
    }
}
