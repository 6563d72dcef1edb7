package org.vtpmback.test.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * A folder whose writes are synchronous ({@code chattr +S}: ext4 and a few others honour it; new files and folders
 * in it inherit it), for the raw-durable reference of the NV_Write cases: swtpm 0.7.1 never syncs its permall file
 * (open, write, close, rename), so raw swtpm in such a folder is what its own writes cost once each is on the disk
 * before the next command (the write in O_SYNC fashion, the rename with the folder's metadata). The flag is a file
 * attribute, not a sync per call, so it is an upper bound of sorts: ext4 commits the journal for each synchronous
 * operation, where one fdatasync per state change would be the least a durable swtpm needs.
 */
final class DurableFolder {
    private DurableFolder() {
    }

    /**
     * Makes {@code dir} synchronous and checks it took; empty if so, else why not (no chattr, a file system without
     * the flag such as tmpfs, no permission), so that the caller skips the reference and says why.
     */
    static Optional<String> makeSynchronous(Path dir) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Optional<String> failed = run(List.of("chattr", "+S", dir.toString()));
        if (failed.isPresent()) {
            return failed;
        }
        return isSynchronous(dir) ? Optional.empty() : Optional.of("lsattr -d " + dir + " does not show the S flag after chattr +S");
    }

    /** Whether {@code dir} carries the synchronous-updates flag (lsattr's 'S'). */
    static boolean isSynchronous(Path dir) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("lsattr", "-d", dir.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        return p.waitFor() == 0 && out.split("\\s+")[0].contains("S");
    }

    private static Optional<String> run(List<String> command) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            return Optional.of(String.join(" ", command) + " could not run: " + e.getMessage());
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        int rc = p.waitFor();
        return rc == 0 ? Optional.empty() : Optional.of(String.join(" ", command) + " failed (exit " + rc + "): " + out);
    }
}
