package org.vtpmback.test.bench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
    private final SimulatedVtpmHost host;
    private final List<Guest> guests;

    private RelayGuests(SimulatedVtpmHost host, List<Guest> guests) {
        this.host = host;
        this.guests = guests;
    }

    static RelayGuests boot(Path xenstoredSocket, Path simDir, Path work, int count) throws Exception {
        SimulatedVtpmHost host = new SimulatedVtpmHost(xenstoredSocket, work, simDir);
        try {
            return new RelayGuests(host, host.bootMany(count));
        } catch (Exception e) {
            host.close();
            throw e;
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
