package org.vtpmback.backend.state;

import java.nio.file.Path;

/**
 * Child process for {@link CrashDuringSaveTest}: saves generation after generation as fast as it can
 * and prints each committed generation, until it is killed with SIGKILL.
 */
public final class SaveLoop {
    private SaveLoop() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Uuid uuid = new Uuid(args[1]);
        long start = Long.parseLong(args[2]);
        InstanceStore store = new InstanceStore(dir.resolve("instances"), MasterKey.loadOrCreate(dir.resolve("master.key"), dir.resolve("instances")));
        System.out.println("ready");
        System.out.flush();
        for (long g = start; ; g++) {
            store.save(InstanceStoreTest.record(uuid, g, 6000 + (int) (g % 4000)));
            System.out.println(g);
            System.out.flush();
        }
    }
}
