package org.vtpmback.test.bench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;

/**
 * The relay side: guests booted against a vtpmback daemon running in another process (host =
 * simulated, as {@code scripts/demo.sh} runs it), each with its own vTPM uuid, hence its own swtpm in
 * the daemon. A client is the Linux frontend emulator's {@code /dev/tpm0} write and read: the
 * command goes onto the shared page, the event channel notifies the daemon, the answer comes back the
 * same way. The caller closes it (frontends close; the daemon keeps running).
 */
final class RelayGuests implements AutoCloseable {
    /** Like ManyGuestsTest: a few boots at once, each manufactures its vTPM in the daemon. */
    private static final int PARALLEL_BOOTS = 4;
    private static final long BOOT_TIMEOUT_SECONDS = 300;

    private final SimulatedVtpmHost host;
    private final List<Guest> guests;

    private RelayGuests(SimulatedVtpmHost host, List<Guest> guests) {
        this.host = host;
        this.guests = guests;
    }

    static RelayGuests boot(Path xenstoredSocket, Path simDir, Path work, int count) throws Exception {
        SimulatedVtpmHost host = new SimulatedVtpmHost(xenstoredSocket, work, simDir);
        ExecutorService boots = Executors.newFixedThreadPool(PARALLEL_BOOTS);
        try {
            List<Future<Guest>> booting = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                booting.add(boots.submit(() -> host.boot(UUID.randomUUID().toString())));
            }
            List<Guest> guests = new ArrayList<>();
            for (Future<Guest> f : booting) {
                guests.add(f.get(BOOT_TIMEOUT_SECONDS, TimeUnit.SECONDS));
            }
            return new RelayGuests(host, guests);
        } catch (Exception e) {
            host.close();
            throw e;
        } finally {
            boots.shutdownNow();
        }
    }

    Guest guest(int i) {
        return guests.get(i);
    }

    TpmClient client(int i) {
        return guests.get(i)::transmit;
    }

    List<TpmClient> clients(int count) {
        List<TpmClient> clients = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            clients.add(client(i));
        }
        return clients;
    }

    @Override
    public void close() throws Exception {
        host.close();
    }
}
