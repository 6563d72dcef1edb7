package org.vtpmback.test.device;

import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.vtpmback.test.host.Guest;
import org.vtpmback.test.host.SimulatedVtpmHost;

/**
 * Finds a vTPM's swtpm process: SwtpmLauncher runs {@code swtpm socket ... --tpmstate
 * dir=<work>/run/instances/<uuid>,mode=0600 ...}, so the uuid's runtime folder is on its command line.
 */
public final class SwtpmProcesses {
    private SwtpmProcesses() {
    }

    public static List<ProcessHandle> all(SimulatedVtpmHost host, String uuid) {
        String marker = "dir=" + host.work().resolve("run/instances").resolve(uuid) + ",";
        return ProcessHandle.allProcesses().filter(ProcessHandle::isAlive)
                .filter(p -> p.info().commandLine().map(c -> c.contains("swtpm") && c.contains(marker)).orElse(false))
                .toList();
    }

    /** The one live swtpm of {@code uuid}; fails if there is none or more than one. */
    public static ProcessHandle of(SimulatedVtpmHost host, String uuid) {
        List<ProcessHandle> found = all(host, uuid);
        if (found.size() != 1) {
            throw new AssertionError("expected one swtpm for vTPM " + uuid + ", found " + found);
        }
        return found.get(0);
    }

    static Set<Long> pidsOf(SimulatedVtpmHost host, List<Guest> guests) {
        return guests.stream().map(g -> of(host, g.uuid()).pid()).collect(Collectors.toSet());
    }
}
