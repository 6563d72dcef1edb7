package org.vtpmback.backend.xen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.inOrder;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.timeout;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import java.time.Duration;
import java.util.OptionalInt;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mockito.InOrder;
import org.vtpmback.xen.EventChannelDevice;
import org.vtpmback.xen.XenException;

@Timeout(30)
class XenAdaptersTest {
    @Test
    void openingOnAHostWithoutXenFailsClearly() {
        // This machine has no /dev/xen: the adapters must say which device or library is missing.
        XenException g = assertThrows(XenException.class, XenGrantMapper::open);
        assertTrue(g.getMessage().contains("xengnttab_open") || g.getMessage().contains("libxengnttab"), g.getMessage());
        XenException e = assertThrows(XenException.class, XenEventChannels::open);
        assertTrue(e.getMessage().contains("xenevtchn_open") || e.getMessage().contains("libxenevtchn"), e.getMessage());
    }

    @Test
    void deliversPendingPortToItsHandlerThenUnmasks() throws Exception {
        // The evtchn device is hardware we cannot have here: fake only that seam.
        EventChannelDevice dev = mock(EventChannelDevice.class);
        when(dev.bindInterdomain(7, 8)).thenReturn(42);
        CountDownLatch bound = new CountDownLatch(1);
        when(dev.awaitEvent(any(Duration.class))).thenAnswer(i -> {
            bound.await();
            Thread.sleep(5); // keep the reader from spinning in the test
            return true;
        });
        when(dev.pending()).thenReturn(OptionalInt.of(42), OptionalInt.empty());
        XenEventChannels channels = new XenEventChannels(dev);
        CountDownLatch handled = new CountDownLatch(1);
        BoundPort port = channels.bind(7, 8, p -> {
            assertEquals(42, p.localPort());
            handled.countDown();
        });
        bound.countDown();
        assertTrue(handled.await(10, TimeUnit.SECONDS));
        verify(dev, timeout(5000)).unmask(42);
        InOrder order = inOrder(dev);
        order.verify(dev).bindInterdomain(7, 8);
        order.verify(dev).unmask(42);
        port.notifyRemote();
        verify(dev).notify(42);
        port.close();
        port.close();
        verify(dev).unbind(42);
        assertThrows(IllegalStateException.class, port::notifyRemote);
        channels.close();
        verify(dev).close();
    }

    @Test
    void aPendingPortNobodyKnowsYetIsUnmaskedNotLeftMasked() throws Exception {
        // Xen marks a freshly bound interdomain port pending at once; an event seen before the port is
        // registered must not leave it masked for good (seen on real Xen under QEMU).
        EventChannelDevice dev = mock(EventChannelDevice.class);
        when(dev.awaitEvent(any(Duration.class))).thenAnswer(i -> {
            Thread.sleep(5);
            return true;
        });
        when(dev.pending()).thenReturn(OptionalInt.of(99), OptionalInt.empty());
        XenEventChannels channels = new XenEventChannels(dev);
        try {
            verify(dev, timeout(5000)).unmask(99);
        } finally {
            channels.close();
        }
    }
}
