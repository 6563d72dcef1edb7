package org.vtpmback.backend.state;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Child process for {@link CheckpointCrashTest}: the daemon's store (it recovers what the last child's crash left in
 * the commit log), then one thread per vTPM checkpointing generation after generation as fast as it can, printing
 * {@code <uuid> <generation>} once each is durable, until it is killed with SIGKILL.
 */
public final class CheckpointLoop {
    private CheckpointLoop() {
    }

    static Uuid uuid(int i) {
        return new Uuid(String.format("%08x-c0de-4000-8000-000000000000", i));
    }

    /** The record of generation {@code g}: sizes vary, so a mix-up of two generations shows. */
    static InstanceRecord record(Uuid u, long g) {
        return InstanceStoreTest.record(u, g, 3000 + (int) (g % 9000));
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int vtpms = Integer.parseInt(args[1]);
        InstanceStore store = new InstanceStore(dir.resolve("instances"), MasterKey.load(dir.resolve("master.key")));
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < vtpms; i++) {
            Uuid u = uuid(i);
            long start = store.load(u).map(InstanceRecord::generation).orElse(0L);
            if (start == 0) {
                store.save(record(u, 1));
                start = 1;
            }
            long first = start + 1;
            threads.add(new Thread(() -> {
                try {
                    for (long g = first; ; g++) {
                        store.checkpoint(record(u, g));
                        synchronized (System.out) {
                            System.out.println(u + " " + g);
                            System.out.flush();
                        }
                    }
                } catch (Exception e) {
                    e.printStackTrace();
                    System.exit(3);
                }
            }, "checkpoints-" + i));
        }
        System.out.println("ready");
        System.out.flush();
        threads.forEach(Thread::start);
        for (Thread t : threads) {
            t.join();
        }
    }
}
