package org.vtpmback.backend.engine;

import java.io.IOException;
import java.nio.file.Path;

/** Waiting for a swtpm just started to accept on one of its sockets. Stateless. */
final class SwtpmAccept {
    private static final long CONNECT_POLL_MS = 2;

    private SwtpmAccept() {
    }

    interface Connector<T> {
        T connect(Path socket) throws IOException;
    }

    /**
     * Retries until swtpm accepts on {@code socket} (the file appears at bind(), before listen(), so
     * its existence alone proves nothing); fails early if the process exits.
     */
    static <T> T await(String name, SwtpmProcess process, Path socket, long deadline, Connector<T> connector)
            throws IOException {
        while (true) {
            try {
                return connector.connect(socket);
            } catch (IOException e) {
                if (!process.isAlive()) {
                    throw new IOException("swtpm exited before accepting on " + socket, e);
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new IOException("swtpm[" + name + "] did not accept on " + socket + " in time", e);
                }
            }
            try {
                Thread.sleep(CONNECT_POLL_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted waiting for " + socket, e);
            }
        }
    }
}
