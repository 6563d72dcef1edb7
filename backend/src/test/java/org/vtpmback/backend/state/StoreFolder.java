package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.UnaryOperator;

/**
 * One store folder and its master key, as the commit-log tests open it: the daemon's store (which owns the commit
 * log) and a second process's ({@code vtpmback} commands) over the same folder.
 */
final class StoreFolder {
    /** No background fold during a test: entries stay in the log unless a test or a close folds them. */
    static final Duration NEVER = Duration.ofDays(1);

    final Path instances;
    final MasterKey key;

    StoreFolder(Path dir) throws IOException {
        this.instances = dir.resolve("instances");
        this.key = MasterKey.create(dir.resolve("master.key"));
    }

    /** The daemon's store, never folding in the background. */
    InstanceStore daemon() throws IOException {
        return daemon(NEVER, UnaryOperator.identity());
    }

    /** The daemon's store, folding every {@code foldInterval}, its log channels passed through {@code logChannels}. */
    InstanceStore daemon(Duration foldInterval, UnaryOperator<FileChannel> logChannels) throws IOException {
        return new InstanceStore(instances, key, foldInterval, logChannels);
    }

    /** The store as a second process opens it while the daemon may run. */
    InstanceStore otherProcess() throws IOException {
        return InstanceStore.shared(instances, key);
    }
}
