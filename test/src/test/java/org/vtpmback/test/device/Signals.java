package org.vtpmback.test.device;

import java.io.IOException;

/** Sends a signal to a process ({@code kill -<name> <pid>}): STOP hangs a swtpm, CONT resumes it, KILL ends it. */
public final class Signals {
    private Signals() {
    }

    public static void send(String signal, ProcessHandle process) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).inheritIO().start();
        if (kill.waitFor() != 0) {
            throw new IllegalStateException("kill -" + signal + " " + process.pid() + " exited " + kill.exitValue());
        }
    }
}
