package org.vtpmback.test.host;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A daemon stop leaves its guests' swtpm processes running for the next daemon to take over. A test
 * that is done with a daemon for good ends them, as a host shutdown would, so none outlives the test.
 */
public final class LeftoverSwtpm {
    private LeftoverSwtpm() {
    }

    /** The live swtpm processes working in a folder under {@code instancesDir} ({@code --tpmstate dir=<instancesDir>/...}). */
    public static List<ProcessHandle> under(Path instancesDir) {
        String marker = "dir=" + instancesDir + "/";
        return ProcessHandle.allProcesses().filter(ProcessHandle::isAlive)
                .filter(p -> p.info().commandLine().map(c -> c.contains("swtpm") && c.contains(marker)).orElse(false))
                .toList();
    }

    /** SIGKILLs them and waits until they are gone. */
    public static void kill(Path instancesDir) {
        for (ProcessHandle p : under(instancesDir)) {
            p.destroyForcibly();
            try {
                p.onExit().get(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (Exception e) {
                // gone or not ours to wait for: nothing more a cleanup can do
            }
        }
    }
}
