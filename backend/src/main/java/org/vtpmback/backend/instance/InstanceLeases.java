package org.vtpmback.backend.instance;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.vtpmback.backend.state.Uuid;

/**
 * At most one live device per vTPM uuid. During a local migration the destination device connects
 * while the source still holds the instance; it waits here (bounded) until the source has saved and
 * released it, instead of racing it for swtpm's state-folder lock. Thread-safe.
 */
public final class InstanceLeases {
    private final Map<Uuid, String> holders = new HashMap<>();

    /** A held lease: closing it lets the next holder in. Idempotent. */
    public final class Lease implements AutoCloseable {
        private final Uuid uuid;
        private final String holder;

        private Lease(Uuid uuid, String holder) {
            this.uuid = uuid;
            this.holder = holder;
        }

        @Override
        public void close() {
            release(uuid, holder);
        }
    }

    /**
     * Takes the lease on {@code uuid} for {@code holder}, waiting up to {@code timeout} for the current
     * holder to release it.
     *
     * @throws InstanceException naming both holders if the wait times out
     */
    public synchronized Lease acquire(Uuid uuid, String holder, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (holders.containsKey(uuid)) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new InstanceException("vTPM " + uuid + " is still in use by " + holders.get(uuid) + " after "
                        + timeout.toSeconds() + " s; " + holder + " cannot take it over (is the source of a migration stuck?)");
            }
            wait(Math.max(1, left / 1_000_000));
        }
        holders.put(uuid, holder);
        return new Lease(uuid, holder);
    }

    /** Takes the lease on {@code uuid} for {@code holder} only if nobody holds it now; never waits. */
    public synchronized Optional<Lease> tryAcquire(Uuid uuid, String holder) {
        if (holders.containsKey(uuid)) {
            return Optional.empty();
        }
        holders.put(uuid, holder);
        return Optional.of(new Lease(uuid, holder));
    }

    private synchronized void release(Uuid uuid, String holder) {
        if (holder.equals(holders.get(uuid))) {
            holders.remove(uuid);
            notifyAll();
        }
    }
}
