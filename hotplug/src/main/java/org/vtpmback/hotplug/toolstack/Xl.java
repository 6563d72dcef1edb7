package org.vtpmback.hotplug.toolstack;

import java.io.IOException;
import java.util.List;

/**
 * The {@code xl} toolstack command, behind an interface so tests can stand in for it (a fake
 * {@code xl} script on PATH, or an in-process double).
 */
public interface Xl {
    /**
     * What one {@code xl} run printed.
     *
     * @param command the command line, for messages
     */
    record Result(String command, int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }

        /** stderr and stdout, trimmed, for error messages. */
        public String output() {
            String both = (stderr.strip() + "\n" + stdout.strip()).strip();
            return both.isEmpty() ? "(no output)" : both;
        }
    }

    /** Runs {@code xl <args>} and waits for it. */
    Result run(List<String> args) throws IOException, InterruptedException;
}
