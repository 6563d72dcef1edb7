package org.vtpmback.backend.instance;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.vtpmback.backend.state.Uuid;

/**
 * At most one live device per vTPM uuid. During a local migration the destination device connects
 * while the source still holds the instance; it waits here (bounded) until the source has saved and
 * released it, instead of racing it for swtpm's state-folder lock.
 */
public final class InstanceLeases {
    private final Map<Uuid, String> holders = new HashMap<>();

    /**
     * Takes the lease on {@code uuid} for {@code holder}, waiting up to {@code timeout} for the current
     * holder to release it.
     *
     * @throws InstanceException naming both holders if the wait times out
     */
    public synchronized void acquire(Uuid uuid, String holder, Duration timeout) throws InterruptedException {
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
    }

    public synchronized void release(Uuid uuid, String holder) {
        if (holder.equals(holders.get(uuid))) {
            holders.remove(uuid);
            notifyAll();
        }
    }

}
