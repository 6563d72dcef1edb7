package org.vtpmback.xen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyInt;
import static org.mockito.ArgumentMatchers.eq;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.times;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;
import static org.vtpmback.xen.NativeMocks.EACCES;
import static org.vtpmback.xen.NativeMocks.EINVAL;
import static org.vtpmback.xen.NativeMocks.failWith;

import com.sun.jna.Memory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.xen.jna.gnttab.GntTabLib;
import org.vtpmback.xen.jna.gnttab.XenGntTabHandle;

class GrantTableTest {
    private final GntTabLib lib = mock(GntTabLib.class);
    private final XenGntTabHandle handle = new XenGntTabHandle(new Memory(8));
    private GrantTable table;

    @BeforeEach
    void open() {
        when(lib.xengnttab_open(null, 0)).thenReturn(handle);
        table = GrantTable.open(lib);
    }

    @Test
    void openFailureNamesCallAndErrno() {
        GntTabLib failing = mock(GntTabLib.class);
        when(failing.xengnttab_open(null, 0)).thenAnswer(failWith(EACCES, null));
        var e = assertThrows(XenErrnoException.class, () -> GrantTable.open(failing));
        assertEquals("xengnttab_open(/dev/xen/gntdev) failed: EACCES (Permission denied)", e.getMessage());
    }

    @Test
    void mapFailureNamesDomidRefAndErrno() {
        when(lib.xengnttab_map_grant_ref(handle, 7, 8, 3)).thenAnswer(failWith(EACCES, null));
        var e = assertThrows(XenErrnoException.class, () -> table.map(7, 8, true));
        assertEquals("xengnttab_map_grant_ref(domid 7 ref 8) failed: EACCES (Permission denied)", e.getMessage());
        assertEquals("xengnttab_map_grant_ref", e.call());
        assertEquals(Errno.EACCES, e.errno());
    }

    @Test
    void mapPassesProtAndExposesTheSameMemoryInNativeOrder() {
        Memory page = new Memory(GrantTable.PAGE_SIZE);
        page.clear();
        when(lib.xengnttab_map_grant_ref(handle, 7, 8, GntTabLib.PROT_READ)).thenReturn(page);
        try (GrantMapping m = table.map(7, 8, false)) {
            ByteBuffer b = m.buffer();
            assertEquals(GrantTable.PAGE_SIZE, b.capacity());
            assertEquals(ByteOrder.nativeOrder(), b.order());
            b.putInt(4, 0x01020304);
            assertEquals(0x01020304, page.getInt(4)); // same memory, same byte order as C
            page.setInt(0, 42);
            assertEquals(42, m.buffer().getInt(0)); // a fresh view sees guest writes
            assertEquals(1, m.pageCount());
        }
    }

    @Test
    void closingMappingUnmapsOnceWithItsPageCount() {
        Memory area = new Memory(2L * GrantTable.PAGE_SIZE);
        when(lib.xengnttab_map_domain_grant_refs(eq(handle), eq(2), eq(7), any(int[].class), eq(3))).thenReturn(area);
        GrantMapping m = table.mapDomainRefs(7, new int[] {8, 9}, true);
        assertEquals(2, m.pageCount());
        assertEquals(2 * GrantTable.PAGE_SIZE, m.buffer().capacity());
        m.close();
        m.close();
        verify(lib, times(1)).xengnttab_unmap(handle, area, 2);
        assertThrows(IllegalStateException.class, m::buffer);
        table.close(); // nothing left to unmap
        verify(lib, times(1)).xengnttab_unmap(any(), any(), anyInt());
    }

    @Test
    void multiMapFailureNamesAllRefs() {
        when(lib.xengnttab_map_domain_grant_refs(eq(handle), eq(2), eq(5), any(int[].class), eq(1)))
                .thenAnswer(failWith(EINVAL, null));
        var e = assertThrows(XenErrnoException.class, () -> table.mapDomainRefs(5, new int[] {10, 11}, false));
        assertEquals("xengnttab_map_domain_grant_refs(domid 5 refs [10, 11]) failed: EINVAL (Invalid argument)",
                e.getMessage());
    }

