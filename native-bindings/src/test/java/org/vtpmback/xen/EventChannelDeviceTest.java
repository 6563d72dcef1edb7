package org.vtpmback.xen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyInt;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.times;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;
import static org.vtpmback.xen.NativeMocks.EACCES;
import static org.vtpmback.xen.NativeMocks.EAGAIN;
import static org.vtpmback.xen.NativeMocks.EINVAL;
import static org.vtpmback.xen.NativeMocks.ESRCH;
import static org.vtpmback.xen.NativeMocks.failWith;

import com.sun.jna.Memory;
import java.time.Duration;
import java.util.OptionalInt;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.xen.jna.evtchn.EvtchnLib;
import org.vtpmback.xen.jna.evtchn.XenEvtchnHandle;

class EventChannelDeviceTest {
    private final EvtchnLib lib = mock(EvtchnLib.class);
    private final XenEvtchnHandle handle = new XenEvtchnHandle(new Memory(8));
    private EventChannelDevice dev;

    @BeforeEach
    void open() {
        when(lib.xenevtchn_open(null, 0)).thenReturn(handle);
        dev = EventChannelDevice.open(lib);
    }

    @Test
    void openFailureNamesCallAndErrno() {
        EvtchnLib failing = mock(EvtchnLib.class);
        when(failing.xenevtchn_open(null, 0)).thenAnswer(failWith(EACCES, null));
        var e = assertThrows(XenErrnoException.class, () -> EventChannelDevice.open(failing));
        assertEquals("xenevtchn_open(/dev/xen/evtchn) failed: EACCES (Permission denied)", e.getMessage());
    }

    @Test
    void bindInterdomainReturnsLocalPort() {
        when(lib.xenevtchn_bind_interdomain(handle, 7, 3)).thenReturn(41);
        assertEquals(41, dev.bindInterdomain(7, 3));
    }

    @Test
    void bindInterdomainFailureNamesDomidAndRemotePort() {
        when(lib.xenevtchn_bind_interdomain(handle, 7, 3)).thenAnswer(failWith(ESRCH, -1));
        var e = assertThrows(XenErrnoException.class, () -> dev.bindInterdomain(7, 3));
        assertEquals("xenevtchn_bind_interdomain(domid 7 remote port 3) failed: ESRCH (No such process)",
                e.getMessage());
    }

    @Test
    void portCallFailuresNameThePort() {
        when(lib.xenevtchn_notify(handle, 12)).thenAnswer(failWith(EINVAL, -1));
        when(lib.xenevtchn_unmask(handle, 12)).thenAnswer(failWith(EINVAL, -1));
        when(lib.xenevtchn_unbind(handle, 12)).thenAnswer(failWith(EINVAL, -1));
        assertEquals("xenevtchn_notify(port 12) failed: EINVAL (Invalid argument)",
                assertThrows(XenErrnoException.class, () -> dev.notify(12)).getMessage());
        assertEquals("xenevtchn_unmask(port 12) failed: EINVAL (Invalid argument)",
                assertThrows(XenErrnoException.class, () -> dev.unmask(12)).getMessage());
        assertEquals("xenevtchn_unbind(port 12) failed: EINVAL (Invalid argument)",
                assertThrows(XenErrnoException.class, () -> dev.unbind(12)).getMessage());
    }

    @Test
    void pendingWithEagainIsEmpty() {
        when(lib.xenevtchn_pending(handle)).thenAnswer(failWith(EAGAIN, -1));
        assertEquals(OptionalInt.empty(), dev.pending());
    }

    @Test
    void pendingReturnsPortOrThrowsOnOtherErrors() {
        when(lib.xenevtchn_pending(handle)).thenReturn(41).thenAnswer(failWith(EINVAL, -1));
        assertEquals(OptionalInt.of(41), dev.pending());
        var e = assertThrows(XenErrnoException.class, dev::pending);
        assertEquals("xenevtchn_pending(evtchn handle) failed: EINVAL (Invalid argument)", e.getMessage());
    }

    @Test
    void successfulCallsPassArgumentsThrough() {
        dev.notify(5);
        dev.unmask(5);
        dev.unbind(5);
        when(lib.xenevtchn_bind_unbound_port(handle, 9)).thenReturn(6);
        assertEquals(6, dev.bindUnboundPort(9));
        verify(lib).xenevtchn_notify(handle, 5);
        verify(lib).xenevtchn_unmask(handle, 5);
        verify(lib).xenevtchn_unbind(handle, 5);
    }

    @Test
    @Timeout(10)
    void closeFromTwoThreadsClosesOnce() throws InterruptedException {
        NativeMocks.onTwoThreads(dev::close);
        dev.close();
        verify(lib, times(1)).xenevtchn_close(handle);
    }

    @Test
    void useAfterCloseThrowsWithoutCallingC() {
        dev.close();
        assertThrows(IllegalStateException.class, () -> dev.notify(5));
        assertThrows(IllegalStateException.class, () -> dev.bindInterdomain(7, 3));
        assertThrows(IllegalStateException.class, dev::pending);
        assertThrows(IllegalStateException.class, () -> dev.awaitEvent(Duration.ZERO));
        verify(lib, never()).xenevtchn_notify(any(), anyInt());
        verify(lib, never()).xenevtchn_pending(any());
        verify(lib, never()).xenevtchn_fd(any());
    }

    @Test
    void awaitEventPollsTheHandlesFd() {
        // fd 0 (stdin of the forked test JVM) is a valid fd; poll must run on it and return either way.
        when(lib.xenevtchn_fd(handle)).thenReturn(0);
        dev.awaitEvent(Duration.ZERO);
        verify(lib).xenevtchn_fd(handle);
        when(lib.xenevtchn_fd(handle)).thenAnswer(failWith(EINVAL, -1));
        var e = assertThrows(XenErrnoException.class, () -> dev.awaitEvent(Duration.ZERO));
        assertTrue(e.getMessage().startsWith("xenevtchn_fd("), e.getMessage());
    }
}