    @Test
    void unmapFailureIsReportedOnce() {
        Memory page = new Memory(GrantTable.PAGE_SIZE);
        when(lib.xengnttab_map_grant_ref(handle, 3, 4, 3)).thenReturn(page);
        when(lib.xengnttab_unmap(handle, page, 1)).thenAnswer(failWith(EINVAL, -1));
        GrantMapping m = table.map(3, 4, true);
        var e = assertThrows(XenErrnoException.class, m::close);
        assertEquals("xengnttab_unmap(domid 3 ref 4) failed: EINVAL (Invalid argument)", e.getMessage());
        m.close(); // the mapping is closed anyway: no second attempt
        verify(lib, times(1)).xengnttab_unmap(any(), any(), anyInt());
    }

    @Test
    void closingTableUnmapsOpenMappingsBeforeFreeingHandle() {
        Memory page = new Memory(GrantTable.PAGE_SIZE);
        when(lib.xengnttab_map_grant_ref(handle, 7, 8, 3)).thenReturn(page);
        GrantMapping m = table.map(7, 8, true);
        table.close();
        var order = org.mockito.Mockito.inOrder(lib);
        order.verify(lib).xengnttab_unmap(handle, page, 1);
        order.verify(lib).xengnttab_close(handle);
        m.close(); // must not touch the freed handle
        verify(lib, times(1)).xengnttab_unmap(any(), any(), anyInt());
        assertThrows(IllegalStateException.class, m::buffer);
    }

    @Test
    @Timeout(10)
    void closeFromTwoThreadsClosesOnce() throws InterruptedException {
        NativeMocks.onTwoThreads(table::close);
        table.close();
        verify(lib, times(1)).xengnttab_close(handle);
    }

    @Test
    void useAfterCloseThrowsWithoutCallingC() {
        table.close();
        assertThrows(IllegalStateException.class, () -> table.map(7, 8, true));
        assertThrows(IllegalStateException.class, () -> table.mapDomainRefs(7, new int[] {8}, true));
        assertThrows(IllegalStateException.class, table::fd);
        assertThrows(IllegalStateException.class, () -> table.setMaxGrants(8));
        verify(lib, never()).xengnttab_map_grant_ref(any(), anyInt(), anyInt(), anyInt());
        verify(lib, never()).xengnttab_fd(any());
    }

    @Test
    void setMaxGrantsAndFd() {
        when(lib.xengnttab_set_max_grants(handle, 64)).thenAnswer(failWith(EINVAL, -1));
        when(lib.xengnttab_fd(handle)).thenReturn(17);
        var e = assertThrows(XenErrnoException.class, () -> table.setMaxGrants(64));
        assertEquals("xengnttab_set_max_grants(max grants 64) failed: EINVAL (Invalid argument)", e.getMessage());
        assertEquals(17, table.fd());
    }

    @Test
    void rejectsBadArgumentsBeforeCallingC() {
        assertThrows(IllegalArgumentException.class, () -> table.map(-1, 8, true));
        assertThrows(IllegalArgumentException.class, () -> table.map(0x7FF0, 8, true)); // DOMID_SELF
        assertThrows(IllegalArgumentException.class, () -> table.map(7, -1, true));
        assertThrows(IllegalArgumentException.class, () -> table.mapDomainRefs(7, new int[0], true));
        verify(lib, never()).xengnttab_map_grant_ref(any(), anyInt(), anyInt(), anyInt());
    }

    @Test
    void refsArrayIsCopiedBeforeTheCall() {
        Memory area = new Memory(GrantTable.PAGE_SIZE);
        int[] refs = {8};
        when(lib.xengnttab_map_domain_grant_refs(eq(handle), eq(1), eq(7), any(int[].class), eq(3))).thenReturn(area);
        table.mapDomainRefs(7, refs, true);
        var captor = org.mockito.ArgumentCaptor.forClass(int[].class);
        verify(lib).xengnttab_map_domain_grant_refs(eq(handle), eq(1), eq(7), captor.capture(), eq(3));
        assertEquals(8, captor.getValue()[0]);
        assertNotSame(refs, captor.getValue());
    }
}
